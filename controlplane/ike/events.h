// Callbacks from the IKE engine to the rest of the control plane (L2TP
// tunnels bound to an SA are torn down on delete / dead peer).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "sa_sink.h"
#include "transport.h"

namespace vpn::ike {

struct ChildSaInfo {
  uint64_t ike_sa = 0;         // our cookie of the IKE SA that negotiated it
  Endpoint local;
  Endpoint remote;             // the client's public address and port
  std::string peer_id;         // phase 1 identity, printable
  uint32_t inbound_spi = 0;    // host order
  uint32_t outbound_spi = 0;
  std::string suite;           // e.g. "aes128-sha1"
  bool udp_encap = false;
  // The client's own (pre-NAT) address from IDci or NAT-OA, network order.
  std::optional<uint32_t> peer_inner_ip;
};

class Events {
 public:
  virtual ~Events() = default;
  virtual void OnIkeSaEstablished(uint64_t /*ike_sa*/, const Endpoint& /*remote*/,
                                  const std::string& /*peer_id*/) {}
  // Responder, Quick Mode message 2 sent: the new inbound SA (table index)
  // accepts traffic; its outbound half follows with OnChildSaInstalled, or
  // OnChildSaAborted removes it. During a rekey the session must accept both
  // the old and this inbound SA (SessionRecord::inbound_sa_alt).
  virtual void OnChildSaInbound(uint32_t /*inbound_index*/, const ChildSaInfo& /*info*/) {}
  virtual void OnChildSaAborted(uint32_t /*inbound_index*/) {}
  virtual void OnChildSaInstalled(const cp::ChildSaHandle& /*h*/, const ChildSaInfo& /*info*/) {}
  virtual void OnChildSaDeleted(const cp::ChildSaHandle& /*h*/) {}
  // Phase 1 rekey: the pair now belongs to IKE SA `new_ike_sa` (deleting the
  // old IKE SA no longer affects it).
  virtual void OnChildSaMoved(const cp::ChildSaHandle& /*h*/, uint64_t /*new_ike_sa*/) {}
  virtual void OnIkeSaDeleted(uint64_t /*ike_sa*/) {}
  virtual void OnPeerDead(uint64_t /*ike_sa*/, const Endpoint& /*remote*/) {}
};

}  // namespace vpn::ike

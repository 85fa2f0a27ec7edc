// The seam between an L2TP session (controlplane/l2tp) and the PPP session that
// runs over it (controlplane/ppp). Frames start at the two-byte PPP protocol
// field: the L2TP side strips/decompresses FF03 and a compressed protocol
// field before handing a frame up, and adds FF03 when sending.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace vpn::cp {

// Implemented by the L2TP session, used by PPP.
class PppLink {
 public:
  virtual ~PppLink() = default;
  virtual void SendPppFrame(std::span<const uint8_t> frame) = 0;
  // PPP is finished (LCP closed, auth failed, timeout): tear the L2TP session
  // down with a CDN carrying this reason.
  virtual void ClosePppLink(std::string_view reason) = 0;
};

// Implemented by the PPP session, used by L2TP.
class PppEndpoint {
 public:
  virtual ~PppEndpoint() = default;
  virtual void OnPppFrame(std::span<const uint8_t> frame) = 0;
  // The L2TP session went away (CDN, StopCCN, tunnel or IPsec loss); release
  // everything (pool address, dataplane session). No frames may be sent.
  virtual void OnLinkDown(std::string_view reason) = 0;
};

// What the L2TP side knows about a session when it asks for a PPP endpoint.
struct L2tpSessionInfo {
  uint16_t local_tunnel_id = 0, local_session_id = 0;
  uint16_t peer_tunnel_id = 0, peer_session_id = 0;
  uint32_t inbound_sa = 0xFFFFFFFFu;   // SA index the tunnel is bound to
  uint32_t peer_ip = 0;                // network order, outer
  uint16_t peer_port = 0;              // network order, outer UDP (L2TP) port
  bool sequencing = false;
  std::string peer_hostname;           // from SCCRQ Host Name AVP
};

}  // namespace vpn::cp

// State of one IKE (ISAKMP) SA, its Quick Mode exchanges in flight and the
// ESP SA pairs it negotiated. Plain data: the exchange classes drive it.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "crypto.h"
#include "keys.h"
#include "payloads.h"
#include "proposal.h"
#include "protection.h"
#include "sa_sink.h"
#include "timer_queue.h"
#include "transport.h"

namespace vpn::ike {

// Which NAT-T dialect the peers agreed on by vendor ID (RFC 3947 4).
enum class NatT : uint8_t { kNone, kDraft, kRfc3947 };

enum class SaState : uint8_t {
  // Main Mode, initiator side.
  kMmI1Sent,      // SA sent, waiting for the responder's SA
  kMmI3Sent,      // KE/Ni sent
  kMmI5Sent,      // IDii/HASH_I sent
  // Main Mode, responder side.
  kMmR2Sent,      // SA chosen, waiting for KE/Ni
  kMmR4Sent,      // KE/Nr sent, waiting for IDii/HASH_I
  // Aggressive Mode (only with ike.allow_aggressive).
  kAmI1Sent,      // SA/KE/Ni/IDii sent
  kAmR2Sent,      // SA/KE/Nr/IDir/HASH_R sent, waiting for HASH_I
  kEstablished,
};
std::string_view SaStateName(SaState s);

struct ChildSa {
  cp::ChildSaHandle handle;
  uint32_t inbound_spi = 0;   // host order, ours
  uint32_t outbound_spi = 0;  // host order, the peer's
  EspSuite suite;
  bool udp_encap = false;
  uint64_t lifetime_s = 0;
  uint64_t lifetime_kb = 0;
  absl::Time installed_at;
  cp::TimerQueue::TimerId expiry_timer = 0;
  cp::TimerQueue::TimerId rekey_timer = 0;  // initiator only
  bool rekey_started = false;                // initiator: replacement QM begun
  std::optional<uint32_t> peer_inner_ip;
};

// One Quick Mode exchange (RFC 2409 5.5) in flight.
struct QuickMode {
  uint32_t message_id = 0;
  bool initiator = false;
  Bytes iv;                     // CBC chain of this exchange
  Bytes ni, nr;                 // nonce bodies
  std::unique_ptr<DiffieHellman> dh;  // PFS
  Bytes gxy;                    // PFS shared secret
  EspSuite suite;
  uint16_t encap_mode = encap::kTransport;
  LifetimeDecision life;
  uint32_t inbound_spi = 0;     // ours, from SaSink::AllocateInboundSpi
  // Responder: the inbound SA made live when message 2 left
  // (SaSink::InstallInbound); its outbound half waits for message 3.
  uint32_t inbound_index = shm::kInvalidIndex;
  uint32_t outbound_spi = 0;    // the peer's
  uint8_t proposal_number = 1;
  bool commit = false;
  std::optional<IdPayload> idci, idcr;
  std::optional<uint32_t> peer_inner_ip;
  uint32_t replaces_inbound_spi = 0;  // initiator rekey: old SA to delete after
  Bytes last_sent;
  int retransmits = 0;
  cp::TimerQueue::TimerId timer = 0;
  cp::TimerQueue::TimerId retransmit_timer = 0;  // responder: resend QM2
  bool udp_encap() const {
    return encap_mode == encap::kUdpTransport || encap_mode == encap::kUdpTransportDraft;
  }
};

struct IkeSa {
  uint64_t icookie = 0;
  uint64_t rcookie = 0;
  bool initiator = false;
  SaState state = SaState::kMmR2Sent;
  Endpoint local;
  Endpoint remote;
  absl::Time created;
  absl::Time established_at;

  // Negotiated in messages 1/2.
  IkeSuite suite;
  Bytes sai_b;                  // initiator's SA payload body (RFC 2409 5)
  uint8_t proposal_number = 1;
  uint64_t lifetime_s = 0;
  bool send_responder_lifetime = false;
  LifetimeDecision life_decision;

  // Vendor IDs / NAT-T.
  NatT nat_t = NatT::kNone;
  bool peer_dpd = false;
  bool peer_ms = false;
  bool peer_frag = false;       // FRAGMENTATION VID, or it sent us fragments
  uint16_t next_fragment_id = 1;
  bool peer_behind_nat = false;
  bool local_behind_nat = false;

  // Messages 3/4 and keys.
  std::unique_ptr<DiffieHellman> dh;
  Bytes gxi, gxr, ni, nr, gxy;
  Phase1Keys keys;
  CipherState cipher;
  Bytes iv;                     // phase 1 CBC chain
  Bytes last_p1_block;          // for phase 2 IVs (RFC 2409 Appendix B)
  std::optional<IdPayload> peer_id;
  std::string psk_source;       // which configured key (or certificate) authenticated the peer
  bool peer_certreq = false;    // RSA signatures: the peer asked for our CERT
  bool peer_initial_contact = false;
  // A phase 1 rekey replaced this SA: its children moved to the successor,
  // which also takes over DPD and NAT keepalives.
  bool superseded = false;

  // Retransmission (RFC 2408 / common practice): digest of each request we
  // answered and our answer, so a duplicate gets the same answer again.
  std::deque<std::pair<Bytes, Bytes>> answered;
  Bytes last_request;           // initiator: our outstanding MM request
  int retransmits = 0;

  // Quick Modes in flight and completed message IDs (replay protection).
  std::map<uint32_t, std::unique_ptr<QuickMode>> quick_modes;
  std::deque<uint32_t> finished_message_ids;
  std::vector<ChildSa> children;

  // DPD (RFC 3706).
  uint32_t dpd_seq_out = 0;
  uint32_t dpd_outstanding_seq = 0;
  absl::Time last_heard;
  absl::Time dpd_probe_started;
  bool dpd_in_flight = false;

  cp::TimerQueue::TimerId half_open_timer = 0;
  cp::TimerQueue::TimerId lifetime_timer = 0;
  cp::TimerQueue::TimerId dpd_timer = 0;
  cp::TimerQueue::TimerId retransmit_timer = 0;
  cp::TimerQueue::TimerId keepalive_timer = 0;  // RFC 3948 4, when we are behind NAT

  // Our cookie: the IKE SA's identity in events, the CLI and ChildSaInstall.
  uint64_t id() const { return initiator ? icookie : rcookie; }
  bool established() const { return state == SaState::kEstablished; }
  std::string PeerName() const;
  // Identity for INITIAL-CONTACT and phase 1 rekey: address, port and ID.
  std::string IdentityKey() const;
};

}  // namespace vpn::ike

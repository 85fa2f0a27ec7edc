// Named L2TP control-plane counters (one list, X-macro), shown by the
// operator CLI and asserted by tests. Every drop of bad input lands in one.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace vpn::l2tp {

#define VPN_L2TP_COUNTERS(X)                                                   \
  X(rx_control, "control messages received (ZLBs included)")                   \
  X(rx_zlb, "ZLB acknowledgements received")                                  \
  X(tx_control, "control messages sent (first transmissions)")                 \
  X(tx_zlb, "ZLB acknowledgements sent")                                       \
  X(retransmits, "control messages retransmitted (RFC 2661 5.8)")              \
  X(drop_bad_header, "dropped: L2TP header invalid")                           \
  X(drop_bad_avp_framing, "dropped: AVP lengths do not tile the message")      \
  X(drop_no_message_type, "dropped: first AVP is not a Message Type")          \
  X(drop_cleartext, "dropped: L2TP without IPsec while cleartext is refused")  \
  X(drop_binding_mismatch, "dropped: not the SA of the peer's tunnel")        \
  X(drop_unknown_tunnel, "dropped: no such local tunnel id for that peer")    \
  X(drop_unknown_session, "dropped: no such session in the tunnel")            \
  X(drop_not_sccrq, "dropped: tunnel id 0 on a message other than SCCRQ")      \
  X(drop_duplicate, "duplicate control message (re-acknowledged)")            \
  X(drop_out_of_window, "dropped: Ns beyond our receive window")               \
  X(drop_bad_nr, "dropped: Nr acknowledges messages never sent")              \
  X(drop_closing, "dropped: message for a tunnel being torn down")            \
  X(queued_out_of_order, "control messages queued until the gap fills")        \
  X(ignored_avps, "unknown/unusable AVPs without M bit ignored (4.1)")         \
  X(ignored_messages, "unknown message types without M bit ignored")         \
  X(unknown_mandatory, "teardowns for an unknown/unusable M-bit AVP or type")  \
  X(missing_avp, "teardowns for a missing required AVP")                       \
  X(fsm_errors, "messages invalid in the tunnel or session state")             \
  X(tunnels_created, "tunnels created (SCCRQ accepted / opened)")              \
  X(tunnels_established, "tunnels reaching established")                       \
  X(tunnels_closed, "tunnels removed")                                         \
  X(tunnel_timeouts, "tunnels torn down: retransmissions exhausted")           \
  X(tunnels_refused, "SCCRQs refused with StopCCN")                           \
  X(tunnels_refused_limit, "SCCRQs refused: tunnels per client limit")         \
  X(tunnels_refused_capacity, "SCCRQs refused: tunnel limit or ids exhausted")  \
  X(auth_failures, "tunnel authentication failures (4.4.3)")                  \
  X(sessions_created, "sessions created (ICRQ accepted / opened)")             \
  X(sessions_established, "sessions reaching established")                     \
  X(sessions_closed, "sessions removed")                                       \
  X(sessions_refused_limit, "ICRQs refused: sessions per tunnel limit")        \
  X(sessions_refused_capacity, "ICRQs refused: session limit or ids exhausted") \
  X(sessions_refused, "incoming/outgoing calls refused with CDN")              \
  X(setup_timeouts, "tunnels or sessions that never finished setting up")      \
  X(hellos_sent, "HELLO keepalives sent")                                      \
  X(stopccn_sent, "StopCCN sent")                                              \
  X(stopccn_received, "StopCCN received")                                      \
  X(cdn_sent, "CDN sent")                                                      \
  X(cdn_received, "CDN received")                                              \
  X(wen_received, "WAN-Error-Notify received")                                 \
  X(sli_received, "Set-Link-Info received")                                    \
  X(sa_teardowns, "tunnels torn down because their IPsec SA went away")       \
  X(sa_rebinds, "tunnels moved to a rekeyed IPsec SA")                         \
  X(no_ppp_endpoint, "sessions closed: PPP endpoint factory refused")          \
  X(rx_data, "data messages delivered to PPP")                                 \
  X(rx_data_bytes, "PPP octets delivered")                                     \
  X(tx_data, "data messages sent")                                             \
  X(tx_data_bytes, "PPP octets sent")                                          \
  X(drop_data_bad, "dropped: data message or PPP frame malformed")             \
  X(drop_data_not_up, "dropped: data for a session not established")          \
  X(drop_data_out_of_order, "dropped: sequenced data older than expected")

enum class Counter : uint16_t {
#define VPN_L2TP_ENUM(name, help) k_##name,
  VPN_L2TP_COUNTERS(VPN_L2TP_ENUM)
#undef VPN_L2TP_ENUM
      kCount
};

struct Counters {
  uint64_t v[static_cast<int>(Counter::kCount)] = {};

  void Inc(Counter c, uint64_t n = 1) { v[static_cast<int>(c)] += n; }
  uint64_t operator[](Counter c) const { return v[static_cast<int>(c)]; }
  // By name ("drop_binding_mismatch"); 0 for an unknown name.
  uint64_t Get(std::string_view name) const;
  // (name, value) for every counter, in list order.
  std::vector<std::pair<std::string_view, uint64_t>> Named() const;
  static std::string_view Help(Counter c);
};

}  // namespace vpn::l2tp

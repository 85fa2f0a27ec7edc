// Engine counters (exposed to the operator CLI / telemetry). Every refusal
// and drop increments exactly one of these.
#pragma once

#include <cstdint>

namespace vpn::ike {

#define VPN_IKE_COUNTERS(X)                                                     \
  X(rx_datagrams, "IKE datagrams received")                                     \
  X(tx_datagrams, "IKE datagrams sent")                                         \
  X(rx_malformed, "dropped: header or payload chain did not parse")             \
  X(rx_bad_version, "dropped: ISAKMP major version is not 1")                   \
  X(rx_invalid_cookie, "refused: no IKE SA for these cookies (INVALID-COOKIE)")  \
  X(rx_unexpected, "dropped: message not valid in the SA's state")              \
  X(rx_decrypt_failed, "dropped: ciphertext not a whole number of blocks / bad") \
  X(rx_invalid_message_id, "dropped: reused or zero message ID")                \
  X(duplicates_retransmitted, "duplicate request answered with our last reply") \
  X(half_open_limit_source, "refused: per-source half-open IKE SA limit")       \
  X(half_open_limit_total, "refused: global half-open IKE SA limit")            \
  X(half_open_timeouts, "half-open IKE SA timed out")                           \
  X(no_proposal_chosen, "refused: no acceptable phase 1 proposal")              \
  X(qm_no_proposal_chosen, "refused: no acceptable Quick Mode proposal")        \
  X(payload_malformed, "refused: PAYLOAD-MALFORMED")                            \
  X(invalid_key_info, "refused: bad KE payload (INVALID-KEY-INFORMATION)")      \
  X(auth_failed, "refused: phase 1 HASH_I / SIG_I did not verify")              \
  X(auth_method_refused, "refused: PSK/certificate not allowed for this peer")  \
  X(cert_unavailable, "refused: no CERT from the peer (CERTIFICATE-UNAVAILABLE)") \
  X(cert_invalid, "refused: peer certificate unparsable or chain invalid")      \
  X(cert_untrusted, "refused: peer certificate not from our CA (INVALID-CERT-AUTHORITY)") \
  X(cert_expired, "refused: peer certificate expired or not yet valid")         \
  X(cert_bad_usage, "refused: peer certificate EKU/keyUsage not acceptable")    \
  X(cert_id_mismatch, "refused: ID payload does not name the peer certificate") \
  X(invalid_hash, "dropped: bad HASH in Quick Mode / Informational")            \
  X(invalid_id, "refused: Quick Mode IDs not UDP/1701 transport")               \
  X(aggressive_refused, "refused: Aggressive Mode not allowed")                 \
  X(unsupported_exchange, "refused: exchange type not supported")               \
  X(ike_sa_established, "IKE SAs established")                                  \
  X(ike_sa_deleted, "IKE SAs deleted")                                          \
  X(ike_sa_expired, "IKE SAs expired (lifetime)")                               \
  X(child_sa_installed, "ESP SA pairs installed")                               \
  X(child_sa_deleted, "ESP SA pairs removed")                                   \
  X(child_sa_expired, "ESP SA pairs expired (lifetime)")                        \
  X(child_sa_install_failed, "SaSink refused an install")                       \
  X(child_sa_inbound_installed, "inbound ESP SAs made live with Quick Mode 2")  \
  X(child_sa_inbound_aborted, "inbound ESP SAs removed: Quick Mode 3 never came") \
  X(child_sa_moved, "ESP SA pairs moved to a new IKE SA (phase 1 rekey)")       \
  X(spi_alloc_failed, "SaSink had no inbound SPI")                              \
  X(dpd_sent, "R-U-THERE sent")                                                 \
  X(dpd_acks_received, "R-U-THERE-ACK received")                                \
  X(dpd_received, "R-U-THERE received (answered)")                              \
  X(dpd_dead, "peers declared dead")                                            \
  X(initial_contact_cleared, "IKE SAs cleared by INITIAL-CONTACT")              \
  X(notifies_sent, "notifications sent")                                        \
  X(notifies_received, "notifications received")                                \
  X(deletes_sent, "DELETE payloads sent")                                       \
  X(deletes_received, "DELETE payloads received")                               \
  X(retransmits, "timer retransmissions (initiator MM/QM, responder QM2)")     \
  X(exchange_timeouts, "exchanges given up after retransmissions")              \
  X(nat_detected, "IKE SAs with a NAT between the peers")                       \
  X(nat_keepalives_sent, "RFC 3948 NAT-keepalives sent (we are behind a NAT)")   \
  X(fragments_received, "IKE fragments (payload 132) received")                 \
  X(fragments_dropped, "dropped: malformed / over-limit / inconsistent fragment") \
  X(fragments_reassembled, "messages reassembled from IKE fragments")           \
  X(fragments_sent, "IKE fragments sent (peer announced FRAGMENTATION)")

struct Counters {
#define X(name, help) uint64_t name = 0;
  VPN_IKE_COUNTERS(X)
#undef X
};

}  // namespace vpn::ike

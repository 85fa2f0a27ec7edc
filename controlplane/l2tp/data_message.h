// L2TP data messages (RFC 2661 section 3.1 with T=0) carrying PPP frames, and
// the PPP framing normalisation both directions need. Inside the control
// plane a PPP frame starts at its two-byte protocol field (ppp_link.h).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace vpn::l2tp {

// Header with the PEER's tunnel and session ids (L bit set; S bit and Ns when
// the session is sequenced, Nr = 0 as section 3.1 reserves it for data), then
// FF 03 and `frame`.
std::vector<uint8_t> BuildDataMessage(uint16_t peer_tunnel_id,
                                      uint16_t peer_session_id,
                                      std::optional<uint16_t> ns,
                                      std::span<const uint8_t> frame);

// Strips an FF 03 address/control prefix and expands a compressed (one-octet,
// odd) protocol field to two octets (RFC 1661 section 6.5/6.6). False for a
// frame too short or whose protocol field is not valid (RFC 1661 section 2:
// the low octet is odd, the high octet even).
bool NormalizePppFrame(std::span<const uint8_t> in, std::vector<uint8_t>* out);

}  // namespace vpn::l2tp

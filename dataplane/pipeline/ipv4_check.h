// IPv4 header validation shared by the outer (WAN/LAN) and inner (inside
// L2TP/PPP) paths (RFC 791, RFC 1122 section 3.2.1).
#pragma once

#include <cstdint>

#include "net_headers.h"

namespace vpn::dp {

// Validates the header at ip with `avail` bytes after it. On success stores
// the header length and total length (which is <= avail).
inline bool ValidIpv4(const uint8_t* ip, uint32_t avail, uint32_t* ihl_out,
                      uint32_t* total_out) {
  if (avail < sizeof(Ipv4Hdr)) return false;
  const auto* h = reinterpret_cast<const Ipv4Hdr*>(ip);
  if ((h->ver_ihl >> 4) != 4) return false;
  uint32_t ihl = (h->ver_ihl & 0x0F) * 4u;
  uint32_t total = Be16(h->total_length);
  if (ihl < 20 || total < ihl || total > avail) return false;
  // A correct header sums to 0xFFFF including its checksum field.
  if (CsumPartial(ip, ihl) != 0xFFFF) return false;
  *ihl_out = ihl;
  *total_out = total;
  return true;
}

// Decrements TTL, patching the checksum incrementally (RFC 1624).
inline void DecrementTtl(Ipv4Hdr* h) {
  uint16_t old_word = Be16(uint16_t(h->ttl << 8 | h->proto));
  h->ttl--;
  uint16_t new_word = Be16(uint16_t(h->ttl << 8 | h->proto));
  h->csum = CsumUpdate16(h->csum, old_word, new_word);
}

inline bool IsFragment(const Ipv4Hdr* h) {
  return (Be16(h->frag) & (kIpMf | kIpOffsetMask)) != 0;
}

}  // namespace vpn::dp

// IPv4 header validation shared by the outer (WAN/LAN) and inner (inside
// L2TP/PPP) paths (RFC 791, RFC 1122 section 3.2.1).
#pragma once

#include <cstdint>
#include <cstring>

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

// The common case of both paths: a 20-byte header (no options). Its
// one's-complement sum folded to 16 bits, from five 32-bit native-order
// loads. RFC 1071 section 2 (B): the sum is byte-order independent, so a
// correct header still folds to 0xFFFF, and the complement of the fold of a
// header with a zero checksum field is the field's value as stored. Since
// 2^16 = 1 (mod 0xFFFF), folding keeps the residue mod 0xFFFF and ends in
// [1, 0xFFFF] for a non-zero sum: the fold is 1 + (acc - 1) mod 0xFFFF, a
// multiply instead of three dependent fold steps. (The version nibble makes
// the sum of any IPv4 header non-zero.)
inline uint32_t Csum20Fold(const uint8_t* h) {
  uint32_t w[5];
  std::memcpy(w, h, sizeof w);
  const uint64_t acc = uint64_t(w[0]) + w[1] + w[2] + w[3] + w[4];
  return uint32_t(1 + (acc - 1) % 0xFFFF);
}

// ValidIpv4 for the fast paths: accepts exactly the headers ValidIpv4
// accepts that have no options (ver_ihl 0x45); anything else is left to the
// full path, which counts the reason.
inline bool ValidIpv4NoOptions(const uint8_t* ip, uint32_t avail, uint32_t* total_out) {
  if (avail < sizeof(Ipv4Hdr) || ip[0] != 0x45) return false;
  const uint32_t total = Load16(ip + 2);
  if (total < sizeof(Ipv4Hdr) || total > avail) return false;
  if (Csum20Fold(ip) != 0xFFFF) return false;
  *total_out = total;
  return true;
}

// Decrements TTL, patching the checksum incrementally (RFC 1624 equation
// 3, HC' = ~(~HC + ~m + m')): the 16-bit word TTL|protocol drops by 0x0100,
// so ~m + m' is 0xFEFF whatever the protocol, and one end-around carry
// suffices. Callers guarantee TTL > 1 (RFC 1812 section 5.3.1).
inline void DecrementTtl(Ipv4Hdr* h) {
  h->ttl--;
  uint32_t sum = uint16_t(~Be16(h->csum)) + 0xFEFFu;
  sum = (sum & 0xFFFF) + (sum >> 16);
  h->csum = Be16(uint16_t(~sum));
}

inline bool IsFragment(const Ipv4Hdr* h) {
  return (Be16(h->frag) & (kIpMf | kIpOffsetMask)) != 0;
}

}  // namespace vpn::dp

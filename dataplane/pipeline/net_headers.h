// Wire formats the fast path touches, and the checksum arithmetic it needs.
// All multi-byte fields are network order unless the name says otherwise.
#pragma once

#include <cstdint>
#include <cstring>

#include <rte_byteorder.h>

namespace vpn::dp {

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoEsp = 50;
inline constexpr uint16_t kPortIke = 500;
inline constexpr uint16_t kPortNatT = 4500;
inline constexpr uint16_t kPortL2tp = 1701;

// RFC 2661 section 3.1: the first 16 bits of every L2TP header.
inline constexpr uint16_t kL2tpT = 0x8000;  // control message
inline constexpr uint16_t kL2tpL = 0x4000;  // length field present
inline constexpr uint16_t kL2tpS = 0x0800;  // Ns/Nr present
inline constexpr uint16_t kL2tpO = 0x0200;  // offset size present
inline constexpr uint16_t kL2tpP = 0x0100;  // priority
inline constexpr uint16_t kL2tpVersionMask = 0x000F;
inline constexpr uint16_t kL2tpVersion2 = 2;

// PPP (RFC 1661 section 2, RFC 1662 section 3.1).
inline constexpr uint8_t kPppAddress = 0xFF;
inline constexpr uint8_t kPppControl = 0x03;
inline constexpr uint16_t kPppIpv4 = 0x0021;

struct __attribute__((packed)) EthHdr {
  uint8_t dst[6];
  uint8_t src[6];
  uint16_t type;
};
static_assert(sizeof(EthHdr) == 14);

struct __attribute__((packed)) ArpHdr {  // RFC 826, Ethernet/IPv4 only
  uint16_t htype, ptype;
  uint8_t hlen, plen;
  uint16_t op;
  uint8_t sha[6];
  uint32_t spa;
  uint8_t tha[6];
  uint32_t tpa;
};
static_assert(sizeof(ArpHdr) == 28);
inline constexpr uint16_t kArpRequest = 1;
inline constexpr uint16_t kArpReply = 2;

struct __attribute__((packed)) Ipv4Hdr {
  uint8_t ver_ihl;
  uint8_t tos;
  uint16_t total_length;
  uint16_t id;
  uint16_t frag;  // flags + offset
  uint8_t ttl;
  uint8_t proto;
  uint16_t csum;
  uint32_t src;
  uint32_t dst;
};
static_assert(sizeof(Ipv4Hdr) == 20);
inline constexpr uint16_t kIpDf = 0x4000;
inline constexpr uint16_t kIpMf = 0x2000;
inline constexpr uint16_t kIpOffsetMask = 0x1FFF;

struct __attribute__((packed)) UdpHdr {
  uint16_t src, dst, len, csum;
};
struct __attribute__((packed)) TcpHdr {
  uint16_t src, dst;
  uint32_t seq, ack;
  uint8_t off;  // data offset << 4
  uint8_t flags;
  uint16_t window, csum, urg;
};
inline constexpr uint8_t kTcpSyn = 0x02;
struct __attribute__((packed)) IcmpHdr {
  uint8_t type, code;
  uint16_t csum;
  uint16_t unused;
  uint16_t next_mtu;  // RFC 1191 section 4 for type 3 code 4
};

inline uint16_t Be16(uint16_t v) { return rte_cpu_to_be_16(v); }
inline uint32_t Be32(uint32_t v) { return rte_cpu_to_be_32(v); }
inline uint16_t Load16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t Load32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 |
         p[3];
}
inline void Store16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

// One's-complement sum over bytes, folded to 16 bits but not inverted; the
// value as the big-endian 16-bit words read. Summed 32 bits at a time in
// native (little-endian) order into a 64-bit accumulator, then folded and
// byte-swapped: the one's-complement sum is byte-order independent (RFC 1071
// section 2 (B)), and a 20-byte IPv4 header costs five adds instead of ten
// byte-pair loads. len must be even except for the last call over a buffer.
inline uint32_t CsumPartial(const void* data, size_t len, uint32_t sum = 0) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t acc = 0;
  while (len >= 8) {
    uint32_t a, b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + 4, 4);
    acc += uint64_t(a) + b;
    p += 8;
    len -= 8;
  }
  if (len >= 4) {
    uint32_t a;
    std::memcpy(&a, p, 4);
    acc += a;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t a;
    std::memcpy(&a, p, 2);
    acc += a;
    p += 2;
    len -= 2;
  }
  if (len) acc += p[0];  // the high byte of a big-endian word
  acc = (acc & 0xFFFFFFFFu) + (acc >> 32);
  acc = (acc & 0xFFFFFFFFu) + (acc >> 32);
  uint32_t s32 = uint32_t(acc);
  s32 = (s32 & 0xFFFF) + (s32 >> 16);
  s32 = (s32 & 0xFFFF) + (s32 >> 16);
  sum += __builtin_bswap16(uint16_t(s32));
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return sum;
}
// Checksum field value (network order) over a buffer.
inline uint16_t CsumFinish(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return Be16(uint16_t(~sum & 0xFFFF));
}
inline uint16_t Ipv4HeaderCsum(const Ipv4Hdr* ip) {
  return CsumFinish(CsumPartial(ip, (ip->ver_ihl & 0x0F) * 4u));
}
// RFC 1624 equation 3: HC' = ~(~HC + ~m + m') for a 16-bit field change
// (all values network order as stored in the packet).
inline uint16_t CsumUpdate16(uint16_t csum, uint16_t old_v, uint16_t new_v) {
  uint32_t sum = uint16_t(~Be16(csum)) + uint32_t(uint16_t(~Be16(old_v))) +
                 Be16(new_v);
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return Be16(uint16_t(~sum));
}
inline uint16_t CsumUpdate32(uint16_t csum, uint32_t old_v, uint32_t new_v) {
  csum = CsumUpdate16(csum, uint16_t(old_v), uint16_t(new_v));
  return CsumUpdate16(csum, uint16_t(old_v >> 16), uint16_t(new_v >> 16));
}
// UDP/TCP checksum with the IPv4 pseudo-header (RFC 768), l4 in n.o. fields.
inline uint16_t L4Csum(uint32_t src, uint32_t dst, uint8_t proto,
                       const void* l4, uint16_t len) {
  uint32_t sum = 0;
  uint8_t pseudo[12];
  std::memcpy(pseudo, &src, 4);
  std::memcpy(pseudo + 4, &dst, 4);
  pseudo[8] = 0;
  pseudo[9] = proto;
  Store16(pseudo + 10, len);
  sum = CsumPartial(pseudo, 12, sum);
  sum = CsumPartial(l4, len, sum);
  return CsumFinish(sum);
}

}  // namespace vpn::dp

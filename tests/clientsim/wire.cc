#include "wire.h"

#include <arpa/inet.h>

#include <cstdio>

namespace vpn::clientsim {
namespace {

inline uint16_t Get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t Get32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline void Put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline void Put32(uint8_t* p, uint32_t v) {
  Put16(p, uint16_t(v >> 16));
  Put16(p + 2, uint16_t(v));
}

uint32_t SumWords(ByteSpan d, uint32_t acc) {
  size_t i = 0;
  for (; i + 1 < d.size(); i += 2) acc += Get16(d.data() + i);
  if (i < d.size()) acc += uint32_t(d[i]) << 8;  // odd length: pad with zero
  return acc;
}

constexpr size_t kIpv4HeaderLen = 20;
constexpr size_t kUdpHeaderLen = 8;
constexpr size_t kIcmpHeaderLen = 8;
constexpr size_t kL2tpMinHeader = 6;  // flags+ver, tunnel, session
constexpr size_t kIkeHeaderLen = 28;  // RFC 2408 3.1
constexpr size_t kEspHeaderLen = 8;

}  // namespace

std::string Ipv4ToString(uint32_t a) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
                a & 255);
  return buf;
}

std::optional<uint32_t> ParseIpv4Address(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

uint16_t InternetChecksum(ByteSpan data, uint32_t initial) {
  uint64_t acc = SumWords(data, 0);
  acc += initial;
  while (acc >> 16) acc = (acc & 0xFFFF) + (acc >> 16);
  return uint16_t(~acc);
}

uint32_t PseudoHeaderSum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len) {
  return (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + proto + len;
}

// --- IPv4 -----------------------------------------------------------------------

Bytes BuildIpv4(const Ipv4Fields& f, ByteSpan payload) {
  Bytes p(kIpv4HeaderLen + payload.size());
  p[0] = 0x45;  // version 4, IHL 5
  p[1] = 0;     // DSCP/ECN
  Put16(&p[2], uint16_t(p.size()));
  Put16(&p[4], f.id);
  Put16(&p[6], f.dont_fragment ? 0x4000 : 0);
  p[8] = f.ttl;
  p[9] = f.protocol;
  Put32(&p[12], f.src);
  Put32(&p[16], f.dst);
  Put16(&p[10], InternetChecksum(ByteSpan(p.data(), kIpv4HeaderLen)));
  std::copy(payload.begin(), payload.end(), p.begin() + kIpv4HeaderLen);
  return p;
}

Ipv4Error ParseIpv4(ByteSpan pkt, Ipv4Packet* out) {
  if (pkt.size() < kIpv4HeaderLen) return Ipv4Error::kTruncated;
  if ((pkt[0] >> 4) != 4) return Ipv4Error::kNotV4;
  const size_t ihl = size_t(pkt[0] & 0x0F) * 4;
  if (ihl < kIpv4HeaderLen || ihl > pkt.size()) return Ipv4Error::kBadHeaderLength;
  const size_t total = Get16(&pkt[2]);
  if (total < ihl || total > pkt.size()) return Ipv4Error::kBadTotalLength;
  if (InternetChecksum(pkt.subspan(0, ihl)) != 0) return Ipv4Error::kBadChecksum;
  const uint16_t frag = Get16(&pkt[6]);
  if ((frag & 0x2000) || (frag & 0x1FFF)) return Ipv4Error::kFragment;  // MF or offset
  out->fields.id = Get16(&pkt[4]);
  out->fields.dont_fragment = (frag & 0x4000) != 0;
  out->fields.ttl = pkt[8];
  out->fields.protocol = pkt[9];
  out->fields.src = Get32(&pkt[12]);
  out->fields.dst = Get32(&pkt[16]);
  out->payload = pkt.subspan(ihl, total - ihl);
  return Ipv4Error::kOk;
}

const char* Ipv4ErrorName(Ipv4Error e) {
  switch (e) {
    case Ipv4Error::kOk: return "ok";
    case Ipv4Error::kTruncated: return "truncated";
    case Ipv4Error::kNotV4: return "not IPv4";
    case Ipv4Error::kBadHeaderLength: return "bad header length";
    case Ipv4Error::kBadTotalLength: return "bad total length";
    case Ipv4Error::kBadChecksum: return "bad header checksum";
    case Ipv4Error::kFragment: return "fragment";
  }
  return "?";
}

// --- ICMP ------------------------------------------------------------------------

Bytes BuildIcmpEcho(const Ipv4Fields& ip, bool reply, uint16_t id, uint16_t seq,
                    ByteSpan data) {
  Bytes icmp(kIcmpHeaderLen + data.size());
  icmp[0] = reply ? 0 : 8;
  icmp[1] = 0;
  Put16(&icmp[4], id);
  Put16(&icmp[6], seq);
  std::copy(data.begin(), data.end(), icmp.begin() + kIcmpHeaderLen);
  Put16(&icmp[2], InternetChecksum(icmp));
  Ipv4Fields f = ip;
  f.protocol = kIpProtoIcmp;
  return BuildIpv4(f, icmp);
}

std::optional<IcmpEcho> ParseIcmpEcho(const Ipv4Packet& p) {
  if (p.fields.protocol != kIpProtoIcmp || p.payload.size() < kIcmpHeaderLen)
    return std::nullopt;
  const uint8_t type = p.payload[0];
  if ((type != 0 && type != 8) || p.payload[1] != 0) return std::nullopt;
  if (InternetChecksum(p.payload) != 0) return std::nullopt;
  IcmpEcho e;
  e.reply = type == 0;
  e.id = Get16(&p.payload[4]);
  e.seq = Get16(&p.payload[6]);
  e.data = p.payload.subspan(kIcmpHeaderLen);
  return e;
}

// --- UDP ----------------------------------------------------------------------------

Bytes BuildUdpSegment(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                      ByteSpan data) {
  Bytes u(kUdpHeaderLen + data.size());
  Put16(&u[0], sport);
  Put16(&u[2], dport);
  Put16(&u[4], uint16_t(u.size()));
  std::copy(data.begin(), data.end(), u.begin() + kUdpHeaderLen);
  uint16_t c = InternetChecksum(u, PseudoHeaderSum(src, dst, kIpProtoUdp, uint16_t(u.size())));
  Put16(&u[6], c == 0 ? 0xFFFF : c);  // RFC 768: a computed zero is sent as all ones
  return u;
}

Bytes BuildUdpPacket(const Ipv4Fields& ip, uint16_t sport, uint16_t dport, ByteSpan data) {
  Ipv4Fields f = ip;
  f.protocol = kIpProtoUdp;
  return BuildIpv4(f, BuildUdpSegment(ip.src, ip.dst, sport, dport, data));
}

std::optional<UdpDatagram> ParseUdpSegment(ByteSpan seg, uint32_t src, uint32_t dst,
                                           bool verify_checksum) {
  if (seg.size() < kUdpHeaderLen) return std::nullopt;
  const uint16_t len = Get16(&seg[4]);
  if (len < kUdpHeaderLen || len > seg.size()) return std::nullopt;
  seg = seg.subspan(0, len);
  if (verify_checksum && Get16(&seg[6]) != 0 &&
      InternetChecksum(seg, PseudoHeaderSum(src, dst, kIpProtoUdp, len)) != 0)
    return std::nullopt;
  UdpDatagram d;
  d.sport = Get16(&seg[0]);
  d.dport = Get16(&seg[2]);
  d.data = seg.subspan(kUdpHeaderLen);
  return d;
}

// --- PPP ----------------------------------------------------------------------------

Bytes PppIpv4Frame(ByteSpan ipv4) {
  Bytes f(2 + ipv4.size());
  Put16(&f[0], kPppProtoIpv4);
  std::copy(ipv4.begin(), ipv4.end(), f.begin() + 2);
  return f;
}

std::optional<PppFrame> ParsePppFrame(ByteSpan f) {
  if (f.size() >= 2 && f[0] == 0xFF && f[1] == 0x03) f = f.subspan(2);
  if (f.empty()) return std::nullopt;
  PppFrame out;
  if (f[0] & 1) {  // PFC: one-octet protocol (RFC 1661 6.5)
    out.protocol = f[0];
    out.info = f.subspan(1);
    return out;
  }
  if (f.size() < 2 || !(f[1] & 1)) return std::nullopt;  // protocol must be odd
  out.protocol = Get16(f.data());
  out.info = f.subspan(2);
  return out;
}

// --- L2TP ---------------------------------------------------------------------------

bool L2tpIsControl(ByteSpan msg) { return msg.size() >= 2 && (msg[0] & 0x80); }

Bytes BuildL2tpData(uint16_t tunnel_id, uint16_t session_id, ByteSpan ppp_frame,
                    std::optional<std::pair<uint16_t, uint16_t>> ns_nr) {
  const size_t hdr = ns_nr ? 12 : 8;
  Bytes m(hdr + 2 + ppp_frame.size());
  uint16_t flags = 0x4000 | 2;  // L, version 2
  if (ns_nr) flags |= 0x0800;   // S
  Put16(&m[0], flags);
  Put16(&m[2], uint16_t(m.size()));
  Put16(&m[4], tunnel_id);
  Put16(&m[6], session_id);
  if (ns_nr) {
    Put16(&m[8], ns_nr->first);
    Put16(&m[10], ns_nr->second);
  }
  m[hdr] = 0xFF;  // address/control: L2TP carries HDLC-less frames with FF03
  m[hdr + 1] = 0x03;
  std::copy(ppp_frame.begin(), ppp_frame.end(), m.begin() + hdr + 2);
  return m;
}

std::optional<L2tpData> ParseL2tpData(ByteSpan msg) {
  if (msg.size() < kL2tpMinHeader) return std::nullopt;
  const uint16_t flags = Get16(&msg[0]);
  if ((flags & 0x8000) || (flags & 0x000F) != 2) return std::nullopt;
  size_t off = 2;
  size_t end = msg.size();
  if (flags & 0x4000) {
    const uint16_t len = Get16(&msg[off]);
    off += 2;
    if (len > msg.size()) return std::nullopt;
    end = len;
  }
  if (off + 4 > end) return std::nullopt;
  L2tpData d;
  d.tunnel_id = Get16(&msg[off]);
  d.session_id = Get16(&msg[off + 2]);
  off += 4;
  if (flags & 0x0800) {
    if (off + 4 > end) return std::nullopt;
    d.ns = Get16(&msg[off]);
    d.nr = Get16(&msg[off + 2]);
    off += 4;
  }
  if (flags & 0x0200) {  // Offset Size + padding
    if (off + 2 > end) return std::nullopt;
    const size_t pad = Get16(&msg[off]);
    off += 2 + pad;
    if (off > end) return std::nullopt;
  }
  d.payload = msg.subspan(off, end - off);
  return d;
}

// --- NAT-T ---------------------------------------------------------------------------

NattPayload ClassifyNatT(ByteSpan p) {
  NattPayload out;
  if (p.size() == 1 && p[0] == 0xFF) {
    out.kind = NattKind::kKeepalive;
    return out;
  }
  if (p.size() < kEspHeaderLen) return out;  // neither a marker+IKE nor ESP
  const uint32_t spi = Get32(p.data());
  if (spi == 0) {
    if (p.size() < kNonEspMarkerLen + kIkeHeaderLen) return out;
    out.kind = NattKind::kIke;
    out.body = p.subspan(kNonEspMarkerLen);
    return out;
  }
  if (spi <= 255) return out;  // reserved SPI values (RFC 4303 2.1)
  out.kind = NattKind::kEsp;
  out.body = p;
  return out;
}

Bytes FrameIkeForNatT(ByteSpan ike) {
  Bytes b(kNonEspMarkerLen + ike.size(), 0);
  std::copy(ike.begin(), ike.end(), b.begin() + kNonEspMarkerLen);
  return b;
}

}  // namespace vpn::clientsim

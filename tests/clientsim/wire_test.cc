// Packet building against vectors produced by an independent encoder (scapy
// 2.5.0, the commands are beside each vector), decode round trips, the RFC
// 3948 framing rules, and robustness of every parser on random, truncated
// and mutated input.
#include "wire.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace vpn::clientsim {
namespace {

Bytes Hex(const std::string& h) {
  Bytes b;
  for (size_t i = 0; i + 1 < h.size(); i += 2) b.push_back(uint8_t(std::stoi(h.substr(i, 2), nullptr, 16)));
  return b;
}
ByteSpan Str(const char* s) { return ByteSpan(reinterpret_cast<const uint8_t*>(s), strlen(s)); }
uint32_t Ip(const char* s) { return *ParseIpv4Address(s); }

// IP(src="100.64.0.5", dst="100.64.0.10", id=1, ttl=64, flags="DF")/
//   ICMP(type=8, id=0x1234, seq=7)/Raw(b"abcdefgh")
const char* kScapyIcmp = "450000240001400040017249644000056440000a0800542f123400076162636465666768";
// IP(src="100.64.0.10", dst="100.64.0.5", id=0x77, ttl=63, flags="DF")/ICMP(type=0, ...)
const char* kScapyIcmpReply =
    "45000024007740003f0172d36440000a6440000500005c2f123400076162636465666768";
// IP(src="192.168.0.5", dst="192.168.0.100", id=2, flags="DF")/UDP(sport=40000, dport=9)/
//   Raw(b"hello-udp")
const char* kScapyUdp =
    "45000025000240004011b90cc0a80005c0a800649c4000090011b86468656c6c6f2d756470";
// UDP(sport=1701, dport=1701) under IP(src="198.18.0.10", dst="198.18.0.1"),
// payload c802000c0001000000000000 (an L2TP ZLB-like control header)
const char* kScapyL2tpUdp = "06a506a500149e3cc802000c0001000000000000";
// L2TP(hdr="length", tunnel_id=5, session_id=9)/Raw(ff03002145)
const char* kScapyL2tpData = "4002000d00050009ff03002145";
// L2TP(hdr="length+sequence", tunnel_id=5, session_id=9, ns=3, nr=4)/Raw(ff03002145)
const char* kScapyL2tpDataSeq = "480200110005000900030004ff03002145";

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 section 3 example: 0001 f203 f4f5 f6f7 sums to ddf2 (one's
  // complement sum), so the checksum is ~ddf2 = 220d.
  EXPECT_EQ(InternetChecksum(Hex("0001f203f4f5f6f7")), 0x220d);
  // Odd length pads with a zero octet.
  EXPECT_EQ(InternetChecksum(Hex("01")), uint16_t(~0x0100));
}

TEST(Ipv4Address, ParseAndPrint) {
  EXPECT_EQ(Ip("198.18.0.1"), 0xC6120001u);
  EXPECT_EQ(Ipv4ToString(0xC6120001u), "198.18.0.1");
  EXPECT_FALSE(ParseIpv4Address("198.18.0").has_value());
  EXPECT_FALSE(ParseIpv4Address("x").has_value());
}

TEST(Icmp, EchoRequestMatchesScapy) {
  Ipv4Fields f{.src = Ip("100.64.0.5"), .dst = Ip("100.64.0.10"), .protocol = 0, .ttl = 64,
               .id = 1, .dont_fragment = true};
  EXPECT_EQ(BuildIcmpEcho(f, false, 0x1234, 7, Str("abcdefgh")), Hex(kScapyIcmp));
}

TEST(Icmp, ParsesScapyReply) {
  Bytes pkt = Hex(kScapyIcmpReply);
  Ipv4Packet p;
  ASSERT_EQ(ParseIpv4(pkt, &p), Ipv4Error::kOk);
  EXPECT_EQ(p.fields.src, Ip("100.64.0.10"));
  EXPECT_EQ(p.fields.dst, Ip("100.64.0.5"));
  EXPECT_EQ(p.fields.ttl, 63);
  EXPECT_TRUE(p.fields.dont_fragment);
  auto e = ParseIcmpEcho(p);
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->reply);
  EXPECT_EQ(e->id, 0x1234);
  EXPECT_EQ(e->seq, 7);
  EXPECT_EQ(std::string(e->data.begin(), e->data.end()), "abcdefgh");
}

TEST(Icmp, BadChecksumsRefused) {
  Bytes pkt = Hex(kScapyIcmpReply);
  pkt[10] ^= 1;  // IPv4 header checksum
  Ipv4Packet p;
  EXPECT_EQ(ParseIpv4(pkt, &p), Ipv4Error::kBadChecksum);
  pkt = Hex(kScapyIcmpReply);
  pkt.back() ^= 0x40;  // ICMP data: ICMP checksum no longer matches
  ASSERT_EQ(ParseIpv4(pkt, &p), Ipv4Error::kOk);
  EXPECT_FALSE(ParseIcmpEcho(p).has_value());
}

TEST(Ipv4, RefusesFragmentsAndBadLengths) {
  Ipv4Fields f{.src = 1, .dst = 2, .protocol = 17, .ttl = 1, .id = 9, .dont_fragment = false};
  Bytes pkt = BuildIpv4(f, Str("xyz"));
  Ipv4Packet p;
  ASSERT_EQ(ParseIpv4(pkt, &p), Ipv4Error::kOk);
  EXPECT_EQ(p.payload.size(), 3u);
  Bytes frag = pkt;
  frag[6] = 0x20;  // MF
  frag[10] = frag[11] = 0;
  uint16_t c = InternetChecksum(ByteSpan(frag.data(), 20));
  frag[10] = uint8_t(c >> 8);
  frag[11] = uint8_t(c);
  EXPECT_EQ(ParseIpv4(frag, &p), Ipv4Error::kFragment);
  EXPECT_EQ(ParseIpv4(ByteSpan(pkt.data(), 22), &p), Ipv4Error::kBadTotalLength);
  EXPECT_EQ(ParseIpv4(ByteSpan(pkt.data(), 10), &p), Ipv4Error::kTruncated);
  // Trailing bytes (e.g. Ethernet padding) are not payload.
  Bytes padded = pkt;
  padded.resize(pkt.size() + 6, 0);
  ASSERT_EQ(ParseIpv4(padded, &p), Ipv4Error::kOk);
  EXPECT_EQ(p.payload.size(), 3u);
}

TEST(Udp, PacketMatchesScapy) {
  Ipv4Fields f{.src = Ip("192.168.0.5"), .dst = Ip("192.168.0.100"), .protocol = 0, .ttl = 64,
               .id = 2, .dont_fragment = true};
  Bytes pkt = BuildUdpPacket(f, 40000, 9, Str("hello-udp"));
  EXPECT_EQ(pkt, Hex(kScapyUdp));
  Ipv4Packet p;
  ASSERT_EQ(ParseIpv4(pkt, &p), Ipv4Error::kOk);
  auto u = ParseUdpSegment(p.payload, p.fields.src, p.fields.dst, true);
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->sport, 40000);
  EXPECT_EQ(u->dport, 9);
  EXPECT_EQ(std::string(u->data.begin(), u->data.end()), "hello-udp");
}

TEST(Udp, L2tpSegmentMatchesScapy) {
  Bytes seg = BuildUdpSegment(Ip("198.18.0.10"), Ip("198.18.0.1"), 1701, 1701,
                              Hex("c802000c0001000000000000"));
  EXPECT_EQ(seg, Hex(kScapyL2tpUdp));
  // Checked against the wrong addresses the checksum fails, unless the
  // caller waives it (RFC 3948 3.1.2 transport mode behind NAT).
  EXPECT_FALSE(ParseUdpSegment(seg, Ip("198.18.0.11"), Ip("198.18.0.1"), true).has_value());
  EXPECT_TRUE(ParseUdpSegment(seg, Ip("198.18.0.11"), Ip("198.18.0.1"), false).has_value());
  // Zero checksum means "none" (RFC 768).
  seg[6] = seg[7] = 0;
  EXPECT_TRUE(ParseUdpSegment(seg, 1, 2, true).has_value());
  // Length field beyond the data.
  seg[5] = 0x40;
  EXPECT_FALSE(ParseUdpSegment(seg, 1, 2, false).has_value());
}

TEST(L2tp, DataMatchesScapyAndParses) {
  Bytes ppp = Hex("002145");
  EXPECT_EQ(BuildL2tpData(5, 9, ppp), Hex(kScapyL2tpData));
  EXPECT_EQ(BuildL2tpData(5, 9, ppp, std::make_pair(uint16_t(3), uint16_t(4))),
            Hex(kScapyL2tpDataSeq));
  for (const char* v : {kScapyL2tpData, kScapyL2tpDataSeq}) {
    Bytes m = Hex(v);
    EXPECT_FALSE(L2tpIsControl(m));
    auto d = ParseL2tpData(m);
    ASSERT_TRUE(d.has_value()) << v;
    EXPECT_EQ(d->tunnel_id, 5);
    EXPECT_EQ(d->session_id, 9);
    auto f = ParsePppFrame(d->payload);
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->protocol, kPppProtoIpv4);
    ASSERT_EQ(f->info.size(), 1u);
    EXPECT_EQ(f->info[0], 0x45);
  }
  Bytes seq_msg = Hex(kScapyL2tpDataSeq);
  auto seq = ParseL2tpData(seq_msg);
  EXPECT_EQ(seq->ns, 3);
  EXPECT_EQ(seq->nr, 4);
  EXPECT_TRUE(L2tpIsControl(Hex("c802000c0001000000000000")));
  EXPECT_FALSE(ParseL2tpData(Hex("c802000c0001000000000000")).has_value());
  // Offset field (O bit): pad skipped. flags 0x0202, tunnel 1, session 2,
  // offset size 2, two pad octets, then the frame.
  Bytes with_offset = Hex("0202000100020002aaaa0021ee");
  auto off = ParseL2tpData(with_offset);
  ASSERT_TRUE(off.has_value());
  EXPECT_EQ(off->payload.size(), 3u);
  EXPECT_EQ(off->payload[0], 0x00);
}

TEST(Ppp, FramesWithAndWithoutCompression) {
  Bytes f = PppIpv4Frame(Hex("4500"));
  EXPECT_EQ(f, Hex("00214500"));
  auto a = ParsePppFrame(Hex("ff03c0210102"));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->protocol, 0xc021);
  auto pfc = ParsePppFrame(Hex("214500"));  // PFC: one-octet 0x21
  ASSERT_TRUE(pfc.has_value());
  EXPECT_EQ(pfc->protocol, 0x21);
  EXPECT_EQ(pfc->info.size(), 2u);
  EXPECT_FALSE(ParsePppFrame(Hex("0022")).has_value());  // even low octet
  EXPECT_FALSE(ParsePppFrame(Hex("ff03")).has_value());
}

TEST(NatT, MarkerRules) {
  Bytes ike(28, 0x11);
  Bytes framed = FrameIkeForNatT(ike);
  ASSERT_EQ(framed.size(), 32u);
  EXPECT_EQ(framed[0] | framed[1] | framed[2] | framed[3], 0);
  NattPayload p = ClassifyNatT(framed);
  EXPECT_EQ(p.kind, NattKind::kIke);
  EXPECT_EQ(Bytes(p.body.begin(), p.body.end()), ike);
  // RFC 3948 2.3 keepalive.
  EXPECT_EQ(ClassifyNatT(Hex("ff")).kind, NattKind::kKeepalive);
  EXPECT_EQ(ClassifyNatT(Hex("fe")).kind, NattKind::kInvalid);
  // ESP: SPI + sequence at least.
  NattPayload e = ClassifyNatT(Hex("c0a8000100000001aabb"));
  EXPECT_EQ(e.kind, NattKind::kEsp);
  EXPECT_EQ(e.body.size(), 10u);
  EXPECT_EQ(ClassifyNatT(Hex("c0a80001000000")).kind, NattKind::kInvalid);  // 7 bytes
  // Reserved SPIs 1..255.
  EXPECT_EQ(ClassifyNatT(Hex("000000ff00000001")).kind, NattKind::kInvalid);
  // Marker followed by less than an IKE header.
  EXPECT_EQ(ClassifyNatT(Hex("0000000001020304")).kind, NattKind::kInvalid);
  EXPECT_EQ(ClassifyNatT({}).kind, NattKind::kInvalid);
}

// Every parser on random, truncated and bit-flipped input: no crash, no read
// outside the span (run under ASan in CI), and results stay inside the input.
TEST(Robustness, RandomTruncatedMutated) {
  std::mt19937 rng(4500);
  std::vector<Bytes> seeds = {Hex(kScapyIcmp),     Hex(kScapyIcmpReply),   Hex(kScapyUdp),
                              Hex(kScapyL2tpUdp),  Hex(kScapyL2tpData),    Hex(kScapyL2tpDataSeq),
                              FrameIkeForNatT(Bytes(40, 1))};
  auto inside = [](ByteSpan in, ByteSpan part) {
    return part.empty() || (part.data() >= in.data() && part.data() + part.size() <= in.data() + in.size());
  };
  for (int iter = 0; iter < 20000; ++iter) {
    Bytes b;
    const int mode = iter % 3;
    if (mode == 0) {
      b.resize(rng() % 80);
      for (auto& x : b) x = uint8_t(rng());
    } else {
      b = seeds[rng() % seeds.size()];
      if (mode == 1) {
        b.resize(rng() % (b.size() + 1));
      } else {
        for (int k = 0, n = 1 + rng() % 4; k < n && !b.empty(); ++k)
          b[rng() % b.size()] ^= uint8_t(1u << (rng() % 8));
      }
    }
    ByteSpan in(b);
    Ipv4Packet p;
    if (ParseIpv4(in, &p) == Ipv4Error::kOk) {
      ASSERT_TRUE(inside(in, p.payload));
      if (auto e = ParseIcmpEcho(p)) {
        ASSERT_TRUE(inside(in, e->data));
      }
      if (auto u = ParseUdpSegment(p.payload, p.fields.src, p.fields.dst, true)) {
        ASSERT_TRUE(inside(in, u->data));
      }
    }
    if (auto u = ParseUdpSegment(in, 1, 2, false)) {
      ASSERT_TRUE(inside(in, u->data));
    }
    if (auto d = ParseL2tpData(in)) {
      ASSERT_TRUE(inside(in, d->payload));
      if (auto f = ParsePppFrame(d->payload)) {
        ASSERT_TRUE(inside(in, f->info));
      }
    }
    NattPayload n = ClassifyNatT(in);
    ASSERT_TRUE(inside(in, n.body));
  }
}

}  // namespace
}  // namespace vpn::clientsim

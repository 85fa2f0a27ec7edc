// Wire format: round trips for every payload, an scapy-built message as an
// independent oracle, and garbage/truncation robustness.
#include <random>

#include "gtest/gtest.h"
#include "payloads.h"
#include "protection.h"
#include "vendor_ids.h"

namespace vpn::ike {
namespace {

SaPayload SampleSa() {
  SaPayload sa;
  Proposal p;
  p.number = 1;
  p.protocol = static_cast<uint8_t>(ProtocolId::kEsp);
  p.spi = {0xde, 0xad, 0xbe, 0xef};
  Transform t1;
  t1.number = 1;
  t1.id = 12;
  t1.attrs = {Attribute::Tv(1, 1), Attribute::Number(2, 3600), Attribute::Tv(1, 2),
              Attribute::Number(2, 250000), Attribute::Tv(4, 61444),
              Attribute::Tlv(0x123, {1, 2, 3, 4, 5})};
  Transform t2 = t1;
  t2.number = 2;
  t2.id = 3;
  t2.attrs.resize(2);
  p.transforms = {t1, t2};
  sa.proposals = {p, p};
  sa.proposals[1].number = 2;
  return sa;
}

TEST(Wire, SaRoundTrip) {
  SaPayload sa = SampleSa();
  Bytes b = EncodeSa(sa);
  auto back = ParseSa(b);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, sa);
  // 250000 does not fit a TV attribute: must have been sent as TLV.
  EXPECT_FALSE(back->proposals[0].transforms[0].attrs[3].tv);
  EXPECT_EQ(back->proposals[0].transforms[0].attrs[3].AsNumber(), 250000u);
}

TEST(Wire, HandBuiltTransformBytes) {
  // RFC 2408 3.6 layout, typed by hand: transform #1 KEY_IKE, AES (TV),
  // life duration 0x15180 as a 4-byte TLV.
  const Bytes want = FromHex(
      "00000001 00000001"                  // DOI, situation
      "00 00 001c 01 01 0001"              // proposal: last, len 4+4+20, #1, ISAKMP, spi 0, 1 xform
      "00 00 0014 01 01 0000"              // transform: last, len 4+4+4+8, #1, KEY_IKE
      "8001 0007"                          // encryption = AES-CBC (TV)
      "000c 0004 00015180");               // life duration 86400 (TLV)
  SaPayload sa;
  Proposal p;
  p.protocol = 1;
  Transform t;
  t.id = 1;
  t.attrs = {Attribute::Tv(1, 7), Attribute::Number(12, 86400)};
  p.transforms = {t};
  sa.proposals = {p};
  EXPECT_EQ(Hex(EncodeSa(sa)), Hex(want));
}

TEST(Wire, ScapyMainModeMessage1) {
  // testdata/gen_scapy_msg.py
  const Bytes msg = FromHex(
      "010203040506070800000000000000000110020000000000000000a30d00005b00000001000000010000004f"
      "01010002030000240101000080010007800e0100800200028004000e80030001800b0001800c708000000023"
      "0201000080010005800200028004000280030001800b0001000c00030186a00d0000144a131c81070358455c"
      "5728f20e95452f000000181e2b516905991c7d7c96fcbfb587e46100000009");
  auto m = ParsePlainMessage(msg);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->hdr.icookie, 0x0102030405060708u);
  EXPECT_EQ(m->hdr.exchange, ExchangeType::kIdentityProtection);
  ASSERT_EQ(m->payloads.size(), 3u);
  auto sa = ParseSa(m->Find(PayloadType::kSa)->body);
  ASSERT_TRUE(sa.ok()) << sa.status();
  ASSERT_EQ(sa->proposals.size(), 1u);
  ASSERT_EQ(sa->proposals[0].transforms.size(), 2u);
  const Transform& t1 = sa->proposals[0].transforms[0];
  EXPECT_EQ(t1.Find(p1attr::kKeyLength)->short_value, 256);
  EXPECT_EQ(t1.Find(p1attr::kLifeDuration)->AsNumber(), 28800u);
  EXPECT_EQ(sa->proposals[0].transforms[1].Find(p1attr::kLifeDuration)->AsNumber(), 100000u);
  EXPECT_EQ(ClassifyVid(m->Find(PayloadType::kVendorId, 0)->body), Vid::kRfc3947);
  EXPECT_EQ(ClassifyVid(m->Find(PayloadType::kVendorId, 1)->body), Vid::kMsNt5);
  // Our encoder reproduces scapy's bytes exactly.
  Bytes again = BuildPlainMessage(m->hdr, m->payloads);
  EXPECT_EQ(Hex(again), Hex(msg));
}

TEST(Wire, EveryPayloadRoundTrips) {
  IdPayload id = IdPayload::Ipv4(0x0100a8c0, 17, 1701);
  NotifyPayload n;
  n.protocol = 3;
  n.spi = {1, 2, 3, 4};
  n.type = NotifyType::kResponderLifetime;
  n.data = {0x80, 1, 0, 1};
  DeletePayload d;
  d.protocol = 3;
  d.spi_size = 4;
  d.spis = {{1, 2, 3, 4}, {5, 6, 7, 8}};
  CertPayload cert{4, {0x30, 0x82, 0, 1}};
  CertPayload certreq{4, {}};
  NatOaPayload oa{IdType::kIpv4Addr, {10, 0, 0, 1}};
  std::vector<RawPayload> chain = {
      Payload(PayloadType::kHash, Bytes(20, 0xaa)),
      Payload(PayloadType::kSa, EncodeSa(SampleSa())),
      Payload(PayloadType::kKe, Bytes(256, 7)),
      Payload(PayloadType::kId, EncodeId(id)),
      Payload(PayloadType::kCert, EncodeCert(cert)),
      Payload(PayloadType::kCertReq, EncodeCert(certreq)),
      Payload(PayloadType::kSig, Bytes(128, 9)),
      Payload(PayloadType::kNonce, Bytes(32, 3)),
      Payload(PayloadType::kNotify, EncodeNotify(n)),
      Payload(PayloadType::kDelete, EncodeDelete(d)),
      Payload(PayloadType::kVendorId, VidBytes(Vid::kDpd)),
      Payload(PayloadType::kNatD, Bytes(20, 1)),
      Payload(PayloadType::kNatOa, EncodeNatOa(oa)),
      Payload(PayloadType::kNatDDraft, Bytes(20, 2)),
      Payload(PayloadType::kNatOaDraft, EncodeNatOa(oa)),
  };
  Header h;
  h.icookie = 1;
  h.rcookie = 2;
  h.exchange = ExchangeType::kQuickMode;
  h.message_id = 0x12345678;
  Bytes msg = BuildPlainMessage(h, chain);
  auto m = ParsePlainMessage(msg);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->payloads.size(), chain.size());
  for (size_t i = 0; i < chain.size(); ++i) {
    EXPECT_EQ(m->payloads[i].type, chain[i].type) << i;
    EXPECT_EQ(m->payloads[i].body, chain[i].body) << i;
  }
  EXPECT_EQ(*ParseId(m->Find(PayloadType::kId)->body), id);
  EXPECT_EQ(*ParseNotify(m->Find(PayloadType::kNotify)->body), n);
  EXPECT_EQ(*ParseDelete(m->Find(PayloadType::kDelete)->body), d);
  EXPECT_EQ(*ParseCert(m->Find(PayloadType::kCert)->body), cert);
  EXPECT_EQ(*ParseCert(m->Find(PayloadType::kCertReq)->body), certreq);
  EXPECT_EQ(*ParseNatOa(m->Find(PayloadType::kNatOa)->body), oa);
  EXPECT_EQ(*ParseNatOa(m->Find(PayloadType::kNatOaDraft)->body), oa);
  EXPECT_EQ(m->hdr.message_id, 0x12345678u);
  EXPECT_EQ(m->hdr.length, msg.size());
}

TEST(Wire, RejectsBadStructure) {
  Header h;
  h.exchange = ExchangeType::kIdentityProtection;
  // Transform at top level is not allowed.
  Bytes msg = BuildPlainMessage(h, {Payload(PayloadType::kTransform, Bytes(8, 0))});
  EXPECT_FALSE(ParsePlainMessage(msg).ok());
  // Unknown payload type 99.
  msg = BuildPlainMessage(h, {Payload(static_cast<PayloadType>(99), Bytes(8, 0))});
  EXPECT_FALSE(ParsePlainMessage(msg).ok());
  // Nonce shorter than 8 bytes (RFC 2409 5).
  msg = BuildPlainMessage(h, {Payload(PayloadType::kNonce, Bytes(4, 0))});
  EXPECT_FALSE(ParsePlainMessage(msg).ok());
  // Header length disagrees with the datagram.
  msg = BuildPlainMessage(h, {Payload(PayloadType::kVendorId, Bytes(16, 0))});
  msg.push_back(0);
  EXPECT_FALSE(ParsePlainMessage(msg).ok());
  // Delete with a count that does not match.
  Bytes del = EncodeDelete(DeletePayload{1, 3, 4, {{1, 2, 3, 4}}});
  del[7] = 2;
  EXPECT_FALSE(ParseDelete(del).ok());
  // SA with the wrong DOI.
  Bytes sa = EncodeSa(SampleSa());
  sa[3] = 2;
  EXPECT_FALSE(ParseSa(sa).ok());
}

// Every parser on random, truncated and bit-flipped input: must return,
// never crash or read out of bounds (run under ASan for full value).
TEST(Wire, GarbageAndTruncationRobustness) {
  std::mt19937 rng(1234);
  std::vector<RawPayload> chain = {
      Payload(PayloadType::kSa, EncodeSa(SampleSa())),
      Payload(PayloadType::kId, EncodeId(IdPayload::Ipv4(1, 17, 1701))),
      Payload(PayloadType::kNotify, EncodeNotify(NotifyPayload{})),
      Payload(PayloadType::kDelete, EncodeDelete(DeletePayload{1, 1, 16, {Bytes(16, 1)}})),
      Payload(PayloadType::kNatOa, EncodeNatOa(NatOaPayload{IdType::kIpv4Addr, {1, 2, 3, 4}})),
  };
  Header h;
  h.exchange = ExchangeType::kQuickMode;
  const Bytes good = BuildPlainMessage(h, chain);
  auto exercise = [](ByteSpan b) {
    auto m = ParsePlainMessage(b);
    if (m.ok()) {
      for (const auto& p : m->payloads) {
        (void)ParseSa(p.body);
        (void)ParseId(p.body);
        (void)ParseNotify(p.body);
        (void)ParseDelete(p.body);
        (void)ParseCert(p.body);
        (void)ParseNatOa(p.body);
        (void)ParseAttributes(p.body);
      }
    }
    (void)ParseSa(b);
    (void)ParseAttributes(b);
    (void)ParseDelete(b);
  };
  int parsed_ok = 0;
  for (size_t len = 0; len <= good.size(); ++len) exercise(ByteSpan(good).first(len));
  for (int i = 0; i < 20000; ++i) {
    Bytes b = good;
    int flips = 1 + rng() % 4;
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] ^= 1u << (rng() % 8);
    if (rng() % 4 == 0) b.resize(rng() % b.size());
    exercise(b);
    parsed_ok += ParsePlainMessage(b).ok();
  }
  for (int i = 0; i < 5000; ++i) {
    Bytes b(rng() % 300);
    for (auto& c : b) c = rng();
    if (b.size() >= kHeaderSize) SetU32(b, 24, static_cast<uint32_t>(b.size()));
    exercise(b);
  }
  // Sanity: single-bit flips in payload bodies often still parse.
  EXPECT_GT(parsed_ok, 100);
}

TEST(Wire, SealOpenRoundTripAndIvChain) {
  CipherState c{CipherAlg::kAesCbc, Bytes(32, 0x11)};
  Bytes iv(16, 0x22);
  Header h;
  h.icookie = 5;
  h.rcookie = 6;
  h.exchange = ExchangeType::kIdentityProtection;
  std::vector<RawPayload> chain = {Payload(PayloadType::kId, EncodeId(IdPayload::Ipv4(1))),
                                   Payload(PayloadType::kHash, Bytes(20, 0x33))};
  Bytes plain = EncodeChain(chain);
  auto s = Seal(h, PayloadType::kId, plain, c, iv);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((s->msg.size() - kHeaderSize) % 16, 0u);
  EXPECT_EQ(Bytes(s->msg.end() - 16, s->msg.end()), s->next_iv);
  EXPECT_EQ(s->msg[19] & flags::kEncryption, flags::kEncryption);
  // Independent check of the first block: AES-CBC of known plaintext.
  auto o = Open(s->msg, c, iv);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->next_iv, s->next_iv);
  ASSERT_EQ(o->msg.payloads.size(), 2u);
  EXPECT_EQ(o->msg.payloads[1].body, Bytes(20, 0x33));
  // Zero padding sits after the chain.
  EXPECT_GE(o->msg.area.size(), plain.size());
  for (size_t i = plain.size(); i < o->msg.area.size(); ++i) EXPECT_EQ(o->msg.area[i], 0);
  // A ciphertext that is not whole blocks is refused.
  Bytes cut = s->msg;
  cut.pop_back();
  SetU32(cut, 24, static_cast<uint32_t>(cut.size()));
  EXPECT_FALSE(Open(cut, c, iv).ok());
}

TEST(Wire, AfterHashCoversExactlyTheRestOfTheChain) {
  std::vector<RawPayload> rest = {Payload(PayloadType::kNonce, Bytes(16, 1)),
                                  Payload(PayloadType::kVendorId, Bytes(16, 2))};
  Bytes seen;
  HashedChain hc = BuildHashedChain(rest, [&](ByteSpan r) {
    seen.assign(r.begin(), r.end());
    return Bytes(20, 9);
  });
  EXPECT_EQ(seen, EncodeChain(rest));
  Message m;
  m.area = hc.chain;
  m.area.resize(m.area.size() + 7, 0);  // padding
  m.payloads = *ParseChain(PayloadType::kHash, m.area);
  ByteSpan a = AfterHash(m);
  EXPECT_EQ(Bytes(a.begin(), a.end()), seen);
}

TEST(VendorIds, Md5OfTheirStrings) {
  for (const VidInfo& v : KnownVids()) {
    if (v.md5_of.empty()) continue;
    Bytes md5 = Hash(HashAlg::kMd5, ToBytes(v.md5_of));
    EXPECT_EQ(Hex(md5), v.hex) << v.name;
  }
  Bytes frag = Concat({VidBytes(Vid::kFragmentation), Bytes{0x80, 0, 0, 0}});
  EXPECT_EQ(ClassifyVid(frag), Vid::kFragmentation);
  Bytes rfc = Concat({VidBytes(Vid::kRfc3947), Bytes{0}});
  EXPECT_EQ(ClassifyVid(rfc), Vid::kCount);  // exact-length VID
}

}  // namespace
}  // namespace vpn::ike

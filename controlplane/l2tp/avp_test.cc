// AVP encode/decode for every AVP of the table, hidden AVPs (RFC 2661
// section 4.3) against independently computed answers, tunnel
// authentication responses (section 5.1.1), and message validation.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>
#include <vector>

#include "avp.h"
#include "control_message.h"

namespace vpn::l2tp {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes FromHex(std::string_view h) {
  Bytes out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(uint8_t(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}

Bytes Str(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Independent oracle: one-shot OpenSSL MD5 over a concatenation.
Bytes Md5(const Bytes& in) {
  Bytes out(16);
  size_t len = 0;
  EXPECT_EQ(EVP_Q_digest(nullptr, "MD5", nullptr, in.data(), in.size(), out.data(),
                         &len), 1);
  return out;
}

// The section 4.3 algorithm written out again from the RFC text, separately
// from avp.cc: b1 = MD5(type|S|RV), c1 = p1^b1, b(i) = MD5(S|c(i-1)).
Bytes OracleHide(uint16_t type, const Bytes& secret, const Bytes& rv,
                 const Bytes& value) {
  Bytes sub = {uint8_t(value.size() >> 8), uint8_t(value.size())};
  sub.insert(sub.end(), value.begin(), value.end());
  Bytes seed = {uint8_t(type >> 8), uint8_t(type)};
  seed.insert(seed.end(), secret.begin(), secret.end());
  seed.insert(seed.end(), rv.begin(), rv.end());
  Bytes b = Md5(seed), out;
  for (size_t i = 0; i < sub.size(); i += 16) {
    Bytes c;
    for (size_t j = i; j < std::min(sub.size(), i + 16); ++j) c.push_back(sub[j] ^ b[j - i]);
    out.insert(out.end(), c.begin(), c.end());
    Bytes next = secret;
    next.insert(next.end(), c.begin(), c.end());
    b = Md5(next);
  }
  return out;
}

// A value of a legal length for `spec`.
Bytes SampleValue(const AvpSpec& spec) {
  size_t n = spec.min_len == spec.max_len ? spec.min_len
                                          : std::max<size_t>(spec.min_len, 21);
  Bytes v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(0x41 + (i * 7 + spec.name.size()) % 26);
  return v;
}

MessageType SomeMessageAllowing(const AvpSpec& spec) {
  for (uint16_t t = 1; t <= kMaxMessageType; ++t)
    if (spec.allowed & (1u << t)) return MessageType(t);
  return MessageType::kHello;
}

TEST(AvpTableTest, CoversEveryRfc2661Attribute) {
  auto all = AllAvpSpecs();
  EXPECT_EQ(all.size(), 39u);  // types 0..39 without reserved 20
  EXPECT_EQ(FindAvpSpec(20), nullptr);
  EXPECT_EQ(FindAvpSpec(40), nullptr);
  EXPECT_EQ(AvpName(7), "Host Name");
  EXPECT_EQ(AvpName(39), "Sequencing Required");
  // Section 6.1: SCCRQ must carry exactly these.
  std::vector<uint16_t> required;
  for (const AvpSpec& s : all)
    if (s.required & Bit(MessageType::kSccrq)) required.push_back(uint16_t(s.type));
  EXPECT_EQ(required, (std::vector<uint16_t>{0, 2, 3, 7, 9}));
  // Section 6.13: CDN needs Result Code and Assigned Session ID.
  required.clear();
  for (const AvpSpec& s : all)
    if (s.required & Bit(MessageType::kCdn)) required.push_back(uint16_t(s.type));
  EXPECT_EQ(required, (std::vector<uint16_t>{0, 1, 14}));
}

TEST(AvpTest, EveryAvpRoundTripsInTheClear) {
  for (const AvpSpec& spec : AllAvpSpecs()) {
    if (spec.type == AvpType::kMessageType) continue;
    SCOPED_TRACE(std::string(spec.name));
    Bytes v = SampleValue(spec);
    AvpWriter w(SomeMessageAllowing(spec));
    w.Bytes(spec.type, v);
    std::vector<Avp> avps;
    ASSERT_TRUE(ParseAvps(w.bytes(), "", &avps));
    ASSERT_EQ(avps.size(), 2u);
    EXPECT_EQ(avps[0].type, 0);
    EXPECT_EQ(avps[1].type, uint16_t(spec.type));
    EXPECT_EQ(avps[1].mandatory, spec.mandatory);
    EXPECT_FALSE(avps[1].hidden);
    EXPECT_EQ(avps[1].problem, AvpProblem::kNone);
    EXPECT_EQ(avps[1].value, v);
    // On the wire: 6-octet header with the length in the low 10 bits.
    EXPECT_EQ(Get16(&w.bytes()[8]) & kAvpLengthMask, 6 + v.size());
  }
}

TEST(AvpTest, EveryHideableAvpRoundTripsHidden) {
  for (const AvpSpec& spec : AllAvpSpecs()) {
    SCOPED_TRACE(std::string(spec.name));
    Bytes v = SampleValue(spec);
    AvpWriter w(SomeMessageAllowing(spec), "tunnel-secret", /*hide=*/true);
    w.Bytes(spec.type, v);
    std::vector<Avp> avps;
    ASSERT_TRUE(ParseAvps(w.bytes(), "tunnel-secret", &avps));
    const Avp& last = avps.back();
    EXPECT_EQ(last.type, uint16_t(spec.type));
    EXPECT_EQ(last.value, v);
    EXPECT_EQ(last.problem, AvpProblem::kNone);
    const bool expect_hidden = spec.may_hide && !v.empty();
    EXPECT_EQ(last.hidden, expect_hidden);
    if (!expect_hidden) continue;
    // A Random Vector AVP comes first (section 4.3), and the bytes on the
    // wire match the independent oracle.
    ASSERT_EQ(avps.size(), 3u);
    EXPECT_EQ(avps[1].type, uint16_t(AvpType::kRandomVector));
    Bytes wire(w.bytes().end() - (v.size() + 2), w.bytes().end());
    EXPECT_EQ(wire, OracleHide(uint16_t(spec.type), Str("tunnel-secret"),
                               avps[1].value, v));
    // Without the secret, or with another one, the value is not usable.
    ASSERT_TRUE(ParseAvps(w.bytes(), "", &avps));
    EXPECT_EQ(avps.back().problem, AvpProblem::kHiddenNoSecret);
    ASSERT_TRUE(ParseAvps(w.bytes(), "other-secret", &avps));
    EXPECT_TRUE(avps.back().problem != AvpProblem::kNone || avps.back().value != v);
  }
}

TEST(HiddenAvpTest, KnownAnswersComputedWithPythonHashlib) {
  // Generated with python3 hashlib, from the RFC text:
  //   sub = len(v).to_bytes(2,'big') + v + pad
  //   b = md5(type.to_bytes(2,'big') + secret + rv)
  //   per 16-octet block p: c = p ^ b[:len(p)]; b = md5(secret + c)
  Bytes rv;
  for (int i = 0; i < 16; ++i) rv.push_back(uint8_t(i));
  EXPECT_EQ(HideAvpValue(9, "secret", rv, Bytes{0x12, 0x34}), FromHex("be6a0ff3"));
  Bytes name = Str("An example vendor name, long enough for three MD5 blocks.");
  ASSERT_EQ(name.size(), 57u);
  Bytes want = FromHex(
      "165d5c9bbdc26245ec3e5e82e455a41f47ed6e23e7430a74827bb8c4182a06e5dbd16860"
      "f95ec7e45a8d0bc2ea68d3f4a3d62673f02b7c7756573c");
  EXPECT_EQ(HideAvpValue(8, "tunnel-secret", rv, name), want);
  EXPECT_EQ(OracleHide(8, Str("tunnel-secret"), rv, name), want);
  auto back = UnhideAvpValue(8, "tunnel-secret", rv, want);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, name);
  // Padding changes the AVP length, not the recovered value.
  Bytes pad(14, 0);
  Bytes padded = HideAvpValue(14, "k", Bytes(7, 0xAA), Bytes{0xBE, 0xEF}, pad);
  EXPECT_EQ(padded, FromHex("f2f04bbfecadf82977ed0a96068d27f11887"));
  back = UnhideAvpValue(14, "k", Bytes(7, 0xAA), padded);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, (Bytes{0xBE, 0xEF}));
}

TEST(HiddenAvpTest, RejectsBadHiddenAvps) {
  Bytes rv(16, 1);
  // Original length larger than what is there.
  Bytes bogus = HideAvpValue(9, "s", rv, Bytes{1, 2});
  bogus.pop_back();
  EXPECT_FALSE(UnhideAvpValue(9, "s", rv, bogus).has_value());
  EXPECT_FALSE(UnhideAvpValue(9, "s", rv, Bytes{0x00}).has_value());

  // Hidden AVP without a Random Vector before it.
  AvpWriter w(MessageType::kSccrq);
  Bytes hidden = HideAvpValue(9, "s", rv, Bytes{0, 5});
  w.Raw(true, true, 0, 9, hidden);
  w.Raw(true, false, 0, 36, rv);  // too late
  std::vector<Avp> avps;
  ASSERT_TRUE(ParseAvps(w.bytes(), "s", &avps));
  EXPECT_EQ(avps[1].problem, AvpProblem::kHiddenNoVector);

  // The last Random Vector before the AVP is the one used.
  AvpWriter w2(MessageType::kSccrq);
  w2.Raw(true, false, 0, 36, Bytes(16, 9)).Raw(true, false, 0, 36, rv).Raw(true, true, 0, 9, hidden);
  ASSERT_TRUE(ParseAvps(w2.bytes(), "s", &avps));
  EXPECT_EQ(avps[3].problem, AvpProblem::kNone);
  EXPECT_EQ(avps[3].U16(), 5);

  // Host Name MUST NOT be hidden.
  AvpWriter w3(MessageType::kSccrq);
  w3.Raw(true, false, 0, 36, rv).Raw(true, true, 0, 7, HideAvpValue(7, "s", rv, Str("h")));
  ASSERT_TRUE(ParseAvps(w3.bytes(), "s", &avps));
  EXPECT_EQ(avps[2].problem, AvpProblem::kHideForbidden);
}

TEST(ChallengeResponseTest, KnownAnswersComputedWithPythonHashlib) {
  Bytes ch(16, 0x5A);
  EXPECT_EQ(ChallengeResponse(MessageType::kSccrp, "s3cret", ch),
            FromHex("a69f107c9c9b72bf671d43ee1653c973"));
  EXPECT_EQ(ChallengeResponse(MessageType::kScccn, "s3cret", ch),
            FromHex("55fe301eb766082b21a119e51b48d6dc"));
  Bytes in = {2};
  Bytes s = Str("s3cret");
  in.insert(in.end(), s.begin(), s.end());
  in.insert(in.end(), ch.begin(), ch.end());
  EXPECT_EQ(ChallengeResponse(MessageType::kSccrp, "s3cret", ch), Md5(in));
}

TEST(AvpTest, LengthRulesAndReservedBits) {
  // Assigned Tunnel ID is exactly 2 octets.
  AvpWriter w(MessageType::kSccrq);
  w.Raw(true, false, 0, 9, Bytes{1, 2, 3});
  std::vector<Avp> avps;
  ASSERT_TRUE(ParseAvps(w.bytes(), "", &avps));
  EXPECT_EQ(avps[1].problem, AvpProblem::kBadLength);
  EXPECT_FALSE(avps[1].U16().has_value());
  // Host Name needs at least one octet, Sequencing Required none.
  AvpWriter w2(MessageType::kSccrq);
  w2.Raw(true, false, 0, 7, {}).Raw(true, false, 0, 39, Bytes{1});
  ASSERT_TRUE(ParseAvps(w2.bytes(), "", &avps));
  EXPECT_EQ(avps[1].problem, AvpProblem::kBadLength);
  EXPECT_EQ(avps[2].problem, AvpProblem::kBadLength);
  // A reserved bit makes the AVP unrecognized (section 4.1).
  Bytes raw = AvpWriter(MessageType::kHello).bytes();
  raw.insert(raw.end(), {0x84, 0x08, 0, 0, 0, 9, 0, 1});
  ASSERT_TRUE(ParseAvps(raw, "", &avps));
  EXPECT_EQ(avps[1].problem, AvpProblem::kReservedBits);
}

TEST(AvpTest, BrokenFramingIsRejectedAsAWhole) {
  Bytes ok = AvpWriter(MessageType::kHello).bytes();
  std::vector<Avp> avps;
  ASSERT_TRUE(ParseAvps(ok, "", &avps));
  for (size_t cut = 1; cut < ok.size(); ++cut)
    EXPECT_FALSE(ParseAvps(std::span(ok.data(), cut), "", &avps)) << cut;
  Bytes shortlen = {0x80, 0x05, 0, 0, 0, 0};  // Length 5 < header
  EXPECT_FALSE(ParseAvps(shortlen, "", &avps));
  Bytes overrun = {0x80, 0x09, 0, 0, 0, 0, 0, 6};
  EXPECT_FALSE(ParseAvps(overrun, "", &avps));
}

ControlMessage Parse(const Bytes& avps) {
  Bytes m = BuildControlMessage(1, 0, 0, 0, avps);
  ControlMessage cm;
  EXPECT_EQ(ParseControlMessage(m, "", &cm), ParseStatus::kOk);
  return cm;
}

AvpWriter GoodSccrq() {
  AvpWriter w(MessageType::kSccrq);
  w.U16(AvpType::kProtocolVersion, 0x0100)
      .U32(AvpType::kFramingCapabilities, 3)
      .String(AvpType::kHostName, "lac")
      .U16(AvpType::kAssignedTunnelId, 7);
  return w;
}

TEST(ValidateTest, AcceptsACompleteSccrq) {
  ControlMessage m = Parse(GoodSccrq().bytes());
  EXPECT_EQ(m.type, 1);
  EXPECT_EQ(ValidateControlMessage(m).kind, Verdict::kOk);
  EXPECT_EQ(m.U16(AvpType::kAssignedTunnelId), 7);
  EXPECT_EQ(m.Str(AvpType::kHostName), "lac");
}

TEST(ValidateTest, MissingRequiredAvp) {
  AvpWriter w(MessageType::kSccrq);
  w.U16(AvpType::kProtocolVersion, 0x0100).String(AvpType::kHostName, "x");
  Verdict v = ValidateControlMessage(Parse(w.bytes()));
  EXPECT_EQ(v.kind, Verdict::kMissingAvp);
  EXPECT_EQ(v.avp_type, uint16_t(AvpType::kFramingCapabilities));
}

TEST(ValidateTest, UnknownAvpWithMandatoryBitTearsDownWithoutIgnores) {
  AvpWriter w = GoodSccrq();
  w.Raw(false, false, 0, 200, Bytes{1});   // ignored
  w.Raw(false, false, 9, 1, Bytes{1});     // vendor AVP, ignored
  Verdict v = ValidateControlMessage(Parse(w.bytes()));
  EXPECT_EQ(v.kind, Verdict::kOk);
  EXPECT_EQ(v.ignored_avps, 2);
  w.Raw(true, false, 0, 200, Bytes{1});
  v = ValidateControlMessage(Parse(w.bytes()));
  EXPECT_EQ(v.kind, Verdict::kBadMandatoryAvp);
  EXPECT_EQ(v.avp_type, 200);
  EXPECT_EQ(v.error_code, errcode::kUnknownMandatoryAvp);
}

TEST(ValidateTest, MisplacedKnownAvpIsIgnored) {
  AvpWriter w = GoodSccrq();
  w.U16(AvpType::kAssignedSessionId, 3);  // belongs in ICRQ, not SCCRQ
  Verdict v = ValidateControlMessage(Parse(w.bytes()));
  EXPECT_EQ(v.kind, Verdict::kOk);
  EXPECT_EQ(v.ignored_avps, 1);
}

TEST(ValidateTest, UnknownMessageTypeDependsOnItsMBit) {
  Bytes avps = {0x80, 0x08, 0, 0, 0, 0, 0, 50};
  EXPECT_EQ(ValidateControlMessage(Parse(avps)).kind, Verdict::kUnknownMandatoryType);
  avps[0] = 0x00;
  EXPECT_EQ(ValidateControlMessage(Parse(avps)).kind, Verdict::kIgnoreMessage);
}

TEST(ParseControlTest, StructuralFailures) {
  ControlMessage cm;
  Bytes zlb = BuildControlMessage(1, 0, 3, 4, {});
  ASSERT_EQ(ParseControlMessage(zlb, "", &cm), ParseStatus::kOk);
  EXPECT_TRUE(cm.zlb);
  Bytes not_first = {0x80, 0x08, 0, 0, 0, 9, 0, 1};  // Assigned Tunnel ID first
  EXPECT_EQ(ParseControlMessage(BuildControlMessage(1, 0, 0, 0, not_first), "", &cm),
            ParseStatus::kNoMessageType);
  Bytes bad = {0x80, 0x07, 0, 0, 0, 0, 0};
  EXPECT_EQ(ParseControlMessage(BuildControlMessage(1, 0, 0, 0, bad), "", &cm),
            ParseStatus::kNoMessageType);  // length 7 -> Message Type unusable
  Bytes frag = {0x80, 0x08, 0, 0};
  EXPECT_EQ(ParseControlMessage(BuildControlMessage(1, 0, 0, 0, frag), "", &cm),
            ParseStatus::kBadAvpFraming);
  Bytes data = {0x00, 0x02, 0, 1, 0, 1};
  EXPECT_EQ(ParseControlMessage(data, "", &cm), ParseStatus::kNotControl);
}

}  // namespace
}  // namespace vpn::l2tp

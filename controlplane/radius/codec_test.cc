// Known answers: RFC 2865 section 7.1 (PAP) and 7.2 (CHAP) verbatim; the
// accounting (RFC 2866 3) and Disconnect (RFC 5176 3.5, with RFC 3579 3.2
// Message-Authenticator) vectors were computed independently with Python's
// hashlib/hmac.
#include <gtest/gtest.h>

#include "radius_crypto.h"
#include "radius_packet.h"

namespace vpn::radius {
namespace {

Bytes Hex(std::string_view h) {
  auto b = ParseHex(h);
  EXPECT_TRUE(b.has_value()) << h;
  return b ? *b : Bytes{};
}
Authenticator Auth(std::string_view h) {
  Bytes b = Hex(h);
  Authenticator a{};
  std::copy(b.begin(), b.end(), a.begin());
  return a;
}

constexpr char kSecret[] = "xyzzy5461";
constexpr char kRfc71Request[] =
    "01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb 98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d"
    "93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8 01 10 05 06 00 00 00 03";
constexpr char kRfc71Accept[] =
    "02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf 9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00"
    "0e 06 c0 a8 01 03";
constexpr char kRfc72Request[] =
    "01 01 00 47 2a ee 86 f0 8d 0d 55 96 9c a5 97 8e 0d 33 67 a2 01 08 66 6c 6f 70 73 79 03 13 16 e9"
    "75 57 c3 16 18 58 95 f2 93 ff 63 44 07 72 75 04 06 c0 a8 01 10 05 06 00 00 00 14 06 06 00 00 00"
    "02 07 06 00 00 00 01";

TEST(Rfc2865, Section71PapRequestEncodesExactly) {
  Packet p;
  p.code = kAccessRequest;
  p.id = 0;
  p.AddString(kUserName, "nemo");
  p.AddString(kUserPassword, "arctangent");  // plaintext: hidden by EncodeRequest
  p.AddIpv4(kNasIpAddress, 0xc0a80110);
  p.AddU32(kNasPort, 3);
  const Authenticator fixed = Auth("0f403f9473978057bd83d5cb98f4227a");
  Authenticator sent{};
  auto wire = EncodeRequest(p, kSecret, &sent, &fixed);
  ASSERT_TRUE(wire.ok()) << wire.status();
  EXPECT_EQ(HexString(*wire), HexString(Hex(kRfc71Request)));
  EXPECT_EQ(sent, fixed);
}

TEST(Rfc2865, Section71PasswordRevealsAndAcceptVerifies) {
  auto req = Decode(Hex(kRfc71Request));
  ASSERT_TRUE(req.ok()) << req.status();
  ASSERT_EQ(req->attributes.size(), 4u);
  EXPECT_EQ(req->String(kUserName), "nemo");
  EXPECT_EQ(req->U32(kNasIpAddress), 0xc0a80110u);
  EXPECT_EQ(req->U32(kNasPort), 3u);
  auto pw = RevealPassword(req->Find(kUserPassword)->value, kSecret, req->authenticator);
  ASSERT_TRUE(pw.ok());
  EXPECT_EQ(*pw, "arctangent");
  auto wrong = RevealPassword(req->Find(kUserPassword)->value, "other", req->authenticator);
  ASSERT_TRUE(wrong.ok());
  EXPECT_NE(*wrong, "arctangent");

  // Build the Accept ourselves: Service-Type Login, Login-Service Telnet,
  // Login-IP-Host 192.168.1.3.
  Packet acc;
  acc.code = kAccessAccept;
  acc.id = 0;
  acc.AddU32(kServiceType, 1);
  acc.AddU32(15, 0);
  acc.AddIpv4(14, 0xc0a80103);
  auto wire = EncodeResponse(acc, req->authenticator, kSecret);
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ(HexString(*wire), HexString(Hex(kRfc71Accept)));
  std::string why;
  EXPECT_TRUE(VerifyResponse(Hex(kRfc71Accept), req->authenticator, kSecret, false, &why)) << why;
  EXPECT_FALSE(VerifyResponse(Hex(kRfc71Accept), req->authenticator, "xyzzy5460", false, &why));
  EXPECT_FALSE(VerifyResponse(Hex(kRfc71Accept), req->authenticator, kSecret, true, &why))
      << "no Message-Authenticator but one was required";
  Bytes bad = Hex(kRfc71Accept);
  bad.back() ^= 1;
  EXPECT_FALSE(VerifyResponse(bad, req->authenticator, kSecret, false, &why));
  Authenticator other = req->authenticator;
  other[0] ^= 1;
  EXPECT_FALSE(VerifyResponse(Hex(kRfc71Accept), other, kSecret, false, &why));
}

TEST(Rfc2865, Section72ChapPasswordIsMd5OfIdSecretChallenge) {
  auto req = Decode(Hex(kRfc72Request));
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->String(kUserName), "flopsy");
  const Attribute* chap = req->Find(kChapPassword);
  ASSERT_NE(chap, nullptr);
  ASSERT_EQ(chap->value.size(), 17u);
  EXPECT_EQ(chap->value[0], 22);
  // No CHAP-Challenge attribute: the Request Authenticator is the challenge
  // (RFC 2865 5.3). The user's password is "arctangent".
  const uint8_t id = 22;
  const Authenticator want =
      Md5Of({ByteSpan(&id, 1), AsBytes("arctangent"), req->authenticator});
  EXPECT_TRUE(std::equal(want.begin(), want.end(), chap->value.begin() + 1));
  EXPECT_EQ(req->U32(kServiceType), kServiceFramed);
  EXPECT_EQ(req->U32(kFramedProtocol), kFramedProtocolPpp);
  // Re-encoding what we decoded gives the same octets.
  auto again = Encode(*req);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, Hex(kRfc72Request));
}

TEST(Rfc2866, AccountingRequestAuthenticator) {
  Packet p;
  p.code = kAccountingRequest;
  p.id = 7;
  p.AddU32(kAcctStatusType, kAcctStart);
  p.AddString(kUserName, "nemo");
  p.AddString(kAcctSessionId, "0001");
  auto wire = EncodeRequest(p, kSecret);
  ASSERT_TRUE(wire.ok());
  const char kWant[] =
      "040700261338e8dab8e10ed4ede7976bd4287ae228060000000101066e656d6f2c0630303031";
  EXPECT_EQ(HexString(*wire), kWant);
  std::string why;
  EXPECT_TRUE(VerifyRequest(*wire, kSecret, false, &why)) << why;
  EXPECT_FALSE(VerifyRequest(*wire, "nope", false, &why));
}

TEST(Rfc5176, DisconnectRequestAndAckWithMessageAuthenticator) {
  Packet p;
  p.code = kDisconnectRequest;
  p.id = 9;
  p.AddString(kUserName, "nemo");
  p.Add(kMessageAuthenticator, Bytes(16, 0));
  auto wire = EncodeRequest(p, kSecret);
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ(HexString(*wire),
            "2809002c365ed7355aa438e9c376460778036c5401066e656d6f5012930fc61037d5473fe0b704725890"
            "2f21");
  std::string why;
  EXPECT_TRUE(VerifyRequest(*wire, kSecret, true, &why)) << why;
  Bytes tampered = *wire;
  tampered[tampered.size() - 1] ^= 0x80;  // inside the Message-Authenticator
  EXPECT_FALSE(VerifyRequest(tampered, kSecret, false, &why));

  auto req = Decode(*wire);
  ASSERT_TRUE(req.ok());
  Packet ack;
  ack.code = kDisconnectAck;
  ack.id = 9;
  ack.Add(kMessageAuthenticator, Bytes(16, 0));
  auto aw = EncodeResponse(ack, req->authenticator, kSecret);
  ASSERT_TRUE(aw.ok());
  EXPECT_EQ(HexString(*aw),
            "29090026c9eeefe8f0ecf1b06175560e4a7c75c950125cac0ecf10e5d50e1273e46b03a5d696");
  EXPECT_TRUE(VerifyResponse(*aw, req->authenticator, kSecret, true, &why)) << why;
}

TEST(Rfc2865, PasswordHidingLengths) {
  const Authenticator ra = RandomAuthenticator();
  for (size_t n : {0u, 1u, 15u, 16u, 17u, 31u, 32u, 100u, 128u}) {
    const std::string pw(n, 'x');
    auto h = HidePassword(pw, "s3cret", ra);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->size(), std::max<size_t>(16, (n + 15) / 16 * 16));
    auto back = RevealPassword(*h, "s3cret", ra);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, pw);
  }
  EXPECT_FALSE(HidePassword(std::string(129, 'x'), "s", ra).ok());
  EXPECT_FALSE(RevealPassword(Bytes(17, 0), "s", ra).ok());
}

TEST(Rfc2548, MicrosoftVendorAttributesLayout) {
  Packet p;
  p.code = kAccessAccept;
  const std::string s = "S=407A5589115FD0D6209F510FE9C04566932CDA56";
  Bytes v = {0x01};
  v.insert(v.end(), s.begin(), s.end());
  p.AddVendor(kVendorMicrosoft, kMsChap2Success, v);
  auto wire = Encode(p);
  ASSERT_TRUE(wire.ok());
  // Type 26, length 2+4+2+43, Vendor-Id 311, vendor type 26, vendor length 45.
  const Bytes head(wire->begin() + 20, wire->begin() + 28);
  EXPECT_EQ(HexString(head), "1a33000001371a2d");
  auto back = Decode(*wire);
  ASSERT_TRUE(back.ok());
  auto found = back->FindVendor(kVendorMicrosoft, kMsChap2Success);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(AsString(found->subspan(1)), s);
  EXPECT_FALSE(back->FindVendor(kVendorMicrosoft, kMsChapError).has_value());
  EXPECT_FALSE(back->FindVendor(9, kMsChap2Success).has_value());
}

TEST(Codec, SplitsLongEapMessages) {
  Packet p;
  p.code = kAccessRequest;
  Bytes eap(600);
  for (size_t i = 0; i < eap.size(); ++i) eap[i] = uint8_t(i);
  p.AddSplit(kEapMessage, eap);
  EXPECT_EQ(p.FindAll(kEapMessage).size(), 3u);
  auto wire = Encode(p);
  ASSERT_TRUE(wire.ok());
  auto back = Decode(*wire);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->Concat(kEapMessage), eap);
}

TEST(Codec, RejectsInconsistentLengths) {
  Bytes ok = Hex(kRfc71Request);
  EXPECT_TRUE(Decode(ok).ok());
  for (size_t n = 0; n < ok.size(); ++n) {
    EXPECT_FALSE(Decode(ByteSpan(ok).first(n)).ok()) << n;
  }
  Bytes padded = ok;
  padded.push_back(0xee);  // past Length: padding, ignored (RFC 2865 3)
  EXPECT_TRUE(Decode(padded).ok());
  Bytes bad = ok;
  bad[21] = 1;  // attribute length 1
  EXPECT_FALSE(Decode(bad).ok());
  bad = ok;
  bad[21] = 60;  // runs past the packet
  EXPECT_FALSE(Decode(bad).ok());
  bad = ok;
  bad[3] = 19;  // Length below the header
  EXPECT_FALSE(Decode(bad).ok());
  Packet big;
  big.code = kAccessRequest;
  big.Add(kState, Bytes(254, 0));
  EXPECT_FALSE(Encode(big).ok());
  Packet huge;
  huge.code = kAccessRequest;
  for (int i = 0; i < 20; ++i) huge.Add(kState, Bytes(253, 0));
  EXPECT_FALSE(Encode(huge).ok());
}

}  // namespace
}  // namespace vpn::radius

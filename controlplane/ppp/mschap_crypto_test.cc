// Known-answer tests: RFC 2759 section 9.2 (every intermediate value),
// RFC 2433 appendix B.2, RFC 3079 section 3.5.3 (master key), and CHAP-MD5
// against OpenSSL's one-shot MD5 computed here independently.
#include "mschap_crypto.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

namespace vpn::ppp {
namespace {

Bytes Hex(std::string_view spaced) {
  std::string h;
  for (char c : spaced)
    if (c != ' ') h.push_back(c);
  auto b = ParseHex(h);
  EXPECT_TRUE(b.has_value()) << spaced;
  return b.value_or(Bytes{});
}

template <typename T>
Bytes B(const T& a) {
  return Bytes(a.begin(), a.end());
}

TEST(Crypto, LegacyProviderLoads) { EXPECT_TRUE(EnsureCryptoProviders().ok()); }

// RFC 2759 9.2: user "User", password "clientPass".
TEST(MsChapV2, Rfc2759Section92Vectors) {
  const Bytes auth_challenge = Hex("5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28");
  const Bytes peer_challenge = Hex("21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E");
  EXPECT_EQ(Utf16Le("clientPass"),
            Hex("63 00 6C 00 69 00 65 00 6E 00 74 00 50 00 61 00 73 00 73 00"));
  EXPECT_EQ(B(ChallengeHash(peer_challenge, auth_challenge, "User")),
            Hex("D0 2E 43 86 BC E9 12 26"));
  auto hash = NtPasswordHash("clientPass");
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(B(*hash), Hex("44 EB BA 8D 53 12 B8 D6 11 47 44 11 F5 69 89 AE"));
  auto nt = GenerateNtResponse(auth_challenge, peer_challenge, "User", *hash);
  ASSERT_TRUE(nt.ok());
  EXPECT_EQ(B(*nt), Hex("82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 "
                        "42 33 11 4A 3D 85 D6 DF"));
  auto hh = HashNtPasswordHash(*hash);
  ASSERT_TRUE(hh.ok());
  EXPECT_EQ(B(*hh), Hex("41 C0 0C 58 4B D2 D9 1C 40 17 A2 A1 2F A5 9F 3F"));
  auto s = GenerateAuthenticatorResponse(*hash, *nt, peer_challenge,
                                         auth_challenge, "User");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "S=407A5589115FD0D6209F510FE9C04566932CDA56");
  // RFC 3079 3.5.3 MasterKey for the same exchange.
  EXPECT_EQ(B(GetMasterKey(*hh, *nt)),
            Hex("FD EC E3 71 7A 8C 83 8C B3 88 E5 27 AE 3C DD 31"));
  // A different user name changes everything after ChallengeHash.
  auto other = GenerateNtResponse(auth_challenge, peer_challenge, "user", *hash);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(B(*other), B(*nt));
}

// RFC 2433 B.2: password "MyPw", challenge 102DB5DF085D3041.
TEST(MsChapV1, Rfc2433AppendixB2Vectors) {
  EXPECT_EQ(Utf16Le("MyPw"), Hex("4D 00 79 00 50 00 77 00"));
  auto hash = NtPasswordHash("MyPw");
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(B(*hash), Hex("FC 15 6A F7 ED CD 6C 0E DD E3 33 7D 42 7F 4E AC"));
  auto resp = ChallengeResponse(Hex("10 2D B5 DF 08 5D 30 41"), *hash);
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(B(*resp), Hex("4E 9D 3C 8F 9C FD 38 5D 5B F4 D3 24 67 91 95 6C "
                          "A4 C3 51 AB 40 9A 3D 61"));
}

TEST(ChapMd5, MatchesOpenSslOneShot) {
  const Bytes challenge = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  for (uint8_t id : {0, 1, 0x7f, 0xff}) {
    const std::string secret = "s3cr3t-pa55";
    std::string input(1, char(id));
    input += secret;
    input.append(challenge.begin(), challenge.end());
    uint8_t want[16];
    unsigned len = 0;
    ASSERT_EQ(EVP_Digest(input.data(), input.size(), want, &len, EVP_md5(), nullptr), 1);
    EXPECT_EQ(B(ChapMd5Response(id, secret, challenge)), Bytes(want, want + 16));
  }
}

TEST(Utf16, NonAsciiAndInvalidInput) {
  EXPECT_EQ(Utf16Le("\xC3\xA9"), (Bytes{0xE9, 0x00}));             // é
  EXPECT_EQ(Utf16Le("\xE2\x82\xAC"), (Bytes{0xAC, 0x20}));         // €
  EXPECT_EQ(Utf16Le("\xF0\x9F\x98\x80"), (Bytes{0x3D, 0xD8, 0x00, 0xDE}));  // U+1F600
  EXPECT_EQ(Utf16Le("\xC3"), (Bytes{0xC3, 0x00}));                 // truncated
  EXPECT_EQ(Utf16Le("\xE2\x28\xA1"), (Bytes{0xE2, 0, 0x28, 0, 0xA1, 0}));
}

TEST(MsChap, StripNtDomain) {
  EXPECT_EQ(StripNtDomain("CORP\\alice"), "alice");
  EXPECT_EQ(StripNtDomain("alice@sales"), "alice@sales");
}

}  // namespace
}  // namespace vpn::ppp

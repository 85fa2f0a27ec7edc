// Known-answer tests for the primitives and RFC 2409 key derivation. The
// expected values come from independent implementations: RFC 3602 and
// RFC 2202 vectors, and testdata/gen_*_vectors.py (Python hmac/hashlib,
// pow(), the cryptography package).
#include "crypto.h"

#include "gtest/gtest.h"
#include "keys.h"

namespace vpn::ike {
namespace {

TEST(Crypto, AesCbcRfc3602Case1) {
  auto ct = CbcEncrypt(CipherAlg::kAesCbc, FromHex("06a9214036b8a15b512e03d534120006"),
                       FromHex("3dafba429d9eb430b422da802c9fac41"), ToBytes("Single block msg"));
  ASSERT_TRUE(ct.ok());
  EXPECT_EQ(Hex(*ct), "e353779c1079aeb82708942dbe77181a");
  auto pt = CbcDecrypt(CipherAlg::kAesCbc, FromHex("06a9214036b8a15b512e03d534120006"),
                       FromHex("3dafba429d9eb430b422da802c9fac41"), *ct);
  EXPECT_EQ(*pt, ToBytes("Single block msg"));
}

TEST(Crypto, RejectsBadLengths) {
  EXPECT_FALSE(CbcEncrypt(CipherAlg::kAesCbc, Bytes(15), Bytes(16), Bytes(16)).ok());
  EXPECT_FALSE(CbcEncrypt(CipherAlg::kAesCbc, Bytes(16), Bytes(16), Bytes(15)).ok());
  EXPECT_FALSE(CbcEncrypt(CipherAlg::k3desCbc, Bytes(16), Bytes(8), Bytes(8)).ok());
  EXPECT_TRUE(CbcEncrypt(CipherAlg::k3desCbc, Bytes(24, 1), Bytes(8), Bytes(8)).ok());
}

TEST(Crypto, HmacRfc2202) {
  // RFC 2202 test case 2 (HMAC-SHA1 and HMAC-MD5).
  EXPECT_EQ(Hex(Prf(HashAlg::kSha1, ToBytes("Jefe"), ToBytes("what do ya want for nothing?"))),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  EXPECT_EQ(Hex(Prf(HashAlg::kMd5, ToBytes("Jefe"), ToBytes("what do ya want for nothing?"))),
            "750c783e6ab0b503eaa86e310a5db738");
  // RFC 4231 test case 2 (HMAC-SHA256).
  EXPECT_EQ(Hex(Prf(HashAlg::kSha256, ToBytes("Jefe"), ToBytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

struct DhVector {
  DhGroup group;
  const char* priv;
  const char* pub;
  const char* peer_pub;
  const char* shared;
};
const DhVector kDhVectors[] = {
#include "testdata/dh_vectors.inc"
};

TEST(Crypto, DhKnownAnswers) {
  for (const auto& v : kDhVectors) {
    SCOPED_TRACE(DhGroupName(v.group));
    auto dh = DiffieHellman::CreateWithPrivate(v.group, FromHex(v.priv));
    ASSERT_TRUE(dh.ok()) << dh.status();
    EXPECT_EQ(Hex((*dh)->public_value()), v.pub);
    auto s = (*dh)->ComputeShared(FromHex(v.peer_pub));
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(Hex(*s), v.shared);
  }
}

TEST(Crypto, DhRandomPairsAgreeAndBadPeersRejected) {
  for (DhGroup g : {DhGroup::kModp1024, DhGroup::kModp1536, DhGroup::kModp2048,
                    DhGroup::kModp3072, DhGroup::kModp4096, DhGroup::kEcp256, DhGroup::kEcp384}) {
    SCOPED_TRACE(DhGroupName(g));
    auto a = DiffieHellman::Create(g);
    auto b = DiffieHellman::Create(g);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ((*a)->public_value().size(), DhPublicSize(g));
    auto sa = (*a)->ComputeShared((*b)->public_value());
    auto sb = (*b)->ComputeShared((*a)->public_value());
    ASSERT_TRUE(sa.ok() && sb.ok());
    EXPECT_EQ(*sa, *sb);
    // Wrong length, zero, one, p-1 / off-curve points.
    EXPECT_FALSE((*a)->ComputeShared(Bytes(DhPublicSize(g) - 1, 1)).ok());
    EXPECT_FALSE((*a)->ComputeShared(Bytes(DhPublicSize(g), 0)).ok());
    Bytes one(DhPublicSize(g), 0);
    one.back() = 1;
    EXPECT_FALSE((*a)->ComputeShared(one).ok());
    Bytes ff(DhPublicSize(g), 0xff);
    EXPECT_FALSE((*a)->ComputeShared(ff).ok());
  }
}

struct KdfVector {
  const char* name;
  HashAlg hash;
  const char *psk, *ni, *nr, *gxy, *ci, *cr, *gxi, *gxr;
  size_t enc_len, keymat_len;
  const char *spi, *sai, *idii;
  const char *skeyid, *d, *a, *e, *enc, *iv1, *iv2, *keymat, *hash_i, *natd;
};
const KdfVector kKdf[] = {
#include "testdata/kdf_vectors.inc"
};

uint64_t Cookie(const char* hex) { return GetU64(FromHex(hex).data()); }

TEST(Keys, Rfc2409KnownAnswers) {
  for (const auto& v : kKdf) {
    SCOPED_TRACE(v.name);
    Bytes skeyid = SkeyidPsk(v.hash, ToBytes(std::string_view(
                                          reinterpret_cast<const char*>(FromHex(v.psk).data()),
                                          FromHex(v.psk).size())),
                             FromHex(v.ni), FromHex(v.nr));
    EXPECT_EQ(Hex(skeyid), v.skeyid);
    Phase1Keys k = DerivePhase1Keys(v.hash, skeyid, FromHex(v.gxy), Cookie(v.ci), Cookie(v.cr),
                                    v.enc_len);
    EXPECT_EQ(Hex(k.skeyid_d), v.d);
    EXPECT_EQ(Hex(k.skeyid_a), v.a);
    EXPECT_EQ(Hex(k.skeyid_e), v.e);
    EXPECT_EQ(Hex(k.enc_key), v.enc);  // Appendix B when SKEYID_e is short
    size_t bs = v.enc_len == 24 ? 8 : 16;
    EXPECT_EQ(Hex(Phase1Iv(v.hash, FromHex(v.gxi), FromHex(v.gxr), bs)),
              std::string(v.iv1).substr(0, 2 * bs));
    Bytes last(16);
    for (int i = 0; i < 16; ++i) last[i] = 0x40 + i;
    EXPECT_EQ(Hex(Phase2Iv(v.hash, last, 0xa1b2c3d4, bs)), std::string(v.iv2).substr(0, 2 * bs));
    Bytes ni = FromHex(v.ni), nr = FromHex(v.nr);
    EXPECT_EQ(Hex(Keymat(v.hash, k.skeyid_d, std::nullopt, 3, GetU32(FromHex(v.spi).data()), ni,
                         nr, v.keymat_len)),
              v.keymat);
    EXPECT_EQ(Hex(Phase1AuthHash(v.hash, skeyid, FromHex(v.gxi), FromHex(v.gxr), Cookie(v.ci),
                                 Cookie(v.cr), FromHex(v.sai), FromHex(v.idii))),
              v.hash_i);
    uint32_t ip_net;
    const uint8_t ip[4] = {198, 18, 0, 1};
    std::memcpy(&ip_net, ip, 4);
    EXPECT_EQ(Hex(NatDetectionHash(v.hash, Cookie(v.ci), Cookie(v.cr), ip_net, 4500)), v.natd);
  }
}

TEST(Keys, KeymatWithPfsPrependsSharedSecret) {
  Bytes d(20, 1), ni(16, 2), nr(16, 3), g(128, 4);
  Bytes k1 = Keymat(HashAlg::kSha1, d, ByteSpan(g), 3, 0x1234, ni, nr, 40);
  Bytes seed = Concat({g, Bytes{3, 0, 0, 0x12, 0x34}, ni, nr});
  Bytes want1 = Prf(HashAlg::kSha1, d, seed);
  Bytes want2 = Prf(HashAlg::kSha1, d, Concat({want1, seed}));
  EXPECT_EQ(Bytes(k1.begin(), k1.begin() + 20), want1);
  EXPECT_EQ(Bytes(k1.begin() + 20, k1.end()), want2);
}

}  // namespace
}  // namespace vpn::ike

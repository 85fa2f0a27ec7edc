#include "proposal.h"

#include "gtest/gtest.h"

namespace vpn::ike {
namespace {

TEST(Proposal, ParsesConfigStrings) {
  auto a = ParseIkeSuite("aes256-sha1-modp2048");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->cipher, CipherAlg::kAesCbc);
  EXPECT_EQ(a->key_bits, 256);
  EXPECT_EQ(a->key_len(), 32u);
  EXPECT_EQ(a->group, DhGroup::kModp2048);
  EXPECT_EQ(a->ToString(), "aes256-sha1-modp2048");
  EXPECT_EQ(ParseIkeSuite("aes128-sha256-ecp256")->ToString(), "aes128-sha256-ecp256");
  EXPECT_EQ(ParseIkeSuite("3des-sha1-modp1024")->key_len(), 24u);
  EXPECT_FALSE(ParseIkeSuite("aes512-sha1-modp2048").ok());
  EXPECT_FALSE(ParseIkeSuite("aes256-sha1").ok());
  EXPECT_FALSE(ParseIkeSuite("aes256-sha1-modp768").ok());

  auto e = ParseEspSuite("aes128-sha1");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->shm_cipher(), shm::Cipher::kAesCbc);
  EXPECT_EQ(e->shm_integ(false), shm::Integ::kHmacSha1_96);
  EXPECT_EQ(e->cipher_key_len(), 16u);
  EXPECT_EQ(e->integ_key_len(), 20u);
  auto g = ParseEspSuite("aes256gcm16");
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->gcm());
  EXPECT_EQ(g->cipher_key_len() + g->salt_len(), 36u);
  EXPECT_EQ(g->integ_key_len(), 0u);
  auto p = ParseEspSuite("aes256-sha256-modp2048");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p->pfs, DhGroup::kModp2048);
  EXPECT_EQ(p->shm_integ(true), shm::Integ::kHmacSha256_96);
  EXPECT_EQ(p->ToString(), "aes256-sha256-modp2048");
  EXPECT_TRUE(ParseEspSuite("3des-sha1")->weak());
  EXPECT_FALSE(ParseEspSuite("aes128").ok());
  EXPECT_FALSE(ParseEspSuite("aes128-md5").ok());
  EXPECT_FALSE(ParseEspSuite("aes128-sha1-modp2048-x").ok());
  for (const auto& s : Windows11IkeProposals()) EXPECT_TRUE(ParseIkeSuite(s).ok()) << s;
  for (const auto& s : Windows11EspProposals()) EXPECT_TRUE(ParseEspSuite(s).ok()) << s;
}

TEST(Proposal, TransformRoundTrips) {
  for (const auto& s : DefaultIkeProposals()) {
    IkeSuite suite = *ParseIkeSuite(s);
    Lifetime life{28800, std::nullopt};
    auto back = TransformToIkeSuite(IkeSuiteToTransform(suite, 1, life));
    ASSERT_TRUE(back.ok()) << s << back.status();
    EXPECT_EQ(back->suite, suite);
    EXPECT_EQ(back->life.seconds, 28800u);
  }
  for (const auto& s : {"aes128-sha1", "aes256gcm16", "3des-sha1", "aes192-sha512-ecp384"}) {
    EspSuite suite = *ParseEspSuite(s);
    Lifetime life{3600, 250000};
    Transform t = EspSuiteToTransform(suite, 1, encap::kUdpTransport, life);
    auto back = TransformToEspSuite(t.id, t);
    ASSERT_TRUE(back.ok()) << s << back.status();
    EXPECT_EQ(back->suite, suite) << s;
    EXPECT_EQ(back->encap_mode, encap::kUdpTransport);
    EXPECT_EQ(back->life.seconds, 3600u);
    EXPECT_EQ(back->life.kilobytes, 250000u);
  }
}

TEST(Proposal, RejectsOddTransforms) {
  Transform t = IkeSuiteToTransform(*ParseIkeSuite("aes256-sha1-modp2048"), 1, {});
  t.attrs.push_back(Attribute::Tv(5, 1));  // group type: custom groups unsupported
  EXPECT_FALSE(TransformToIkeSuite(t).ok());
  t = IkeSuiteToTransform(*ParseIkeSuite("3des-sha1-modp2048"), 1, {});
  t.attrs.push_back(Attribute::Tv(p1attr::kKeyLength, 192));
  EXPECT_FALSE(TransformToIkeSuite(t).ok());
  Transform e = EspSuiteToTransform(*ParseEspSuite("aes128-sha1"), 1, encap::kTransport, {});
  e.attrs.erase(e.attrs.begin() + 1);  // drop the HMAC: ESP without integrity
  EXPECT_FALSE(TransformToEspSuite(e.id, e).ok());
  // Life duration without a life type.
  Transform l;
  l.id = 12;
  l.attrs = {Attribute::Number(p2attr::kLifeDuration, 5), Attribute::Tv(p2attr::kAuthAlgorithm, 2)};
  EXPECT_FALSE(TransformToEspSuite(12, l).ok());
}

TEST(Proposal, LifetimeDecision) {
  // Asked for 8h, we allow 8h: no notify.
  auto d = DecideLifetime({28800, std::nullopt}, 28800, 0, 300);
  EXPECT_EQ(d.seconds, 28800u);
  EXPECT_FALSE(d.notify);
  // Asked for more than configured: ours and RESPONDER-LIFETIME.
  d = DecideLifetime({86400, std::nullopt}, 28800, 0, 300);
  EXPECT_EQ(d.seconds, 28800u);
  EXPECT_TRUE(d.notify);
  // Configured below the Windows floor: the floor wins.
  d = DecideLifetime({3600, std::nullopt}, 60, 0, 300);
  EXPECT_EQ(d.seconds, 300u);
  EXPECT_TRUE(d.notify);
  // Initiator asking for less is honoured.
  d = DecideLifetime({120, 1000}, 3600, 250000, 300);
  EXPECT_EQ(d.seconds, 120u);
  EXPECT_EQ(d.kilobytes, 1000u);
  EXPECT_FALSE(d.notify);
  d = DecideLifetime({3600, 500000}, 3600, 250000, 300);
  EXPECT_EQ(d.kilobytes, 250000u);
  EXPECT_TRUE(d.notify);
  Lifetime back = ParseLifetimeAttributes(EncodeLifetimeAttributes(d, false), false);
  EXPECT_EQ(back.seconds, 3600u);
  EXPECT_EQ(back.kilobytes, 250000u);
}

}  // namespace
}  // namespace vpn::ike

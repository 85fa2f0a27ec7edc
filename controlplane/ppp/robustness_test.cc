// Fuzz-style robustness: random, truncated and mutated input to every parser
// and to both session types in every phase. Passing means: no crash (run it
// under -Db_sanitize=address,undefined too), every session ends or comes up,
// and no address or user slot outlives its session.
#include <gtest/gtest.h>

#include <random>

#include "auth_method.h"
#include "exchange_harness.h"
#include "ppp_defs.h"

namespace vpn::ppp::testing {
namespace {

using config::AuthMethod;

Bytes RandomBytes(std::mt19937_64& rng, size_t max_len) {
  std::uniform_int_distribution<size_t> len(0, max_len);
  Bytes b(len(rng));
  for (auto& x : b) x = uint8_t(rng());
  return b;
}

Bytes Mutate(std::mt19937_64& rng, Bytes f) {
  switch (rng() % 6) {
    case 0:  // bit flips
      for (int i = 0, n = 1 + int(rng() % 4); i < n && !f.empty(); ++i)
        f[rng() % f.size()] ^= uint8_t(1u << (rng() % 8));
      break;
    case 1:  // truncate
      if (!f.empty()) f.resize(rng() % f.size());
      break;
    case 2:  // random PPP length field
      if (f.size() >= 6) {
        f[4] = uint8_t(rng());
        f[5] = uint8_t(rng());
      }
      break;
    case 3:  // random option length octet
      if (f.size() >= 8) f[7 + rng() % (f.size() - 7)] = uint8_t(rng() % 8);
      break;
    case 4: {  // append junk
      Bytes j = RandomBytes(rng, 40);
      f.insert(f.end(), j.begin(), j.end());
      break;
    }
    default:  // random code / identifier
      if (f.size() >= 4) f[2 + rng() % 2] = uint8_t(rng());
  }
  return f;
}

// A frame of a protocol the sessions parse, with random content.
Bytes RandomFrame(std::mt19937_64& rng) {
  static constexpr uint16_t kProtos[] = {kProtoLcp, kProtoPap,    kProtoChap,
                                         kProtoEap, kProtoIpcp,   kProtoIpv6cp,
                                         kProtoCcp, kProtoIpv4,   0x0001};
  Bytes f;
  PutU16(f, kProtos[rng() % std::size(kProtos)]);
  f.push_back(uint8_t(1 + rng() % 13));
  f.push_back(uint8_t(rng()));
  Bytes body = RandomBytes(rng, 60);
  PutU16(f, uint16_t(4 + body.size() + (rng() % 8 == 0 ? rng() % 5 : 0)));
  f.insert(f.end(), body.begin(), body.end());
  return f;
}

TEST(Robustness, Parsers) {
  std::mt19937_64 rng(20240601);
  for (int i = 0; i < 200000; ++i) {
    const Bytes b = RandomBytes(rng, 48);
    (void)ParseProtocol(b);
    if (auto p = ParseControlPacket(b)) {
      ASSERT_LE(p->data.size() + 4, b.size());
      ASSERT_EQ(p->whole.size(), p->data.size() + 4);
    }
    if (auto o = ParseOptions(b)) {
      size_t total = 0;
      for (const Option& x : *o) {
        ASSERT_GE(x.raw.size(), 2u);
        ASSERT_EQ(x.raw.size(), x.value.size() + 2);
        total += x.raw.size();
      }
      ASSERT_EQ(total, b.size());
    }
    (void)ParseAuthOption(b);
    (void)ParseHex(std::string(b.begin(), b.end()));
  }
}

class SessionFuzz : public ::testing::TestWithParam<AuthMethod> {};

TEST_P(SessionFuzz, MutatedAndRandomFramesInEveryPhase) {
  const AuthMethod m = GetParam();
  // A clean run gives realistic frames of every phase to mutate.
  std::vector<Bytes> corpus[2];
  {
    World w(SmallWorldConfig(m));
    Pair p(w, SmallWorldClient(m));
    p.Start();
    ASSERT_TRUE(p.RunUntilUp());
    p.client->Disconnect("bye");
    ASSERT_TRUE(p.RunUntilBothDown());
    corpus[0] = p.sent(0);
    corpus[1] = p.sent(1);
  }
  std::mt19937_64 rng(0xC0FFEE + static_cast<int>(m));
  int came_up = 0, went_down = 0;
  for (int iter = 0; iter < 400; ++iter) {
    World w(SmallWorldConfig(m));
    // Loss and reordering stretch the handshake so that injected frames
    // land in every phase, not mostly after IPCP is up.
    Impairment imp{0.3, 0.3, rng()};
    auto p = std::make_unique<Pair>(w, SmallWorldClient(m), imp);
    p->Start();
    const double rate = 0.02 + 0.2 * double(rng() % 100) / 100.0;
    std::uniform_real_distribution<double> u(0, 1);
    // Up to 60 simulated seconds, injecting into both ends.
    for (int step = 0; step < 6000; ++step) {
      for (int k = 0; k < 4; ++k) {
        const int side = k & 1;
        if (u(rng) >= rate) continue;
        const std::vector<Bytes>& from = corpus[1 - side];  // what it would get
        Bytes f = (rng() % 4 == 0 || from.empty())
                      ? RandomFrame(rng)
                      : Mutate(rng, from[rng() % from.size()]);
        if (side == 0 && !p->server->finished()) p->server->OnPppFrame(f);
        if (side == 1 && !p->client->finished()) p->client->OnPppFrame(f);
      }
      p->Step();
      if (p->server_down && p->client_down) break;
      if (p->server_up && p->client_up && step > 300) break;
    }
    came_up += p->server_up.has_value();
    went_down += p->server_down.has_value();
    // A finished server holds nothing.
    if (p->server->finished()) {
      EXPECT_EQ(w.pools->leased(), 0u);
      EXPECT_EQ(w.pools->SessionsOf("alice"), 0u);
    } else {
      EXPECT_LE(w.pools->leased(), 1u);
    }
    p.reset();
    EXPECT_EQ(w.pools->leased(), 0u);
    EXPECT_EQ(w.pools->SessionsOf("alice"), 0u);
    EXPECT_EQ(w.timers.pending(), 0u);  // nothing left scheduled
  }
  // The fuzzing must neither always break nor never bite.
  EXPECT_GT(came_up, 0);
  EXPECT_GT(went_down, 0);
}

INSTANTIATE_TEST_SUITE_P(AllMethods, SessionFuzz,
                         ::testing::Values(AuthMethod::kPap, AuthMethod::kChap,
                                           AuthMethod::kMschapV1,
                                           AuthMethod::kMschapV2,
                                           AuthMethod::kEapMd5),
                         [](const auto& info) {
                           std::string n(AuthMethodName(info.param));
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace vpn::ppp::testing

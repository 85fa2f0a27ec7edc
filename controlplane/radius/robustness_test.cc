// Robustness: random, truncated and mutated datagrams into every parser
// (Decode, vendor attributes, the Disconnect listener, reply
// interpretation, the client's reply path). No crash, no leak (ASan build),
// every bad input counted or refused.
#include <gtest/gtest.h>

#include <random>

#include "client.h"
#include "dae_server.h"
#include "radius_authenticator.h"
#include "radius_crypto.h"
#include "test_util.h"

namespace vpn::radius {
namespace {

Bytes Mutate(const Bytes& in, std::mt19937& rng) {
  Bytes b = in;
  std::uniform_int_distribution<int> op(0, 3), byte(0, 255);
  const int n = 1 + int(rng() % 4);
  for (int i = 0; i < n && !b.empty(); ++i) {
    const size_t at = rng() % b.size();
    switch (op(rng)) {
      case 0: b[at] = uint8_t(b[at] + 1 + byte(rng) % 255); break;  // always different
      case 1: b.resize(at); break;
      case 2: b.insert(b.begin() + at, uint8_t(byte(rng))); break;
      case 3: b[at] ^= uint8_t(1u << (rng() % 8)); break;
    }
  }
  // Later operations may undo earlier ones: the result must differ.
  if (b == in) b.back() ^= 0x5a;
  return b;
}

std::vector<Bytes> Seeds() {
  std::vector<Bytes> out;
  Packet a;
  a.code = kAccessAccept;
  a.AddIpv4(kFramedIpAddress, 0x64400001);
  a.AddString(kClass, "OU=x;");
  a.AddU32(kSessionTimeout, 10);
  Bytes ms = {1, 'S', '=', 'A'};
  a.AddVendor(kVendorMicrosoft, kMsChap2Success, ms);
  out.push_back(*Encode(a));
  Packet d;
  d.code = kDisconnectRequest;
  d.AddString(kUserName, "alice");
  d.Add(kMessageAuthenticator, Bytes(16, 0));
  out.push_back(*EncodeRequest(d, "k"));
  Packet r;
  r.code = kAccessReject;
  r.AddVendor(kVendorMicrosoft, kMsChapError, Bytes{1, 'E', '='});
  out.push_back(*Encode(r));
  return out;
}

TEST(Robustness, DecoderAndInterpretersSurviveRandomAndMutatedInput) {
  std::mt19937 rng(2865);
  config::Config cfg;
  ppp::AuthRequest req;
  req.user_name = "u";
  cp::EventLoop loop;
  config::Radius radius;
  radius.servers.push_back(testing::Server(1812, 1813, "k"));
  int disconnects = 0;
  DaeServer dae(loop, radius, [&](const DisconnectRequest&) { return ++disconnects, 1; });
  const sockaddr_in from = [] {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000001);
    return a;
  }();
  const auto seeds = Seeds();
  int decoded = 0;
  for (int i = 0; i < 200000; ++i) {
    Bytes b;
    if (i % 2) {
      b.resize(rng() % 300);
      for (auto& c : b) c = uint8_t(rng());
      if (b.size() >= 4 && i % 4 == 1) {  // plausible header
        b[0] = uint8_t(i % 50);
        b[2] = uint8_t(b.size() >> 8);
        b[3] = uint8_t(b.size());
      }
    } else {
      b = Mutate(seeds[size_t(i) % seeds.size()], rng);
    }
    auto p = Decode(b);
    if (p.ok()) {
      ++decoded;
      for (auto m : {config::AuthMethod::kPap, config::AuthMethod::kMschapV2}) {
        req.method = m;
        Grant g;
        (void)RadiusAuthenticator::InterpretReply(req, *p, cfg, &g);
      }
      for (const Attribute& a : p->attributes)
        if (a.type == kVendorSpecific) (void)ParseVendorSpecific(a.value);
      (void)VerifyResponse(b, Authenticator{}, "k", true, nullptr);
      (void)VerifyRequest(b, "k", false, nullptr);
    }
    (void)dae.Handle(b, from);
  }
  EXPECT_GT(decoded, 1000);
  // Mutations never pass the authenticator check: nothing was torn down.
  EXPECT_EQ(disconnects, 0);
  EXPECT_EQ(dae.counters().acks, 0u);
}

TEST(Robustness, ClientSurvivesMutatedRepliesFromItsServer) {
  cp::EventLoop loop;
  testing::FakeServer server(loop, "k");
  std::mt19937 rng(5176);
  config::Config cfg;
  cfg.radius.servers.push_back(testing::Server(server.port(), 0, "k"));
  cfg.radius.timeout_ms = 20;
  cfg.radius.retries = 1;
  server.handler = [](const Packet&) {
    Packet a;
    a.code = kAccessAccept;
    a.AddString(kClass, "OU=x;");
    a.AddVendor(kVendorMicrosoft, kMsChap2Success, Bytes{1, 'S', '=', '0'});
    return a;
  };
  // Mutated, but keeping the Identifier so the reply reaches the request.
  server.tamper = [&](Bytes b) {
    const uint8_t id = b[1];
    Bytes m;
    do {
      m = Mutate(b, rng);
      if (m.size() > 1) m[1] = id;
    } while (m == b);  // restoring the Identifier may undo the mutation
    return m;
  };
  Client client(loop, cfg.radius);
  ASSERT_TRUE(client.Open().ok());
  RadiusAuthenticator auth(client, cfg);
  constexpr int kRounds = 300;
  int results = 0, successes = 0;
  for (int i = 0; i < kRounds; ++i) {
    ppp::AuthRequest r;
    r.method = config::AuthMethod::kPap;
    r.user_name = "u" + std::to_string(i);
    r.password = "p";
    auth.Authenticate(r, [&](ppp::AuthResult res) {
      ++results;
      successes += res.status == ppp::AuthStatus::kSuccess;
    });
  }
  ASSERT_TRUE(testing::RunUntil(loop, [&] { return results == kRounds; }, absl::Seconds(30)));
  EXPECT_EQ(successes, 0) << "a mutated reply passed the Response Authenticator";
  // Every reply the server sent was refused (or arrived after its request
  // had given up).
  EXPECT_EQ(client.counters().bad_replies + client.counters().unmatched_replies,
            uint64_t(server.answered));
  EXPECT_GT(server.answered, kRounds / 2);
  EXPECT_EQ(client.in_flight(), 0u);
}

}  // namespace
}  // namespace vpn::radius

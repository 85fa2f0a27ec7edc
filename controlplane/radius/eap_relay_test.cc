// EAP pass-through (RFC 3579) without a server: the Access-Request and
// reply interpretation of RadiusAuthenticator, and the PPP server's EAP
// method relaying to a scripted AAA server (our PPP client at the other
// end), including servers that send garbage.
#include <gtest/gtest.h>

#include <random>

#include "ppp/crypto.h"
#include "ppp/exchange_harness.h"
#include "ppp/mschap_crypto.h"
#include "ppp/ppp_defs.h"
#include "radius_authenticator.h"

namespace vpn::radius {
namespace {

using config::AuthMethod;
using ppp::testing::Ip;

config::Config EapConfig() {
  config::Config c;
  c.ppp.local_ip = Ip(100, 64, 0, 1);
  c.ppp.auth_failure_delay_ms = 100;
  c.pools.push_back({"main", Ip(100, 64, 0, 10), Ip(100, 64, 0, 40), 1});
  config::Group def;
  def.pool = "main";
  def.auth = {AuthMethod::kEapMd5};
  c.groups.push_back(def);
  return c;
}

Bytes EapPacket(uint8_t code, uint8_t id, Bytes data) {
  Bytes p = {code, id, 0, 0};
  p.insert(p.end(), data.begin(), data.end());
  p[2] = uint8_t(p.size() >> 8);
  p[3] = uint8_t(p.size());
  return p;
}

TEST(EapRelay, AccessRequestCarriesSplitEapMessageAndState) {
  const config::Config cfg = EapConfig();
  ppp::AuthRequest r;
  r.method = AuthMethod::kEapMd5;
  r.user_name = "alice";
  r.peer = "198.18.0.2:1701 tunnel 1 session 2";
  r.eap_message = EapPacket(2, 9, Bytes(600, 0xAB));  // > 253: three attributes
  r.aaa_state = {1, 2, 3, 4};
  auto p = RadiusAuthenticator::BuildAccessRequest(r, cfg);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->FindAll(kEapMessage).size(), 3u);
  EXPECT_EQ(p->Concat(kEapMessage), r.eap_message);
  ASSERT_NE(p->Find(kState), nullptr);
  EXPECT_EQ(p->Find(kState)->value, r.aaa_state);
  EXPECT_NE(p->Find(kMessageAuthenticator), nullptr);  // RFC 3579 3.2: MUST
  EXPECT_EQ(p->Find(kChapPassword), nullptr);
  // No State on the first round trip.
  r.aaa_state.clear();
  p = RadiusAuthenticator::BuildAccessRequest(r, cfg);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->Find(kState), nullptr);
  // Oversized: refused, not truncated.
  r.eap_message = Bytes(5000, 1);
  EXPECT_FALSE(RadiusAuthenticator::BuildAccessRequest(r, cfg).ok());
}

TEST(EapRelay, RepliesBecomeChallengeSuccessOrFailure) {
  const config::Config cfg = EapConfig();
  ppp::AuthRequest r;
  r.method = AuthMethod::kEapMd5;
  r.user_name = "alice";
  r.eap_message = EapPacket(2, 1, {1, 'a'});
  const Bytes next = EapPacket(1, 2, {4, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
  Packet ch;
  ch.code = kAccessChallenge;
  ch.AddSplit(kEapMessage, next);
  ch.Add(kState, Bytes{9, 9});
  ppp::AuthResult res = RadiusAuthenticator::InterpretReply(r, ch, cfg, nullptr);
  EXPECT_EQ(res.status, ppp::AuthStatus::kChallenge);
  EXPECT_EQ(res.eap_message, next);
  EXPECT_EQ(res.aaa_state, (Bytes{9, 9}));
  // A challenge without EAP, or to a non-EAP request: an error.
  Packet bare;
  bare.code = kAccessChallenge;
  EXPECT_EQ(RadiusAuthenticator::InterpretReply(r, bare, cfg, nullptr).status,
            ppp::AuthStatus::kError);
  ppp::AuthRequest pap = r;
  pap.method = AuthMethod::kPap;
  pap.eap_message.clear();
  EXPECT_EQ(RadiusAuthenticator::InterpretReply(pap, ch, cfg, nullptr).status,
            ppp::AuthStatus::kError);
  // Accept with EAP-Success and a Framed-IP-Address.
  Packet ok;
  ok.code = kAccessAccept;
  ok.AddSplit(kEapMessage, EapPacket(3, 2, {}));
  ok.AddIpv4(kFramedIpAddress, Ip(100, 64, 0, 20));
  res = RadiusAuthenticator::InterpretReply(r, ok, cfg, nullptr);
  EXPECT_EQ(res.status, ppp::AuthStatus::kSuccess);
  EXPECT_EQ(res.static_ip, Ip(100, 64, 0, 20));
  // Accept whose EAP-Message says Failure: not trusted.
  Packet odd;
  odd.code = kAccessAccept;
  odd.AddSplit(kEapMessage, EapPacket(4, 2, {}));
  EXPECT_EQ(RadiusAuthenticator::InterpretReply(r, odd, cfg, nullptr).status,
            ppp::AuthStatus::kError);
  Packet rej;
  rej.code = kAccessReject;
  rej.AddSplit(kEapMessage, EapPacket(4, 2, {}));
  EXPECT_EQ(RadiusAuthenticator::InterpretReply(r, rej, cfg, nullptr).status,
            ppp::AuthStatus::kBadCredentials);
}

// A scripted AAA server: EAP-MD5 with its own challenge and Identifier,
// State checked, like FreeRADIUS's eap module does.
class ScriptedEapServer : public ppp::Authenticator {
 public:
  explicit ScriptedEapServer(std::string password) : password_(std::move(password)) {}
  bool RelaysEap() const override { return true; }
  void Authenticate(const ppp::AuthRequest& r, Done done) override {
    ++rounds;
    seen.push_back(r.eap_message);
    ppp::AuthResult res;
    if (garbage) {
      res.status = ppp::AuthStatus::kChallenge;
      res.eap_message = garbage();
      done(res);
      return;
    }
    const Bytes& m = r.eap_message;
    if (m.size() >= 5 && m[0] == 2 && m[4] == 1) {  // Response/Identity
      identity = std::string(m.begin() + 5, m.end());
      challenge_ = Bytes(16);
      ppp::RandomBytes(challenge_);
      Bytes data = {4, 16};
      data.insert(data.end(), challenge_.begin(), challenge_.end());
      res.status = ppp::AuthStatus::kChallenge;
      // Like FreeRADIUS: the next Identifier follows the Response's (a fixed
      // one collided with our random Identity Identifier 1 time in 256, which
      // the relay rightly refuses: RFC 3748 4.1).
      request_id_ = uint8_t(m[1] + 1);
      res.eap_message = EapPacket(1, request_id_, data);
      res.aaa_state = {0x5e, 0x55};
      done(res);
      return;
    }
    // Response/MD5-Challenge to our Identifier, with our State.
    const ppp::Md5Digest want = ppp::ChapMd5Response(request_id_, password_, challenge_);
    const bool good = m.size() >= 22 && m[0] == 2 && m[1] == request_id_ && m[4] == 4 && m[5] == 16 &&
                      std::equal(want.begin(), want.end(), m.begin() + 6) &&
                      r.aaa_state == Bytes{0x5e, 0x55};
    res.status = good ? ppp::AuthStatus::kSuccess : ppp::AuthStatus::kBadCredentials;
    res.user = identity;
    res.static_ip = good ? Ip(100, 64, 0, 33) : 0;
    done(res);
  }
  int rounds = 0;
  std::string identity;
  std::vector<Bytes> seen;
  std::function<Bytes()> garbage;

 private:
  std::string password_;
  Bytes challenge_;
  uint8_t request_id_ = 0;
};

struct EapRun {
  EapRun(ScriptedEapServer& server, std::string pw) : world(EapConfig()) {
    world.auth = &server;
    ppp::ClientSettings cs;
    cs.user = "alice";
    cs.password = std::move(pw);
    cs.methods = {AuthMethod::kEapMd5};
    pair = std::make_unique<ppp::testing::Pair>(world, cs);
    pair->Start();
  }
  ppp::testing::World world;
  std::unique_ptr<ppp::testing::Pair> pair;
};

TEST(EapRelay, PppServerRelaysTheServersMethodAndIdentifier) {
  ScriptedEapServer server("secret-pw");
  EapRun run(server, "secret-pw");
  ASSERT_TRUE(run.pair->RunUntilUp());
  EXPECT_EQ(server.rounds, 2);  // Identity, then the MD5 response
  EXPECT_EQ(server.identity, "alice");
  EXPECT_EQ(run.pair->server_up->ip, Ip(100, 64, 0, 33));  // the server's address
  EXPECT_EQ(run.pair->client_up->method, AuthMethod::kEapMd5);
}

TEST(EapRelay, WrongPasswordEndsInEapFailure) {
  ScriptedEapServer server("secret-pw");
  EapRun run(server, "not-it");
  ASSERT_TRUE(run.pair->RunUntil([&] { return run.pair->client_down.has_value(); },
                                 absl::Seconds(60)));
  EXPECT_FALSE(run.pair->server_up.has_value());
  EXPECT_NE(run.pair->client_down->find("EAP Failure"), std::string::npos)
      << *run.pair->client_down;
}

TEST(EapRelay, LostRequestsAreRetransmittedToThePeer) {
  // 30% loss on the PPP link: the relayed MD5-Challenge is resent by us
  // (RFC 3748 4.1), the server still sees one answer per round.
  ScriptedEapServer server("secret-pw");
  ppp::testing::World world(EapConfig());
  world.auth = &server;
  ppp::ClientSettings cs;
  cs.user = "alice";
  cs.password = "secret-pw";
  cs.methods = {AuthMethod::kEapMd5};
  ppp::testing::Impairment imp;
  imp.loss = 0.3;
  imp.seed = 7;
  ppp::testing::Pair pair(world, cs, imp);
  pair.Start();
  ASSERT_TRUE(pair.RunUntilUp(absl::Seconds(120)))
      << "server down: " << pair.server_down.value_or("-")
      << " client down: " << pair.client_down.value_or("-") << " rounds " << server.rounds;
  EXPECT_EQ(server.rounds, 2);
}

TEST(EapRelay, GarbageFromTheServerNeverCrashesAndNeverAuthenticates) {
  std::mt19937 rng(2026);
  for (int i = 0; i < 300; ++i) {
    ScriptedEapServer server("pw");
    server.garbage = [&rng] {
      Bytes b(rng() % 40);
      for (auto& x : b) x = uint8_t(rng());
      if (!b.empty() && rng() % 2) b[0] = 1;  // often a Request code
      if (b.size() >= 4 && rng() % 2) {       // often a consistent Length
        b[2] = 0;
        b[3] = uint8_t(b.size());
      }
      return b;
    };
    EapRun run(server, "pw");
    run.pair->RunUntil([&] { return run.pair->server_down.has_value(); }, absl::Seconds(90));
    EXPECT_FALSE(run.pair->server_up.has_value()) << i;
    EXPECT_LE(server.rounds, 64) << i;  // bounded: retransmissions then give up
  }
}

}  // namespace
}  // namespace vpn::radius

// ClientSession <-> ServerSession exchanges for every authentication method,
// address assignment and option cases, with and without loss/reordering.
// Timeouts, silence, asynchronous authentication and IPCP commit timing are
// in exchange_lifetime_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <mutex>
#include <set>

#include "exchange_fixtures.h"
#include "exchange_harness.h"
#include "ppp_defs.h"
#include "vpn/log.h"

namespace vpn::ppp::testing {
namespace {

struct MethodCase {
  AuthMethod method;
  Impairment imp;
};

class AuthExchange : public ::testing::TestWithParam<MethodCase> {};

TEST_P(AuthExchange, RightPasswordComesUp) {
  const MethodCase mc = GetParam();
  config::Config cfg = BaseConfig();
  cfg.groups[0].auth = {mc.method};
  World w(cfg);
  Pair p(w, Client("alice", "alice-pw", {mc.method}), mc.imp);
  p.Start();
  ASSERT_TRUE(p.RunUntilUp()) << "server down: " << p.server_down.value_or("-")
                              << " client down: " << p.client_down.value_or("-");
  EXPECT_EQ(p.server_up->method, mc.method);
  EXPECT_EQ(p.server_up->user, "alice");
  EXPECT_EQ(p.client_up->ip, p.server_up->ip);
  EXPECT_GE(p.server_up->ip, Ip(100, 64, 0, 10));
  EXPECT_LE(p.server_up->ip, Ip(100, 64, 0, 40));
  EXPECT_EQ(p.client_up->peer_ip, Ip(100, 64, 0, 1));
  EXPECT_EQ(p.client_up->dns[0], Ip(10, 0, 0, 53));
  EXPECT_EQ(p.client_up->dns[1], Ip(10, 0, 0, 54));
  EXPECT_EQ(p.server_up->mru, 1400);
  EXPECT_EQ(p.server_up->peer_mru, 1400);
  EXPECT_TRUE(w.pools->InUse(p.server_up->ip));
  EXPECT_EQ(w.pools->counters().auth_success, 1u);
  // Client hangs up: Terminate exchange, both ends finish, address back.
  p.client->Disconnect("user request");
  ASSERT_TRUE(p.RunUntilBothDown());
  EXPECT_EQ(w.pools->leased(), 0u);
  EXPECT_EQ(w.pools->SessionsOf("alice"), 0u);
  // Normally by Terminate-Request; on a lossy link both of the client's
  // Terminate-Requests may be lost and the server learns from L2TP (CDN).
  const bool clean = mc.imp.loss == 0;
  EXPECT_TRUE(p.server_down->find("peer terminated: user request") == 0 ||
              (!clean && p.server_down->find("link down: CDN") == 0))
      << *p.server_down;
}

TEST_P(AuthExchange, WrongPasswordFailsCleanlyAfterDelay) {
  const MethodCase mc = GetParam();
  config::Config cfg = BaseConfig();
  cfg.groups[0].auth = {mc.method};
  World w(cfg);
  Lines().clear();
  log::SetSink(CaptureSink);
  Pair p(w, Client("alice", "wrong", {mc.method}), mc.imp,
         "198.18.0.77:1701 t9 s4");
  const absl::Time t0 = w.timers.Now();
  p.Start();
  ASSERT_TRUE(p.RunUntilBothDown());
  log::SetSink(nullptr);
  EXPECT_FALSE(p.server_up);
  EXPECT_FALSE(p.client_up);
  // With loss the Failure itself may be lost; the server's
  // Terminate-Request (or CDN) then ends the client.
  if (mc.imp.loss == 0) {
    EXPECT_FALSE(p.client->auth_failure().empty());
  }
  EXPECT_NE(p.server_down->find("authentication failed"), std::string::npos)
      << *p.server_down;
  EXPECT_EQ(w.pools->counters().auth_bad_credentials, 1u);
  EXPECT_EQ(w.pools->leased(), 0u);
  EXPECT_GE(w.timers.Now() - t0, absl::Milliseconds(1000));
  bool logged = false;
  for (const auto& l : Lines())
    logged |= l.find("alice") != std::string::npos &&
              l.find("198.18.0.77:1701") != std::string::npos &&
              l.find("failed") != std::string::npos;
  EXPECT_TRUE(logged);
  // The session's end names who tried, not an empty user.
  bool ended_named = false;
  for (const auto& l : Lines())
    ended_named |= l.find("PPP session of user 'alice' ended") != std::string::npos;
  EXPECT_TRUE(ended_named);
}

std::vector<MethodCase> MethodCases() {
  std::vector<MethodCase> v;
  for (AuthMethod m : {AuthMethod::kPap, AuthMethod::kChap, AuthMethod::kMschapV1,
                       AuthMethod::kMschapV2, AuthMethod::kEapMd5}) {
    v.push_back({m, {}});
    for (uint64_t seed : {11, 12, 13}) v.push_back({m, {0.2, 0.2, seed}});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(
    AllMethods, AuthExchange, ::testing::ValuesIn(MethodCases()),
    [](const auto& info) {
      std::string n(AuthMethodName(info.param.method));
      for (char& c : n)
        if (c == '-') c = '_';
      return n + (info.param.imp.loss > 0
                      ? "_lossy" + std::to_string(info.param.imp.seed)
                      : "_clean");
    });

TEST(Exchange, FailureMessagesAreCleanAndDoNotTellUnknownUsersApart) {
  // What each method's client is told (RFC 1334 2.2.2, RFC 1994 4.2, RFC
  // 2433 6, RFC 2759 6, RFC 3748 4.2), for a wrong password and for a user
  // that does not exist: the same, so names cannot be probed.
  const std::pair<AuthMethod, std::string> kExpected[] = {
      {AuthMethod::kPap, "server: Authentication failure"},
      {AuthMethod::kChap, "server: Access denied"},
      {AuthMethod::kMschapV1, "server: E=691 R=0"},
      {AuthMethod::kMschapV2, "server: E=691 R=0 C="},
      {AuthMethod::kEapMd5, "server: EAP Failure"},
  };
  for (const auto& [m, want] : kExpected) {
    std::string seen[2];
    for (int unknown = 0; unknown < 2; ++unknown) {
      config::Config cfg = BaseConfig();
      cfg.groups[0].auth = {m};
      World w(cfg);
      Lines().clear();
      log::SetSink(CaptureSink);
      Pair p(w, Client(unknown ? "mallory" : "alice", "guess", {m}), {},
             "198.18.0.66:1701 t1 s1");
      p.Start();
      ASSERT_TRUE(p.RunUntilBothDown()) << AuthMethodName(m);
      log::SetSink(nullptr);
      seen[unknown] = p.client->auth_failure();
      EXPECT_EQ(seen[unknown].rfind(want, 0), 0u)
          << AuthMethodName(m) << ": " << seen[unknown];
      EXPECT_EQ(w.pools->counters().auth_bad_credentials, 1u);
      // The operator's log names user, peer and the real reason.
      const std::string reason = unknown ? "unknown user" : "wrong password";
      bool logged = false;
      for (const auto& l : Lines())
        logged |= l.find(unknown ? "'mallory'" : "'alice'") != std::string::npos &&
                  l.find("198.18.0.66:1701") != std::string::npos &&
                  l.find(reason) != std::string::npos;
      EXPECT_TRUE(logged) << AuthMethodName(m) << " " << reason;
    }
    if (m == AuthMethod::kMschapV2) {
      // Same apart from the fresh challenge (C=<32 hex>).
      ASSERT_GE(seen[0].size(), 52u);
      ASSERT_GE(seen[1].size(), 52u);
      seen[0].replace(20, 32, "");
      seen[1].replace(20, 32, "");
      EXPECT_NE(seen[0].find("V=3 M=Authentication failure"), std::string::npos)
          << seen[0];
    }
    EXPECT_EQ(seen[0], seen[1]) << AuthMethodName(m);
  }
}

TEST(Exchange, NtHashUserWorksForMsChapAndPapNotMd5) {
  for (AuthMethod m : {AuthMethod::kMschapV1, AuthMethod::kMschapV2, AuthMethod::kPap}) {
    config::Config cfg = BaseConfig();
    cfg.groups[0].auth = {m};
    World w(cfg);
    Pair p(w, Client("User", "clientPass", {m}));
    p.Start();
    EXPECT_TRUE(p.RunUntilUp()) << AuthMethodName(m);
  }
  for (AuthMethod m : {AuthMethod::kChap, AuthMethod::kEapMd5}) {
    config::Config cfg = BaseConfig();
    cfg.groups[0].auth = {m};
    World w(cfg);
    Pair p(w, Client("User", "clientPass", {m}));
    p.Start();
    ASSERT_TRUE(p.RunUntilBothDown()) << AuthMethodName(m);
    EXPECT_FALSE(p.server_up);
    EXPECT_EQ(w.pools->counters().auth_other_failure, 1u);
  }
}

TEST(Exchange, ServerFallsBackToClientsMethodOnNak) {
  config::Config cfg = BaseConfig();
  cfg.groups[0].auth = {AuthMethod::kMschapV2, AuthMethod::kChap, AuthMethod::kPap};
  World w(cfg);
  Pair p(w, Client("alice", "alice-pw", {AuthMethod::kPap}));
  p.Start();
  ASSERT_TRUE(p.RunUntilUp());
  EXPECT_EQ(p.server_up->method, AuthMethod::kPap);
  EXPECT_GE(p.CountSent(1, kProtoLcp, kConfigureNak), 1);
}

TEST(Exchange, MethodOfferedForAnotherGroupIsRefused) {
  // PAP is offered in LCP (group "sales" allows it) but alice's default
  // group allows only MS-CHAPv2.
  World w(BaseConfig());
  Pair p(w, Client("alice", "alice-pw", {AuthMethod::kPap}));
  p.Start();
  ASSERT_TRUE(p.RunUntilBothDown());
  EXPECT_FALSE(p.server_up);
  EXPECT_NE(p.server_down->find("PAP not allowed in group"), std::string::npos)
      << *p.server_down;
  EXPECT_EQ(w.pools->leased(), 0u);
  EXPECT_EQ(w.pools->counters().auth_other_failure, 1u);
}

TEST(Exchange, NoCommonMethodFails) {
  config::Config cfg = BaseConfig();
  cfg.groups[1].auth = {AuthMethod::kMschapV2};  // nobody offers PAP now
  World w(cfg);
  Pair p(w, Client("alice", "alice-pw", {AuthMethod::kPap}));
  p.Start();
  ASSERT_TRUE(p.RunUntilBothDown());
  EXPECT_FALSE(p.server_up);
  EXPECT_NE(p.server_down->find("no common authentication"), std::string::npos)
      << *p.server_down;
  EXPECT_EQ(w.pools->leased(), 0u);
}

TEST(Exchange, MsChapV2ClientRejectsForgedAuthenticatorResponse) {
  struct Forger : Authenticator {
    explicit Forger(Authenticator& in) : inner(in) {}
    void Authenticate(const AuthRequest& r, Done done) override {
      inner.Authenticate(r, [done](AuthResult res) {
        if (!res.mschap2_authenticator_response.empty())
          res.mschap2_authenticator_response[5] ^= 1;
        done(res);
      });
    }
    Authenticator& inner;
  };
  World w(BaseConfig());
  Forger forger(w.local_auth);
  w.auth = &forger;
  Pair p(w, Client("alice", "alice-pw"));
  p.Start();
  ASSERT_TRUE(p.RunUntilBothDown());
  EXPECT_FALSE(p.client_up);
  EXPECT_NE(p.client->auth_failure().find("authenticator response mismatch"),
            std::string::npos)
      << p.client->auth_failure();
  EXPECT_EQ(w.pools->leased(), 0u);
}

TEST(Exchange, DnsAndWinsOnlyWhenConfigured) {
  config::Config cfg = BaseConfig();
  cfg.groups[0].dns.clear();
  World w(cfg);
  ClientSettings cs = Client("alice", "alice-pw");
  cs.ipcp.request_wins = true;
  cs.ipcp.request_vj = true;
  Pair p(w, cs);
  p.Start();
  ASSERT_TRUE(p.RunUntilUp());
  EXPECT_EQ(p.client_up->dns[0], 0u);
  EXPECT_EQ(p.client_up->wins[0], 0u);
  // One Configure-Reject for VJ + DNS + WINS.
  EXPECT_GE(p.CountSent(0, kProtoIpcp, kConfigureReject), 1);

  // Group with WINS (and no DNS): the client gets the WINS address.
  World w2(BaseConfig());
  ClientSettings cs2 = Client("dave@sales", "dave-pw");
  cs2.ipcp.request_wins = true;
  Pair p2(w2, cs2);
  p2.Start();
  ASSERT_TRUE(p2.RunUntilUp());
  EXPECT_EQ(p2.client_up->wins[0], Ip(10, 0, 0, 137));
  EXPECT_EQ(p2.client_up->wins[1], 0u);
  EXPECT_EQ(p2.client_up->dns[0], 0u);
}

TEST(Exchange, UserAtGroupSelectsPoolAndStripsGroup) {
  World w(BaseConfig());
  Pair p(w, Client("dave@sales", "dave-pw"));
  p.Start();
  ASSERT_TRUE(p.RunUntilUp());
  EXPECT_EQ(p.server_up->group, "sales");
  EXPECT_EQ(p.server_up->user, "dave");
  EXPECT_EQ(p.server_up->user_name_as_sent, "dave@sales");
  EXPECT_GE(p.server_up->ip, Ip(100, 64, 1, 1));
  EXPECT_LE(p.server_up->ip, Ip(100, 64, 1, 3));
  // Without strip-group the full name is the user name.
  Pair q(w, Client("erin@eng", "erin-pw"));
  q.Start();
  ASSERT_TRUE(q.RunUntilUp());
  EXPECT_EQ(q.server_up->group, "eng");
  EXPECT_EQ(q.server_up->user, "erin@eng");
  // A user pinned to a group may not pick another one.
  Pair r(w, Client("dave@eng", "dave-pw"));
  r.Start();
  ASSERT_TRUE(r.RunUntilBothDown());
  EXPECT_FALSE(r.server_up);
}

TEST(Exchange, MaxSessionsPerUser) {
  World w(BaseConfig());
  Pair a(w, Client("dave@sales", "dave-pw"));
  a.Start();
  ASSERT_TRUE(a.RunUntilUp());
  Pair b(w, Client("dave@sales", "dave-pw"));
  b.Start();
  ASSERT_TRUE(b.RunUntilBothDown());
  EXPECT_FALSE(b.server_up);
  EXPECT_EQ(w.pools->counters().too_many_sessions, 1u);
  EXPECT_EQ(w.pools->SessionsOf("dave"), 1u);
  a.server->Disconnect("admin");
  ASSERT_TRUE(a.RunUntilBothDown());
  EXPECT_EQ(w.pools->SessionsOf("dave"), 0u);
  Pair c(w, Client("dave@sales", "dave-pw"));
  c.Start();
  EXPECT_TRUE(c.RunUntilUp());
}

TEST(Exchange, PoolExhaustionFailsCleanlyAndRecovers) {
  config::Config cfg = BaseConfig();
  cfg.groups[1].max_sessions_per_user = 0;
  World w(cfg);  // pool "sales" has 3 addresses
  std::vector<std::unique_ptr<Pair>> pairs;
  for (int i = 0; i < 3; ++i) {
    pairs.push_back(std::make_unique<Pair>(w, Client("dave@sales", "dave-pw")));
    pairs.back()->Start();
    ASSERT_TRUE(pairs.back()->RunUntilUp());
  }
  Pair extra(w, Client("dave@sales", "dave-pw"));
  extra.Start();
  ASSERT_TRUE(extra.RunUntilBothDown());
  EXPECT_FALSE(extra.server_up);
  EXPECT_EQ(w.pools->counters().pool_exhausted, 1u);
  EXPECT_EQ(w.pools->leased(), 3u);
  EXPECT_EQ(w.pools->SessionsOf("dave"), 3u);  // the failed one gave its slot back
  const uint32_t freed = pairs[1]->server_up->ip;
  pairs[1]->client->Disconnect("bye");
  ASSERT_TRUE(pairs[1]->RunUntilBothDown());
  Pair again(w, Client("dave@sales", "dave-pw"));
  again.Start();
  ASSERT_TRUE(again.RunUntilUp());
  EXPECT_EQ(again.server_up->ip, freed);
}

TEST(Exchange, StaticAddressAndItsUniqueness) {
  World w(BaseConfig());
  Pair a(w, Client("carol", "carol-pw"));
  a.Start();
  ASSERT_TRUE(a.RunUntilUp());
  EXPECT_EQ(a.server_up->ip, Ip(100, 64, 9, 9));
  EXPECT_EQ(a.client_up->ip, Ip(100, 64, 9, 9));
  Pair b(w, Client("carol", "carol-pw"));
  b.Start();
  ASSERT_TRUE(b.RunUntilBothDown());
  EXPECT_EQ(w.pools->counters().static_address_busy, 1u);
  a.server.reset();  // destroying a live session returns its address
  EXPECT_EQ(w.pools->leased(), 0u);
}

}  // namespace
}  // namespace vpn::ppp::testing

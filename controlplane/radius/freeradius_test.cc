// Integration against a real FreeRADIUS (Debian freeradius 3.2) started by
// the test: PAP, CHAP, EAP-MD5 (as CHAP without pass-through; relayed as
// EAP-Message with Access-Challenge/State round trips, RFC 3579, through the
// PPP server), MS-CHAPv1 and MS-CHAPv2 through RadiusAuthenticator (MS-CHAPv2 also end to end: our PPP client verifies
// the server's S= through ServerSession), reply attributes applied by the
// PPP server (static address, Framed-Pool, Session-Timeout), accounting
// Start / Interim-Update / Stop checked in FreeRADIUS's detail file,
// failover to a second server, accounting records surviving a server
// restart, and Disconnect-Requests sent by FreeRADIUS's radclient.
//
// Exits 77 (meson: SKIP) with a loud message when freeradius is not
// installed (scripts/install-deps.sh installs freeradius freeradius-utils).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "accounting.h"
#include "dae_server.h"
#include "freeradius_harness.h"
#include "ppp/crypto.h"
#include "ppp/exchange_harness.h"
#include "ppp/mschap_crypto.h"
#include "radius_authenticator.h"
#include "test_util.h"

namespace vpn::radius {
namespace {

using config::AuthMethod;
using ppp::testing::Ip;
using testing::Freeradius;
using testing::RunUntil;

constexpr char kSecret[] = "it-shared-secret";
constexpr char kUsers[] = R"(alice Cleartext-Password := "wonderland"
        Framed-IP-Address = 100.64.0.7,
        Session-Timeout = 3600,
        Idle-Timeout = 600,
        Class = "OU=sales;",
        Acct-Interim-Interval = 60
bob Cleartext-Password := "builder"
carol Cleartext-Password := "carol-pw"
        Framed-Pool = "pool-b",
        Session-Timeout = 2
)";

config::Config PppConfig() {
  config::Config c;
  c.ppp.local_ip = Ip(100, 64, 0, 1);
  c.ppp.auth_failure_delay_ms = 100;
  c.pools.push_back({"main", Ip(100, 64, 0, 10), Ip(100, 64, 0, 40), 1});
  c.pools.push_back({"pool-b", Ip(100, 64, 2, 1), Ip(100, 64, 2, 10), 2});
  const std::vector<AuthMethod> all = {AuthMethod::kMschapV2, AuthMethod::kPap, AuthMethod::kChap,
                                       AuthMethod::kMschapV1, AuthMethod::kEapMd5};
  config::Group def;
  def.pool = "main";
  def.auth = all;
  c.groups.push_back(def);
  config::Group sales;
  sales.name = "sales";
  sales.pool = "main";
  sales.auth = all;
  c.groups.push_back(sales);
  c.radius.timeout_ms = 300;
  c.radius.retries = 1;
  c.radius.dead_time_s = 30;
  c.radius.interim_interval_s = 0;
  c.radius.nas_identifier = "it-nas";
  return c;
}

class FreeradiusTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(ppp::EnsureCryptoProviders().ok()); }
  void SetUp() override {
    server_ = std::make_unique<Freeradius>(kSecret, testing::UnusedPort(), testing::UnusedPort(),
                                           kUsers);
    ASSERT_TRUE(server_->Start()) << server_->Log();
    cfg_ = PppConfig();
    cfg_.radius.servers.push_back(
        testing::Server(server_->auth_port(), server_->acct_port(), kSecret));
  }
  void TearDown() override {
    if (HasFailure()) fprintf(stderr, "--- freeradius log tail ---\n%s\n", Tail(server_->Log()).c_str());
  }
  static std::string Tail(const std::string& s) {
    return s.size() > 6000 ? s.substr(s.size() - 6000) : s;
  }
  ppp::AuthResult Auth(RadiusAuthenticator& a, const ppp::AuthRequest& r) {
    std::optional<ppp::AuthResult> out;
    a.Authenticate(r, [&](ppp::AuthResult res) { out = std::move(res); });
    EXPECT_TRUE(RunUntil(loop_, [&] { return out.has_value(); }, absl::Seconds(10)));
    return out.value_or(ppp::AuthResult{});
  }
  static ppp::AuthRequest Request(AuthMethod m, const std::string& user) {
    ppp::AuthRequest r;
    r.method = m;
    r.user_name = user;
    r.peer = "198.18.0.9:1701 tunnel 1 session 1";
    return r;
  }

  cp::EventLoop loop_;
  config::Config cfg_;
  std::unique_ptr<Freeradius> server_;
};

TEST_F(FreeradiusTest, PapAcceptCarriesAttributesAndWrongPasswordIsRejected) {
  Client client(loop_, cfg_.radius);
  ASSERT_TRUE(client.Open().ok());
  RadiusAuthenticator auth(client, cfg_);
  ppp::AuthRequest r = Request(AuthMethod::kPap, "alice");
  r.password = "wonderland";
  ppp::AuthResult res = Auth(auth, r);
  EXPECT_EQ(res.status, ppp::AuthStatus::kSuccess) << res.message;
  EXPECT_EQ(res.static_ip, Ip(100, 64, 0, 7));
  EXPECT_EQ(res.session_timeout_s, 3600u);
  EXPECT_EQ(res.idle_timeout_s, 600u);
  EXPECT_EQ(res.group, "sales");
  auto grant = auth.TakeGrant(r.peer);
  ASSERT_TRUE(grant.has_value());
  EXPECT_EQ(grant->interim_interval_s, 60u);
  r.password = "wonderlanD";
  res = Auth(auth, r);
  EXPECT_EQ(res.status, ppp::AuthStatus::kBadCredentials);
  ppp::AuthRequest unknown = Request(AuthMethod::kPap, "mallory");
  unknown.password = "x";
  EXPECT_EQ(Auth(auth, unknown).status, ppp::AuthStatus::kBadCredentials);
}

TEST_F(FreeradiusTest, ChapAndEapMd5) {
  Client client(loop_, cfg_.radius);
  ASSERT_TRUE(client.Open().ok());
  RadiusAuthenticator auth(client, cfg_);
  for (AuthMethod m : {AuthMethod::kChap, AuthMethod::kEapMd5}) {
    ppp::AuthRequest r = Request(m, "bob");
    r.chap_id = 0x37;
    r.challenge = Bytes(16);
    ppp::RandomBytes(r.challenge);
    const ppp::Md5Digest d = ppp::ChapMd5Response(r.chap_id, "builder", r.challenge);
    r.response.assign(d.begin(), d.end());
    EXPECT_EQ(Auth(auth, r).status, ppp::AuthStatus::kSuccess) << ppp::AuthMethodName(m);
    r.response[3] ^= 1;
    EXPECT_EQ(Auth(auth, r).status, ppp::AuthStatus::kBadCredentials) << ppp::AuthMethodName(m);
  }
}

TEST_F(FreeradiusTest, MsChapV1AndV2WithServerComputedAuthenticatorResponse) {
  Client client(loop_, cfg_.radius);
  ASSERT_TRUE(client.Open().ok());
  RadiusAuthenticator auth(client, cfg_);
  auto hash = ppp::NtPasswordHash("builder");
  ASSERT_TRUE(hash.ok());

  ppp::AuthRequest v1 = Request(AuthMethod::kMschapV1, "bob");
  v1.chap_id = 5;
  v1.challenge = Bytes(8);
  ppp::RandomBytes(v1.challenge);
  auto r1 = ppp::ChallengeResponse(v1.challenge, *hash);
  ASSERT_TRUE(r1.ok());
  v1.response.assign(r1->begin(), r1->end());
  EXPECT_EQ(Auth(auth, v1).status, ppp::AuthStatus::kSuccess);

  ppp::AuthRequest v2 = Request(AuthMethod::kMschapV2, "bob");
  v2.chap_id = 9;
  v2.challenge = Bytes(16);
  v2.peer_challenge = Bytes(16);
  ppp::RandomBytes(v2.challenge);
  ppp::RandomBytes(v2.peer_challenge);
  auto nt = ppp::GenerateNtResponse(v2.challenge, v2.peer_challenge, "bob", *hash);
  ASSERT_TRUE(nt.ok());
  v2.response.assign(nt->begin(), nt->end());
  ppp::AuthResult res = Auth(auth, v2);
  ASSERT_EQ(res.status, ppp::AuthStatus::kSuccess) << res.message;
  auto want = ppp::GenerateAuthenticatorResponse(*hash, v2.response, v2.peer_challenge,
                                                 v2.challenge, "bob");
  ASSERT_TRUE(want.ok());
  EXPECT_EQ(res.mschap2_authenticator_response, *want);  // FreeRADIUS's S= is RFC 2759's
  v2.response[0] ^= 1;
  res = Auth(auth, v2);
  EXPECT_EQ(res.status, ppp::AuthStatus::kBadCredentials);
  EXPECT_NE(res.message.find("E=691"), std::string::npos) << res.message;  // MS-CHAP-Error
}

// Our PPP client against ServerSession with the RADIUS authenticator: the
// client only comes up if FreeRADIUS's S= verifies (RFC 2759 5).
struct PppRun {
  PppRun(cp::EventLoop& loop, const config::Config& cfg, Client& client, std::string user,
         std::string pw, AuthMethod m)
      : loop(loop), client(client), world(cfg), auth(client, world.config) {
    world.auth = &auth;
    ppp::ClientSettings cs;
    cs.user = std::move(user);
    cs.password = std::move(pw);
    cs.methods = {m};
    pair = std::make_unique<ppp::testing::Pair>(world, cs);
    pair->Start();
  }
  // Interleaves PPP steps (10 ms simulated each) with the real event loop.
  template <typename Pred>
  bool RunUntil(Pred done, int max_steps = 3000) {
    for (int i = 0; i < max_steps && !done(); ++i) {
      pair->Step();
      // The real loop only matters while a RADIUS request is out.
      if (client.in_flight()) {
        testing::RunUntil(loop, [&] { return client.in_flight() == 0; }, absl::Seconds(5));
      }
    }
    return done();
  }
  cp::EventLoop& loop;
  Client& client;
  ppp::testing::World world;
  RadiusAuthenticator auth;
  std::unique_ptr<ppp::testing::Pair> pair;
};

TEST_F(FreeradiusTest, PppClientUpThroughRadiusWithEachMethod) {
  Client client(loop_, cfg_.radius);
  ASSERT_TRUE(client.Open().ok());
  for (AuthMethod m : {AuthMethod::kMschapV2, AuthMethod::kPap, AuthMethod::kChap,
                       AuthMethod::kMschapV1, AuthMethod::kEapMd5}) {
    PppRun run(loop_, cfg_, client, "bob", "builder", m);
    ASSERT_TRUE(run.RunUntil([&] { return run.pair->server_up && run.pair->client_up; }))
        << ppp::AuthMethodName(m);
    EXPECT_EQ(run.pair->client_up->method, m);
    EXPECT_GE(run.pair->server_up->ip, Ip(100, 64, 0, 10));  // from the group pool
    EXPECT_LE(run.pair->server_up->ip, Ip(100, 64, 0, 40));
  }
  // A wrong password: the client is refused.
  PppRun bad(loop_, cfg_, client, "bob", "wrong", AuthMethod::kMschapV2);
  ASSERT_TRUE(bad.RunUntil([&] { return bad.pair->client_down.has_value(); }));
  EXPECT_FALSE(bad.pair->server_up.has_value());
}

// RFC 3579 pass-through: the PPP server asks for the Identity, FreeRADIUS
// (default_eap_type md5) chooses the method and sends the MD5-Challenge in
// an Access-Challenge; our PPP client answers it, the answer goes back with
// the server's State, and Access-Accept (EAP-Success) brings the link up
// with the Accept's attributes applied.
TEST_F(FreeradiusTest, EapPassThroughRelaysTheServersChallenge) {
  Client client(loop_, cfg_.radius);
  ASSERT_TRUE(client.Open().ok());
  PppRun a(loop_, cfg_, client, "alice", "wonderland", AuthMethod::kEapMd5);
  ASSERT_TRUE(a.RunUntil([&] { return a.pair->server_up && a.pair->client_up; }))
      << Tail(server_->Log());
  EXPECT_EQ(a.pair->client_up->method, AuthMethod::kEapMd5);
  EXPECT_EQ(a.pair->server_up->ip, Ip(100, 64, 0, 7));  // Framed-IP-Address applied
  EXPECT_EQ(a.pair->server_up->group, "sales");
  // Identity -> Access-Challenge (MD5-Challenge), response -> Access-Accept.
  EXPECT_EQ(a.auth.counters().challenges, 1u);
  EXPECT_EQ(a.auth.counters().accepts, 1u);
  const std::string log = server_->Log();
  EXPECT_NE(log.find("Sent Access-Challenge"), std::string::npos);
  EXPECT_NE(log.find("eap_md5"), std::string::npos) << Tail(log);
  EXPECT_NE(log.find("State = 0x"), std::string::npos);  // echoed back to the server

  // A wrong password: the server's Access-Reject ends it with EAP Failure.
  PppRun bad(loop_, cfg_, client, "alice", "wrong", AuthMethod::kEapMd5);
  ASSERT_TRUE(bad.RunUntil([&] { return bad.pair->client_down.has_value(); }));
  EXPECT_FALSE(bad.pair->server_up.has_value());
  EXPECT_NE(bad.pair->client_down->find("EAP Failure"), std::string::npos)
      << *bad.pair->client_down;
  EXPECT_EQ(bad.auth.counters().challenges, 1u);
  EXPECT_EQ(bad.auth.counters().rejects, 1u);
}

TEST_F(FreeradiusTest, ReplyAttributesReachThePppServer) {
  Client client(loop_, cfg_.radius);
  ASSERT_TRUE(client.Open().ok());
  // alice: Framed-IP-Address 100.64.0.7, Class OU=sales.
  PppRun a(loop_, cfg_, client, "alice", "wonderland", AuthMethod::kMschapV2);
  ASSERT_TRUE(a.RunUntil([&] { return a.pair->server_up && a.pair->client_up; }));
  EXPECT_EQ(a.pair->server_up->ip, Ip(100, 64, 0, 7));
  EXPECT_EQ(a.pair->client_up->ip, Ip(100, 64, 0, 7));
  EXPECT_EQ(a.pair->server_up->group, "sales");
  // carol: Framed-Pool pool-b, Session-Timeout 2 s (simulated time).
  PppRun c(loop_, cfg_, client, "carol", "carol-pw", AuthMethod::kPap);
  ASSERT_TRUE(c.RunUntil([&] { return c.pair->server_up && c.pair->client_up; }));
  EXPECT_GE(c.pair->server_up->ip, Ip(100, 64, 2, 1));
  EXPECT_LE(c.pair->server_up->ip, Ip(100, 64, 2, 10));
  ASSERT_TRUE(c.RunUntil([&] { return c.pair->server_down.has_value(); }, 600));
  EXPECT_NE(c.pair->server_down->find("session timeout"), std::string::npos)
      << *c.pair->server_down;
}

std::string WaitForDetail(cp::EventLoop& loop, Freeradius& s, const std::string& needle,
                          int count = 1) {
  std::string d;
  RunUntil(loop, [&] {
    d = s.Detail();
    int n = 0;
    for (size_t p = d.find(needle); p != std::string::npos; p = d.find(needle, p + 1)) ++n;
    return n >= count;
  }, absl::Seconds(10));
  return d;
}

TEST_F(FreeradiusTest, AccountingStartInterimStopInDetailFile) {
  Client client(loop_, cfg_.radius);
  ASSERT_TRUE(client.Open().ok());
  Accounting acct(loop_, client, cfg_.radius);
  AcctSession s;
  s.session_id = "IT-0001";
  s.user_name = "alice";
  s.framed_ip = Ip(100, 64, 0, 7);
  s.calling_station = "198.18.0.9";
  s.classes = {Bytes{'O', 'U', '=', 's', 'a', 'l', 'e', 's', ';'}};
  Usage u{(uint64_t(2) << 32) + 12345, 67890, 111, 222};
  acct.Start(1, s, [&] { return u; }, 1);
  ASSERT_TRUE(RunUntil(loop_, [&] { return acct.counters().acknowledged >= 2; },
                       absl::Seconds(10)));
  acct.Stop(1, kTermUserRequest, u);
  ASSERT_TRUE(RunUntil(loop_, [&] { return acct.queued() == 0; }, absl::Seconds(10)));
  const std::string d = WaitForDetail(loop_, *server_, "Acct-Status-Type = Stop");
  EXPECT_NE(d.find("Acct-Status-Type = Start"), std::string::npos) << d;
  EXPECT_NE(d.find("Acct-Status-Type = Interim-Update"), std::string::npos) << d;
  EXPECT_NE(d.find("Acct-Session-Id = \"IT-0001\""), std::string::npos) << d;
  EXPECT_NE(d.find("Acct-Input-Octets = 12345"), std::string::npos) << d;
  EXPECT_NE(d.find("Acct-Input-Gigawords = 2"), std::string::npos) << d;
  EXPECT_NE(d.find("Acct-Output-Octets = 67890"), std::string::npos) << d;
  EXPECT_NE(d.find("Acct-Input-Packets = 111"), std::string::npos) << d;
  EXPECT_NE(d.find("Acct-Output-Packets = 222"), std::string::npos) << d;
  EXPECT_NE(d.find("Acct-Terminate-Cause = User-Request"), std::string::npos) << d;
  EXPECT_NE(d.find("Framed-IP-Address = 100.64.0.7"), std::string::npos) << d;
  EXPECT_NE(d.find("NAS-Identifier = \"it-nas\""), std::string::npos) << d;
  EXPECT_NE(d.find("Class = 0x4f553d73616c65733b"), std::string::npos) << d;
}

TEST_F(FreeradiusTest, FailoverToSecondServerWhenFirstIsDown) {
  config::Config cfg = cfg_;
  cfg.radius.servers.insert(cfg.radius.servers.begin(),
                            testing::Server(testing::UnusedPort(), testing::UnusedPort(), kSecret));
  Client client(loop_, cfg.radius);
  ASSERT_TRUE(client.Open().ok());
  RadiusAuthenticator auth(client, cfg);
  ppp::AuthRequest r = Request(AuthMethod::kPap, "bob");
  r.password = "builder";
  EXPECT_EQ(Auth(auth, r).status, ppp::AuthStatus::kSuccess);
  EXPECT_TRUE(client.ServerDead(0, Service::kAuth));
  EXPECT_EQ(client.counters().failovers, 1u);
  const auto sent = client.counters().transmissions;
  EXPECT_EQ(Auth(auth, r).status, ppp::AuthStatus::kSuccess);
  EXPECT_EQ(client.counters().transmissions, sent + 1) << "dead server skipped";
  // Accounting fails over the same way.
  Accounting acct(loop_, client, cfg.radius);
  AcctSession s;
  s.session_id = "IT-FAILOVER";
  s.user_name = "bob";
  acct.Start(7, s, nullptr);
  ASSERT_TRUE(RunUntil(loop_, [&] { return acct.queued() == 0; }, absl::Seconds(10)));
  WaitForDetail(loop_, *server_, "IT-FAILOVER");
  EXPECT_NE(server_->Detail().find("IT-FAILOVER"), std::string::npos);
}

TEST_F(FreeradiusTest, AccountingRecordsSurviveServerRestartWithinRetryWindow) {
  cfg_.radius.dead_time_s = 1;
  cfg_.radius.acct_max_age_s = 120;
  Client client(loop_, cfg_.radius);
  ASSERT_TRUE(client.Open().ok());
  Accounting acct(loop_, client, cfg_.radius);
  server_->Stop();
  constexpr int kSessions = 4;
  for (int k = 0; k < kSessions; ++k) {
    AcctSession s;
    s.session_id = absl::StrFormat("IT-OUTAGE-%d", k);
    s.user_name = "bob";
    acct.Start(uint64_t(k), s, nullptr);
    acct.Stop(uint64_t(k), kTermLostCarrier, Usage{1000u + uint64_t(k), 0, 1, 0});
  }
  testing::RunFor(loop_, absl::Seconds(2));
  EXPECT_EQ(acct.queued(), size_t(2 * kSessions));
  EXPECT_GT(acct.counters().retry_rounds, 0u);
  ASSERT_TRUE(server_->Start()) << server_->Log();
  ASSERT_TRUE(RunUntil(loop_, [&] { return acct.queued() == 0; }, absl::Seconds(20)));
  EXPECT_EQ(acct.counters().dropped_expired, 0u);
  const std::string d = WaitForDetail(loop_, *server_, "Acct-Status-Type = Stop", kSessions);
  for (int k = 0; k < kSessions; ++k) {
    EXPECT_NE(d.find(absl::StrFormat("Acct-Session-Id = \"IT-OUTAGE-%d\"", k)), std::string::npos);
  }
  EXPECT_NE(d.find("Acct-Terminate-Cause = Lost-Carrier"), std::string::npos);
  EXPECT_NE(d.find("Acct-Delay-Time = "), std::string::npos);
}

// radclient (freeradius-utils) as the Disconnect-Request sender.
std::string RunRadclient(const std::string& attrs, uint16_t port, const std::string& secret,
                         int* rc) {
  const std::string cmd = absl::StrFormat(
      "printf '%%s\\n' '%s' | timeout 20 radclient -x -r 1 -t 3 127.0.0.1:%d disconnect '%s' 2>&1",
      attrs, port, secret);
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return "popen failed";
  char buf[512];
  while (fgets(buf, sizeof(buf), f)) out += buf;
  *rc = pclose(f);
  return out;
}

TEST_F(FreeradiusTest, RadclientDisconnectRequestTearsSessionDown) {
  std::vector<DisconnectRequest> asked;
  int torn = 0;
  DaeServer dae(loop_, cfg_.radius, [&](const DisconnectRequest& d) {
    asked.push_back(d);
    if (d.user_name == "alice" || d.acct_session_id == "IT-0042") return ++torn, 1;
    return 0;
  });
  ASSERT_TRUE(dae.Open(testing::UnusedPort()).ok());
  // radclient blocks: run it on a thread while our loop serves.
  auto ask = [&](const std::string& attrs, const std::string& secret) {
    std::string out;
    int rc = -1;
    std::atomic<bool> finished{false};
    std::thread t([&] {
      out = RunRadclient(attrs, dae.port(), secret, &rc);
      finished = true;
    });
    RunUntil(loop_, [&] { return finished.load(); }, absl::Seconds(30));
    t.join();
    return std::make_pair(out, rc);
  };
  auto [ack, rc1] = ask("User-Name = \"alice\"", kSecret);
  EXPECT_NE(ack.find("Disconnect-ACK"), std::string::npos) << ack;
  EXPECT_EQ(rc1, 0) << ack;
  EXPECT_EQ(torn, 1);
  auto [ack2, rc2] = ask("Acct-Session-Id = \"IT-0042\"", kSecret);
  EXPECT_NE(ack2.find("Disconnect-ACK"), std::string::npos) << ack2;
  auto [nak, rc3] = ask("User-Name = \"nobody\"", kSecret);
  EXPECT_NE(nak.find("Disconnect-NAK"), std::string::npos) << nak;
  EXPECT_NE(nak.find("Session-Context-Not-Found"), std::string::npos) << nak;
  // Wrong secret: silently discarded, radclient times out, nothing happens.
  auto [silent, rc4] = ask("User-Name = \"alice\"", "wrong-secret");
  EXPECT_EQ(silent.find("Disconnect-ACK"), std::string::npos) << silent;
  EXPECT_NE(rc4, 0);
  EXPECT_EQ(torn, 2);
  EXPECT_GE(dae.counters().bad_authenticator, 1u);
}

}  // namespace
}  // namespace vpn::radius

int main(int argc, char** argv) {
  if (!vpn::radius::testing::FreeradiusInstalled()) {
    fprintf(stderr,
            "\n*** SKIPPED: %s not found. Install Debian's freeradius and freeradius-utils\n"
            "*** (scripts/install-deps.sh test) to run the RADIUS integration tests.\n\n",
            vpn::radius::testing::FreeradiusBinary());
    return 77;  // meson: SKIP
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

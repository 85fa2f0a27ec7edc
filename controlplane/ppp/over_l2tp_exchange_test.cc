// The whole stack in one process: our LAC + PPP client (ClientSession)
// against the LNS + PPP server (ServerSession) over the fake network of the
// L2TP exchange tests, which drops, duplicates and delays (reorders)
// individual L2TP messages. Every authentication method, wrong passwords,
// pool exhaustion and per-user limits across tunnels, IPsec SA loss (DPD),
// a silent peer and shutdown, each checked down to the last address lease.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "../l2tp/exchange_harness.h"
#include "address_pool.h"
#include "authenticator.h"
#include "client_session.h"
#include "ppp_defs.h"
#include "server_session.h"
#include "vpn/log.h"

namespace vpn::ppp::testing {
namespace {

using config::AuthMethod;
using l2tp::Lac;
using l2tp::LacTunnelState;
using l2tp::Lns;
using l2tp::MessageType;
using l2tp::testing::Dir;
using l2tp::testing::Net;
using l2tp::testing::Wire;

constexpr uint32_t Ip(int a, int b, int c, int d) {
  return uint32_t(a) << 24 | uint32_t(b) << 16 | uint32_t(c) << 8 | uint32_t(d);
}

config::Config StackConfig() {
  config::Config c;
  c.l2tp.hello_interval_s = 60;
  c.l2tp.hostname = "lns.test";
  c.ppp.local_ip = Ip(100, 64, 0, 1);
  c.ppp.auth_failure_delay_ms = 1000;
  c.pools.push_back({"main", Ip(100, 64, 0, 10), Ip(100, 64, 0, 40), 1});
  c.pools.push_back({"tiny", Ip(100, 64, 1, 1), Ip(100, 64, 1, 2), 2});
  config::Group def;
  def.pool = "main";
  def.dns = {Ip(10, 0, 0, 53)};
  c.groups.push_back(def);
  config::Group tiny;  // two addresses, one session per user
  tiny.name = "tiny";
  tiny.pool = "tiny";
  tiny.max_sessions_per_user = 1;
  c.groups.push_back(tiny);
  for (const char* name : {"alice", "bob", "carol"}) {
    config::User u;
    u.name = name;
    u.password = std::string(name) + "-pw";
    c.users.push_back(u);
  }
  return c;
}

// What one side's PPP session reported, kept after the session is gone.
struct PppRecord {
  std::optional<NetworkUp> server_up;
  std::optional<ClientUp> client_up;
  std::optional<std::string> down;
  bool destroyed = false;
  cp::L2tpSessionInfo info;
};

// Owns a PPP session as the L2TP side's endpoint (the daemon's
// PinnedPppEndpoint does the same) and starts it once attached.
template <typename Session>
class Owned : public cp::PppEndpoint {
 public:
  Owned(std::unique_ptr<Session> s, std::shared_ptr<PppRecord> rec,
        cp::TimerQueue& timers)
      : s_(std::move(s)), rec_(std::move(rec)), alive_(std::make_shared<bool>(true)) {
    Session* raw = s_.get();
    std::weak_ptr<bool> alive = alive_;
    timers.Schedule(absl::ZeroDuration(), [raw, alive] {
      if (!alive.expired()) raw->Start();
    });
  }
  ~Owned() override { rec_->destroyed = true; }
  void OnPppFrame(std::span<const uint8_t> f) override { s_->OnPppFrame(f); }
  void OnLinkDown(std::string_view r) override { s_->OnLinkDown(r); }

 private:
  std::unique_ptr<Session> s_;
  std::shared_ptr<PppRecord> rec_;
  std::shared_ptr<bool> alive_;
};

struct Impair {
  double loss = 0;       // per L2TP message
  double reorder = 0;    // delayed by 300 ms, so overtaken
  double duplicate = 0;
  bool data_too = false; // also PPP frames (data messages), not only control
  uint64_t seed = 1;
};

class StackTest : public ::testing::Test {
 protected:
  explicit StackTest(config::Config c = StackConfig()) : cfg(std::move(c)) {}
  ~StackTest() override {
    net.fate = nullptr;
    for (auto& c : net.clients) c.lac = nullptr;
    lacs.clear();
    lns.reset();
  }

  void Start(Impair imp = {}) {
    auto r = PoolRegistry::Create(cfg);
    ASSERT_TRUE(r.ok()) << r.status();
    pools = *std::move(r);
    auth = std::make_unique<LocalAuthenticator>(cfg);
    rng.seed(imp.seed);
    if (imp.loss > 0 || imp.reorder > 0 || imp.duplicate > 0) {
      net.fate = [this, imp](const Wire& w) {
        if (!w.control && !imp.data_too) return Net::Fate::kDeliver;
        if (silent_client >= 0 && w.dir == Dir::kToLns && w.client == silent_client)
          return Net::Fate::kDrop;
        const double u = std::uniform_real_distribution<double>(0, 1)(rng);
        if (u < imp.loss) return Net::Fate::kDrop;
        if (u < imp.loss + imp.reorder) return Net::Fate::kDelay;
        if (u < imp.loss + imp.reorder + imp.duplicate) return Net::Fate::kDuplicate;
        return Net::Fate::kDeliver;
      };
    } else {
      net.fate = [this](const Wire& w) {
        return silent_client >= 0 && w.dir == Dir::kToLns && w.client == silent_client
                   ? Net::Fate::kDrop
                   : Net::Fate::kDeliver;
      };
    }
    lns = std::make_unique<Lns>(
        cfg.l2tp, timers, lns_side,
        [this](cp::PppLink& link, const cp::L2tpSessionInfo& info)
            -> std::unique_ptr<cp::PppEndpoint> {
          auto rec = std::make_shared<PppRecord>();
          rec->info = info;
          servers.push_back(rec);
          ServerCallbacks cb;
          cb.on_network_up = [rec](const NetworkUp& u) { rec->server_up = u; };
          cb.on_down = [rec](std::string_view r) { rec->down = std::string(r); };
          auto s = std::make_unique<ServerSession>(
              link, timers, cfg, *pools, *auth,
              "198.18.0." + std::to_string(servers.size()), std::move(cb));
          return std::make_unique<Owned<ServerSession>>(std::move(s), rec, timers);
        });
    net.lns = lns.get();
  }

  int AddClient() {
    const int idx = int(lacs.size());
    lac_sides.push_back(std::make_unique<Net::LacSide>(&net, idx));
    config::L2tp lc = cfg.l2tp;
    lc.hostname = "lac" + std::to_string(idx);
    lacs.push_back(std::make_unique<Lac>(lc, timers, *lac_sides.back(), l2tp::PeerBinding{}));
    net.clients.push_back(Net::Client{lacs.back().get(),
                                      l2tp::testing::ExchangeTest::ClientBinding(idx)});
    return idx;
  }

  template <typename Pred>
  bool RunUntil(Pred done, absl::Duration limit) {
    const absl::Time end = timers.Now() + limit;
    while (!done() && timers.Now() < end) timers.Advance(absl::Milliseconds(50));
    return done();
  }

  // Opens the client's tunnel (again if it died) and one call running PPP
  // with `cs`; returns the client side's record.
  std::shared_ptr<PppRecord> Dial(int c, ClientSettings cs) {
    Lac& lac = *lacs[c];
    if (lac.tunnel_state() != LacTunnelState::kEstablished) {
      EXPECT_TRUE(lac.OpenTunnel().ok());
      EXPECT_TRUE(RunUntil(
          [&] { return lac.tunnel_state() == LacTunnelState::kEstablished; },
          absl::Seconds(120)))
          << "tunnel of client " << c << " state " << int(lac.tunnel_state());
    }
    auto rec = std::make_shared<PppRecord>();
    auto sid = lac.OpenSession(
        [this, rec, cs](cp::PppLink& link, const cp::L2tpSessionInfo& info)
            -> std::unique_ptr<cp::PppEndpoint> {
          rec->info = info;
          ClientCallbacks cb;
          cb.on_up = [rec](const ClientUp& u) { rec->client_up = u; };
          cb.on_down = [rec](std::string_view r) { rec->down = std::string(r); };
          auto s = std::make_unique<ClientSession>(link, timers, cs, std::move(cb));
          return std::make_unique<Owned<ClientSession>>(std::move(s), rec, timers);
        });
    EXPECT_TRUE(sid.ok()) << sid.status();
    return rec;
  }

  // The server-side record of the client's PPP session (by the L2TP ids).
  std::shared_ptr<PppRecord> ServerOf(const PppRecord& client) const {
    for (const auto& s : servers)
      if (s->info.local_session_id == client.info.peer_session_id &&
          s->info.peer_session_id == client.info.local_session_id &&
          s->info.local_tunnel_id == client.info.peer_tunnel_id)
        return s;
    return nullptr;
  }

  bool BothUp(const PppRecord& client) const {
    auto s = ServerOf(client);
    return client.client_up && s && s->server_up;
  }

  static ClientSettings Client(std::string user, std::string pw,
                               AuthMethod m = AuthMethod::kMschapV2) {
    ClientSettings s;
    s.user = std::move(user);
    s.password = std::move(pw);
    s.methods = {m};
    return s;
  }

  config::Config cfg;
  cp::ManualTimerQueue timers;
  Net net{timers};
  Net::LnsSide lns_side{&net};
  std::mt19937_64 rng{1};
  int silent_client = -1;
  std::unique_ptr<PoolRegistry> pools;
  std::unique_ptr<LocalAuthenticator> auth;
  std::unique_ptr<Lns> lns;
  std::vector<std::shared_ptr<PppRecord>> servers;
  std::vector<std::unique_ptr<Net::LacSide>> lac_sides;
  std::vector<std::unique_ptr<Lac>> lacs;
};

struct StackCase {
  AuthMethod method;
  Impair imp;
};

class StackAuth : public StackTest,
                  public ::testing::WithParamInterface<StackCase> {};

TEST_P(StackAuth, RightPasswordUpThenStopCcnReleasesEverything) {
  const StackCase sc = GetParam();
  cfg.groups[0].auth = {sc.method};
  Start(sc.imp);
  const int c = AddClient();
  auto client = Dial(c, Client("alice", "alice-pw", sc.method));
  ASSERT_TRUE(RunUntil([&] { return BothUp(*client); }, absl::Seconds(180)))
      << "client down: " << client->down.value_or("-");
  auto server = ServerOf(*client);
  EXPECT_EQ(server->server_up->method, sc.method);
  EXPECT_EQ(server->server_up->user, "alice");
  EXPECT_EQ(client->client_up->ip, server->server_up->ip);
  EXPECT_EQ(client->client_up->dns[0], Ip(10, 0, 0, 53));
  EXPECT_TRUE(pools->InUse(server->server_up->ip));
  EXPECT_EQ(server->info.inbound_sa, net.clients[c].seen_by_lns.sa_index);
  if (sc.imp.loss > 0) {
    // The impairment really hit the control channel and was repaired.
    int dropped_or_delayed = 0;
    for (const Wire& w : net.log) dropped_or_delayed += w.control;
    EXPECT_GT(lns->counters().Get("retransmits") +
                  lacs[c]->counters().Get("retransmits") +
                  lns->counters().Get("drop_duplicate") +
                  lns->counters().Get("queued_out_of_order"),
              0u)
        << dropped_or_delayed << " control messages";
  }
  // The client hangs up the whole tunnel (StopCCN, reliably delivered).
  lacs[c]->CloseTunnel("user hangs up");
  ASSERT_TRUE(RunUntil([&] { return server->destroyed && lns->tunnel_count() == 0; },
                       absl::Seconds(120)));
  EXPECT_TRUE(server->down.has_value());
  EXPECT_EQ(pools->leased(), 0u);
  EXPECT_EQ(pools->SessionsOf("alice"), 0u);
  EXPECT_EQ(lns->session_count(), 0u);
  EXPECT_GE(net.Count(Dir::kToLns, MessageType::kStopCcn), 1);
}

TEST_P(StackAuth, WrongPasswordEndsOnlyTheCallAfterTheDelay) {
  const StackCase sc = GetParam();
  cfg.groups[0].auth = {sc.method};
  Start(sc.imp);
  const int c = AddClient();
  auto client = Dial(c, Client("alice", "not-alice-pw", sc.method));
  const absl::Time t0 = timers.Now();
  ASSERT_TRUE(RunUntil(
      [&] {
        auto s = ServerOf(*client);
        return client->destroyed && s && s->destroyed;
      },
      absl::Seconds(180)));
  auto server = ServerOf(*client);
  EXPECT_FALSE(client->client_up);
  EXPECT_FALSE(server->server_up);
  EXPECT_NE(server->down->find("authentication failed"), std::string::npos)
      << *server->down;
  EXPECT_GE(timers.Now() - t0, absl::Milliseconds(1000));
  EXPECT_EQ(pools->counters().auth_bad_credentials, 1u);
  EXPECT_EQ(pools->counters().auth_success, 0u);
  EXPECT_EQ(pools->leased(), 0u);
  // Only the call ended (CDN: from the LNS, or from the client when its
  // Terminate exchange finished first); the tunnel stays for a new attempt.
  EXPECT_GE(net.Count(Dir::kToLac, MessageType::kCdn) +
                net.Count(Dir::kToLns, MessageType::kCdn),
            1);
  EXPECT_EQ(lns->tunnel_count(), 1u);
  EXPECT_EQ(lns->session_count(), 0u);
  auto again = Dial(c, Client("alice", "alice-pw", sc.method));
  EXPECT_TRUE(RunUntil([&] { return BothUp(*again); }, absl::Seconds(180)));
}

std::vector<StackCase> StackCases() {
  std::vector<StackCase> v;
  for (AuthMethod m : {AuthMethod::kPap, AuthMethod::kChap, AuthMethod::kMschapV1,
                       AuthMethod::kMschapV2, AuthMethod::kEapMd5}) {
    v.push_back({m, {}});
    // Control channel only: loss, reordering and duplicates.
    v.push_back({m, {0.2, 0.2, 0.1, false, 21}});
    // Everything, PPP frames included.
    v.push_back({m, {0.15, 0.15, 0.05, true, 22}});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(
    AllMethods, StackAuth, ::testing::ValuesIn(StackCases()),
    [](const auto& info) {
      std::string n(AuthMethodName(info.param.method));
      for (char& ch : n)
        if (ch == '-') ch = '_';
      const Impair& i = info.param.imp;
      if (i.loss == 0) return n + "_clean";
      return n + (i.data_too ? "_lossy_all" : "_lossy_control");
    });

TEST_F(StackTest, PoolExhaustionAcrossTunnelsAndRecovery) {
  cfg.groups[1].max_sessions_per_user = 0;
  Start({0.1, 0.1, 0.05, false, 31});
  std::vector<std::shared_ptr<PppRecord>> clients;
  for (const char* u : {"alice", "bob"}) {
    const int c = AddClient();
    clients.push_back(Dial(c, Client(std::string(u) + "@tiny", std::string(u) + "-pw")));
    ASSERT_TRUE(RunUntil([&] { return BothUp(*clients.back()); }, absl::Seconds(180)));
  }
  const int third = AddClient();
  auto refused = Dial(third, Client("carol@tiny", "carol-pw"));
  ASSERT_TRUE(RunUntil([&] { return refused->destroyed; }, absl::Seconds(180)));
  EXPECT_FALSE(refused->client_up);
  EXPECT_EQ(pools->counters().pool_exhausted, 1u);
  EXPECT_EQ(pools->leased(), 2u);
  EXPECT_EQ(pools->SessionsOf("carol"), 0u);
  // Client 0 goes away; its address is the one carol gets.
  const uint32_t freed = ServerOf(*clients[0])->server_up->ip;
  lacs[0]->CloseTunnel("bye");
  ASSERT_TRUE(RunUntil([&] { return !pools->InUse(freed); }, absl::Seconds(120)));
  auto retry = Dial(third, Client("carol@tiny", "carol-pw"));
  ASSERT_TRUE(RunUntil([&] { return BothUp(*retry); }, absl::Seconds(180)));
  EXPECT_EQ(retry->client_up->ip, freed);
}

TEST_F(StackTest, MaxSessionsPerUserAcrossTunnels) {
  Start();
  const int a = AddClient();
  auto first = Dial(a, Client("alice@tiny", "alice-pw"));
  ASSERT_TRUE(RunUntil([&] { return BothUp(*first); }, absl::Seconds(60)));
  const int b = AddClient();
  auto second = Dial(b, Client("alice@tiny", "alice-pw"));
  ASSERT_TRUE(RunUntil([&] { return second->destroyed; }, absl::Seconds(60)));
  EXPECT_FALSE(second->client_up);
  EXPECT_EQ(pools->counters().too_many_sessions, 1u);
  EXPECT_EQ(pools->SessionsOf("alice"), 1u);
  EXPECT_EQ(pools->leased(), 1u);
}

TEST_F(StackTest, SaLossTearsDownThatClientAndReturnsItsAddress) {
  Start();
  std::vector<std::shared_ptr<PppRecord>> clients;
  for (const char* u : {"alice", "bob"}) {
    const int c = AddClient();
    clients.push_back(Dial(c, Client(u, std::string(u) + "-pw")));
    ASSERT_TRUE(RunUntil([&] { return BothUp(*clients.back()); }, absl::Seconds(60)));
  }
  auto s0 = ServerOf(*clients[0]);
  auto s1 = ServerOf(*clients[1]);
  const uint32_t addr0 = s0->server_up->ip;
  const int stopccn_before = net.Count(Dir::kToLac, MessageType::kStopCcn);
  // IKE DPD declared client 0 dead (or its SA expired): the daemon calls
  // OnSaDeleted with the inbound SA index.
  lns->OnSaDeleted(net.clients[0].seen_by_lns.sa_index);
  ASSERT_TRUE(RunUntil([&] { return s0->destroyed; }, absl::Seconds(5)));
  EXPECT_NE(s0->down->find("IPsec SA deleted"), std::string::npos) << *s0->down;
  EXPECT_FALSE(pools->InUse(addr0));
  EXPECT_EQ(pools->SessionsOf("alice"), 0u);
  EXPECT_EQ(pools->leased(), 1u);
  // Nothing is sent into a dead SA.
  EXPECT_EQ(net.Count(Dir::kToLac, MessageType::kStopCcn), stopccn_before);
  // The other client is untouched, through hellos and echoes.
  timers.Advance(absl::Seconds(300));
  EXPECT_FALSE(s1->down) << *s1->down;
  EXPECT_TRUE(pools->InUse(s1->server_up->ip));
  EXPECT_EQ(lns->tunnel_count(), 1u);
}

TEST_F(StackTest, SilentClientIsTornDownAndReleased) {
  cfg.ppp.lcp_echo_interval_s = 20;
  cfg.ppp.lcp_echo_failures = 5;
  Start();
  const int c = AddClient();
  auto client = Dial(c, Client("alice", "alice-pw"));
  ASSERT_TRUE(RunUntil([&] { return BothUp(*client); }, absl::Seconds(60)));
  auto server = ServerOf(*client);
  silent_client = c;  // the client vanishes without a word
  const absl::Time t0 = timers.Now();
  ASSERT_TRUE(RunUntil([&] { return server->destroyed && lns->tunnel_count() == 0; },
                       absl::Seconds(300)));
  // Whichever notices first (L2TP hello retransmissions give up after
  // about 60 + 31 s, LCP echo after 100-120 s), everything goes.
  EXPECT_LE(timers.Now() - t0, absl::Seconds(125));
  EXPECT_EQ(pools->leased(), 0u);
  EXPECT_EQ(pools->SessionsOf("alice"), 0u);
  EXPECT_EQ(lns->session_count(), 0u);
}

TEST_F(StackTest, ShutdownReleasesEverySession) {
  Start();
  std::vector<std::shared_ptr<PppRecord>> clients;
  for (int i = 0; i < 3; ++i) {
    const int c = AddClient();
    clients.push_back(Dial(c, Client("bob", "bob-pw")));
    ASSERT_TRUE(RunUntil([&] { return BothUp(*clients.back()); }, absl::Seconds(60)));
  }
  EXPECT_EQ(pools->leased(), 3u);
  lns->CloseAll("concentrator shutting down");
  ASSERT_TRUE(RunUntil(
      [&] {
        for (auto& c : clients)
          if (!c->destroyed) return false;
        return true;
      },
      absl::Seconds(60)));
  EXPECT_EQ(pools->leased(), 0u);
  EXPECT_EQ(pools->SessionsOf("bob"), 0u);
  EXPECT_EQ(net.Count(Dir::kToLac, MessageType::kStopCcn), 3);
}

}  // namespace
}  // namespace vpn::ppp::testing

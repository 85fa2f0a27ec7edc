// Simulated clients against the real responder-side libraries (ike::Responder,
// l2tp::Lns, ppp::ServerSession + LocalAuthenticator + pool) through an
// in-memory network whose fake dataplane does ESP-in-UDP with the same
// engine: the whole client stack connects, pings, and tears down; wrong
// credentials and a lossy path are seen for what they are.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "fake_concentrator.h"
#include "proposal.h"
#include "vpn/log.h"

namespace vpn::clientsim {
namespace {

using testing::FakeConcentrator;

uint32_t Ip(const char* s) { return *ParseIpv4Address(s); }

config::Config ServerConfig() {
  config::Config c;
  c.ike.psk = "secret123";
  c.ike.proposals = {"aes256-sha1-modp2048"};
  c.ike.esp_proposals = {"aes128-sha1"};
  c.ppp.local_ip = Ip("100.64.0.1");
  c.ppp.auth_failure_delay_ms = 500;
  c.pools.push_back({"main", Ip("100.64.0.10"), Ip("100.64.0.40"), 1});
  config::Group def;
  def.pool = "main";
  def.dns = {Ip("100.64.0.53")};
  c.groups.push_back(def);
  config::User u;
  u.name = "user-01";
  u.password = "password123";
  c.users.push_back(u);
  return c;
}

ClientSettings BaseClient() {
  ClientSettings s;
  s.server_ip = Ip("198.18.0.1");
  s.ike.psk = "secret123";
  s.ike.proposals = ike::Windows11IkeProposals();
  s.ike.esp_proposals = {"aes128-sha1"};
  s.l2tp.hostname = "clientsim";
  s.ppp.user = "user-01";
  s.ppp.password = "password123";
  s.traffic.kind = TrafficSettings::Kind::kPing;
  s.traffic.target = Ip("100.64.255.10");
  s.traffic.count = 3;
  s.connect_timeout = absl::Seconds(60);
  return s;
}

struct World {
  explicit World(ClientSettings s) : settings(std::move(s)) {
    EXPECT_TRUE(engine.Init());
    for (auto sub : {log::Subsystem::k_ike, log::Subsystem::k_l2tp, log::Subsystem::k_ppp,
                     log::Subsystem::k_auth})
      log::SetLevel(sub, log::Level::kWarn);
  }
  // Adds clients on one address with distinct ports (several clients
  // behind one NAT, as the perf runs do).
  void AddClients(int n, const ClientSettings* override_settings = nullptr) {
    for (int i = 0; i < n; ++i) {
      const int idx = int(clients.size());
      auto& port = net->AddPort(Ip("198.18.0.10"), uint16_t(40000 + idx));
      clients.push_back(std::make_unique<SimClient>(
          idx, override_settings ? *override_settings : settings, timers, engine, port,
          port.ip));
      port.client = clients.back().get();
    }
  }
  // Runs until every client finished; false on the simulated-time limit.
  bool Run(absl::Duration limit = absl::Seconds(180)) {
    int finished = 0;
    for (auto& c : clients) c->Start([&finished](SimClient&) { ++finished; });
    for (absl::Duration t; t < limit; t += absl::Milliseconds(5)) {
      if (finished == int(clients.size())) return true;
      timers.Advance(absl::Milliseconds(5));
    }
    return finished == int(clients.size());
  }

  ClientSettings settings;
  cp::ManualTimerQueue timers;
  esp::Engine engine;
  std::unique_ptr<FakeConcentrator> net = std::make_unique<FakeConcentrator>(
      timers, engine, ServerConfig(), Ip("198.18.0.1"), Ip("100.64.255.10"));
  std::vector<std::unique_ptr<SimClient>> clients;
};

TEST(ClientSimExchange, ClientsConnectPingAndTearDown) {
  World w(BaseClient());
  w.AddClients(4);
  ASSERT_TRUE(w.Run());
  std::set<uint32_t> addrs;
  for (auto& c : w.clients) {
    const ClientResult& r = c->result();
    EXPECT_TRUE(r.ok) << "client " << c->index() << ": " << r.failure;
    EXPECT_TRUE(r.connected);
    EXPECT_EQ(r.sent, 3u);
    EXPECT_EQ(r.received, 3u);
    EXPECT_GE(r.address, Ip("100.64.0.10"));
    EXPECT_LE(r.address, Ip("100.64.0.40"));
    EXPECT_EQ(r.dns, Ip("100.64.0.53"));
    EXPECT_EQ(r.esp_suite.find("aes128"), 0u) << r.esp_suite;
    EXPECT_GT(r.t_connect, r.t_l2tp);
    EXPECT_GT(r.t_l2tp, r.t_ike);
    EXPECT_EQ(r.esp_dropped, 0u);
    addrs.insert(r.address);
  }
  EXPECT_EQ(addrs.size(), 4u);
  const auto& st = w.net->stats();
  EXPECT_EQ(st.network_up, 4u);
  EXPECT_EQ(st.lan_echo_answered, 12u);
  EXPECT_EQ(st.esp_drops, 0u);
  EXPECT_GT(st.esp_in, 4u * 8);
  // Polite teardown reached the server: no IKE SA, tunnel or session left.
  w.timers.Advance(absl::Seconds(5));
  EXPECT_EQ(w.net->responder().ike_sa_count(), 0u);
  EXPECT_EQ(w.net->lns().tunnel_count(), 0u);
  EXPECT_EQ(w.net->lns().session_count(), 0u);
  EXPECT_EQ(st.sessions_down, 4u);
}

TEST(ClientSimExchange, UdpEchoTraffic) {
  ClientSettings s = BaseClient();
  s.traffic.kind = TrafficSettings::Kind::kUdp;
  s.traffic.count = 5;
  s.traffic.size = 300;
  World w(s);
  w.AddClients(2);
  ASSERT_TRUE(w.Run());
  for (auto& c : w.clients) {
    EXPECT_TRUE(c->result().ok) << c->result().failure;
    EXPECT_EQ(c->result().received, 5u);
  }
  EXPECT_EQ(w.net->stats().lan_udp_answered, 10u);
}

TEST(ClientSimExchange, WrongPskFailsInIke) {
  ClientSettings s = BaseClient();
  s.ike.psk = "not-the-psk";
  s.connect_timeout = absl::Seconds(40);
  World w(s);
  w.AddClients(1);
  ASSERT_TRUE(w.Run());
  const ClientResult& r = w.clients[0]->result();
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.connected);
  EXPECT_EQ(r.failed_in, Phase::kIke) << r.failure;
  // Our responder answers a bad message 5 with a notify (strongSwan stays
  // silent: against-reference.sh sees "message 5 unanswered (wrong PSK?)").
  EXPECT_NE(r.failure.find("IKE: notifies_received"), std::string::npos) << r.failure;
  EXPECT_EQ(w.net->stats().network_up, 0u);
  EXPECT_EQ(w.net->stats().esp_in, 0u);
}

TEST(ClientSimExchange, WrongPasswordFailsInPpp) {
  ClientSettings s = BaseClient();
  s.ppp.password = "wrong";
  World w(s);
  w.AddClients(1);
  ASSERT_TRUE(w.Run());
  const ClientResult& r = w.clients[0]->result();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.failed_in, Phase::kPpp) << r.failure;
  EXPECT_NE(r.failure.find("PPP"), std::string::npos) << r.failure;
  EXPECT_GT(r.t_l2tp, absl::ZeroDuration());
  EXPECT_EQ(w.net->stats().network_up, 0u);
}

TEST(ClientSimExchange, ServerUnreachableTimesOut) {
  World w(BaseClient());
  w.net->drop = [](bool to_server, ByteSpan) { return to_server; };
  w.settings.connect_timeout = absl::Seconds(20);
  w.AddClients(1);
  ASSERT_TRUE(w.Run());
  const ClientResult& r = w.clients[0]->result();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.failed_in, Phase::kIke);
  EXPECT_NE(r.failure.find("no answer"), std::string::npos) << r.failure;
}

TEST(ClientSimExchange, LossyPathStillConnects) {
  ClientSettings s = BaseClient();
  s.traffic.kind = TrafficSettings::Kind::kNone;
  s.connect_timeout = absl::Seconds(120);
  World w(s);
  std::mt19937 rng(7);
  w.net->drop = [&rng](bool, ByteSpan) { return rng() % 100 < 7; };
  w.AddClients(3);
  ASSERT_TRUE(w.Run(absl::Seconds(400)));
  int ok = 0;
  for (auto& c : w.clients) ok += c->result().ok;
  EXPECT_EQ(ok, 3) << w.clients[0]->result().failure << " / " << w.clients[1]->result().failure
                   << " / " << w.clients[2]->result().failure;
  EXPECT_GT(w.net->stats().dropped_by_test, 0u);
}

}  // namespace
}  // namespace vpn::clientsim

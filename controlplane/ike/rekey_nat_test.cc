// Phase 1 rekey hand-over (everything keyed to the old IKE SA moves to the
// new one), the ESP replay window from [dataplane], and RFC 3948 NAT
// keepalives when we ourselves are behind a NAT.
#include "gtest/gtest.h"
#include "net_fixture.h"
#include "test_net.h"

namespace vpn::ike::testing {
// Named so that the unity build (test_unity in meson.build) keeps this
// file's helpers apart from its neighbours'.
namespace rekey_nat_test {
namespace {

config::Ike Cfg() {
  config::Ike c;
  c.psk = "secret123";
  c.proposals = {"aes256-sha1-modp2048"};
  c.esp_proposals = {"aes128-sha1"};
  return c;
}

struct Fixture : NetFixture {
  explicit Fixture(const config::Ike& server = Cfg(), bool nat = true, bool server_nat = false,
                   ResponderOptions ro = {})
      : NetFixture(server, Cfg(), nat, server_nat, ro) {}
  // One IKE SA and one ESP pair; later Main Modes (rekeys) start no QM.
  Net::Client& ConnectOne() {
    InitiatorOptions o;
    o.auto_quick_mode = false;
    Net::Client& c = Connect(o);
    EXPECT_TRUE(c.ike->StartQuickMode(c.ike->ListIkeSas().at(0).id).ok());
    net->Pump();
    return c;
  }
  Responder& server() { return *net->server; }
  // The server's IKE SA ids, oldest first.
  std::vector<uint64_t> ServerSas() {
    auto list = server().ListIkeSas();
    std::sort(list.begin(), list.end(), [](auto& a, auto& b) { return a.age > b.age; });
    std::vector<uint64_t> ids;
    for (auto& s : list) ids.push_back(s.id);
    return ids;
  }
};

// Rekeys phase 1 from the client and returns (old, new) client ids.
std::pair<uint64_t, uint64_t> RekeyPhase1(Fixture& f, Net::Client& c) {
  uint64_t old_id = c.ike->ListIkeSas().at(0).id;
  auto new_id = c.ike->RekeyIkeSa(old_id);
  EXPECT_TRUE(new_id.ok());
  f.net->Pump();
  EXPECT_TRUE(c.ike->FindSa(*new_id) && c.ike->FindSa(*new_id)->established());
  return {old_id, *new_id};
}

TEST(Phase1Rekey, ChildLifetimeAndOwnerMoveToTheNewSa) {
  Fixture f;
  Net::Client& c = f.ConnectOne();
  ASSERT_EQ(f.net->server_sink.installed().size(), 1u);
  const uint32_t slot = f.net->server_sink.installed().begin()->first;
  const uint64_t old_server = f.ServerSas().at(0);
  EXPECT_EQ(f.net->server_sink.installed().at(slot).ike_sa_cookie, old_server);

  f.Run(absl::Seconds(1000), absl::Seconds(10));
  auto [old_id, new_id] = RekeyPhase1(f, c);
  ASSERT_EQ(f.ServerSas().size(), 2u);
  const uint64_t new_server = f.ServerSas().at(1);
  // Owner (SaRecord owner_cookie) and event moved to the new IKE SA.
  EXPECT_EQ(f.net->server_sink.installed().at(slot).ike_sa_cookie, new_server);
  EXPECT_EQ(f.net->server_events.Count("child-moved"), 1);
  EXPECT_EQ(f.net->server_events.log.back().ike_sa, new_server);
  EXPECT_EQ(f.server().counters().child_sa_moved, 1u);

  // The client deletes the old IKE SA: nothing of the client goes away.
  ASSERT_TRUE(c.ike->DeleteIkeSa(old_id));
  f.net->Pump();
  ASSERT_EQ(f.ServerSas(), std::vector<uint64_t>{new_server});
  EXPECT_EQ(f.net->server_events.Count("child-down"), 0);
  EXPECT_EQ(f.net->server_sink.installed().size(), 1u);
  EXPECT_EQ(c.sink.installed().size(), 1u);

  // The ESP lifetime still runs from the original install (3600 s), now on
  // the new IKE SA's timers: the pair expires once, at the right time.
  f.Run(absl::Seconds(2590), absl::Seconds(10));
  EXPECT_EQ(f.net->server_sink.installed().size(), 1u);
  f.Run(absl::Seconds(20), absl::Seconds(5));
  EXPECT_TRUE(f.net->server_sink.installed().empty());
  EXPECT_EQ(f.server().counters().child_sa_expired, 1u);
  // Its DELETE reached the client through the new IKE SA.
  EXPECT_TRUE(c.sink.installed().empty());
  EXPECT_EQ(f.ServerSas().size(), 1u);
  (void)new_id;
}

TEST(Phase1Rekey, ForgottenOldSaIsNotADeadPeer) {
  Fixture f;
  Net::Client& c = f.ConnectOne();
  auto [old_id, new_id] = RekeyPhase1(f, c);
  // The client forgets the old IKE SA and its DELETE is lost: the server's
  // copy of the old SA gets no DPD answers any more.
  f.net->drop = [](const Packet& p) { return p.to_server; };
  ASSERT_TRUE(c.ike->DeleteIkeSa(old_id));
  f.net->Pump();
  f.net->drop = nullptr;
  f.Run(absl::Seconds(400), absl::Seconds(5));
  EXPECT_EQ(f.net->server_events.dead, 0);
  EXPECT_EQ(f.server().counters().dpd_dead, 0u);
  EXPECT_EQ(f.net->server_events.Count("child-down"), 0);
  EXPECT_EQ(f.net->server_sink.installed().size(), 1u);
  // The new SA is probed and answers.
  EXPECT_GE(f.server().counters().dpd_acks_received, 1u);
  EXPECT_TRUE(c.ike->FindSa(new_id));
}

TEST(Phase1Rekey, OldSaExpiryDoesNotDeleteMovedChildren) {
  config::Ike server = Cfg();
  server.lifetime_s = 600;
  Fixture f(server);
  Net::Client& c = f.ConnectOne();
  f.Run(absl::Seconds(100), absl::Seconds(5));
  RekeyPhase1(f, c);
  uint64_t deletes_before = f.server().counters().deletes_sent;
  // The old SA expires at 600 s on the server (the new one at 700 s).
  f.Run(absl::Seconds(550), absl::Seconds(5));
  EXPECT_EQ(f.server().counters().ike_sa_expired, 1u);
  EXPECT_EQ(f.server().counters().deletes_sent, deletes_before + 1);  // the ISAKMP SA only
  EXPECT_EQ(f.net->server_sink.installed().size(), 1u);
  EXPECT_EQ(c.sink.installed().size(), 1u);
  EXPECT_EQ(f.server().ike_sa_count(), 1u);
}

TEST(ReplayWindow, ComesFromResponderOptions) {
  for (uint32_t w : {0u, 64u, 4096u}) {
    ResponderOptions ro;
    ro.replay_window = w;
    Fixture f(Cfg(), true, false, ro);
    f.Connect();
    ASSERT_EQ(f.net->server_sink.installed().size(), 1u);
    EXPECT_EQ(f.net->server_sink.installed().begin()->second.replay_window, w);
  }
}

TEST(NatKeepalive, SentOnlyByTheSideBehindTheNat) {
  // Client behind NAT, server public: the client keeps the mapping alive.
  Fixture f;
  Net::Client& c = f.Connect();
  f.Run(absl::Seconds(100));
  EXPECT_TRUE(f.net->server_keepalives.empty());
  ASSERT_EQ(c.keepalives.size(), 5u);  // every 20 s
  EXPECT_EQ(c.keepalives[0].local.port, kNatTPort);
  EXPECT_EQ(c.keepalives[0].remote, (Endpoint{Ip(Net::kServer), kNatTPort}));
  EXPECT_EQ(c.keepalives[1].at - c.keepalives[0].at, absl::Seconds(20));
}

TEST(NatKeepalive, ServerBehindNatSendsThemAtTheConfiguredInterval) {
  config::Ike server = Cfg();
  server.nat_keepalive_s = 15;
  Fixture f(server, /*nat=*/false, /*server_nat=*/true);
  Net::Client& c = f.Connect();
  auto sas = f.server().ListIkeSas();
  ASSERT_EQ(sas.size(), 1u);
  EXPECT_EQ(sas[0].local.port, kNatTPort);  // floated because of our NAT
  ASSERT_EQ(f.net->server_sink.installed().size(), 1u);
  EXPECT_EQ(f.net->server_sink.installed().begin()->second.encap, shm::Encap::kUdp);
  f.Run(absl::Seconds(61));
  ASSERT_EQ(f.net->server_keepalives.size(), 4u);
  EXPECT_EQ(f.net->server_keepalives[0].local,
            (Endpoint{Ip(Net::kServerPrivate), kNatTPort}));
  EXPECT_EQ(f.net->server_keepalives[0].remote.port, kNatTPort);
  EXPECT_EQ(f.server().counters().nat_keepalives_sent, 4u);
  EXPECT_TRUE(c.keepalives.empty());  // the client is not behind a NAT

  // 0 disables them; a deleted SA stops them.
  config::Ike off = Cfg();
  off.nat_keepalive_s = 0;
  Fixture g(off, false, true);
  g.Connect();
  g.Run(absl::Seconds(61));
  EXPECT_TRUE(g.net->server_keepalives.empty());
  ASSERT_EQ(f.server().DeleteByPeer(Ip("198.18.0.10")), 1);
  f.net->Pump();
  f.Run(absl::Seconds(60));
  EXPECT_EQ(f.net->server_keepalives.size(), 4u);
}

}  // namespace
}  // namespace rekey_nat_test
}  // namespace vpn::ike::testing

// Life of an SA: DPD both ways and dead peers, DELETE both ways,
// INITIAL-CONTACT, phase 2 and phase 1 rekeys, lifetimes.
#include "gtest/gtest.h"
#include "net_fixture.h"
#include "test_net.h"

namespace vpn::ike::testing {
// Named so that the unity build (test_unity in meson.build) keeps this
// file's helpers apart from its neighbours'.
namespace lifecycle_test {
namespace {

config::Ike Cfg() {
  config::Ike c;
  c.psk = "secret123";
  c.proposals = {"aes256-sha1-modp2048", "aes128-sha1-ecp256"};
  c.esp_proposals = {"aes128-sha1"};
  return c;
}

struct Fixture : NetFixture {
  explicit Fixture(const config::Ike& server = Cfg(), bool nat = true)
      : NetFixture(server, Cfg(), nat) {}
  uint64_t ClientSa(Net::Client& c) { return c.ike->ListIkeSas().at(0).id; }
  Responder& server() { return *net->server; }
};

TEST(Lifecycle, DpdBothWays) {
  Fixture f;
  Net::Client& c = f.Connect();
  // Client probes the server explicitly.
  ASSERT_TRUE(c.ike->SendDpd(f.ClientSa(c)).ok());
  f.net->Pump();
  EXPECT_EQ(f.server().counters().dpd_received, 1u);
  EXPECT_EQ(c.ike->counters().dpd_acks_received, 1u);
  // Idle for longer than dpd_interval_s: the server probes and is answered.
  f.Run(absl::Seconds(70));
  EXPECT_GE(f.server().counters().dpd_sent, 1u);
  EXPECT_GE(f.server().counters().dpd_acks_received, 1u);
  EXPECT_EQ(f.server().counters().dpd_dead, 0u);
  EXPECT_EQ(f.server().ike_sa_count(), 1u);
}

TEST(Lifecycle, DeadPeerIsDetectedAndCleanedUp) {
  Fixture f;
  Net::Client& c = f.Connect();
  Net::Client& other = f.Connect();  // a second client behind the same NAT stays up
  ASSERT_EQ(f.net->server_sink.installed().size(), 2u);
  f.net->drop = [&](const Packet& p) { return p.client == c.index; };  // c vanishes
  f.Run(absl::Seconds(200), absl::Seconds(5));
  EXPECT_EQ(f.net->server_events.dead, 1);
  EXPECT_EQ(f.server().counters().dpd_dead, 1u);
  EXPECT_EQ(f.server().ike_sa_count(), 1u);
  EXPECT_EQ(f.net->server_sink.installed().size(), 1u);
  EXPECT_EQ(f.net->server_sink.removed().size(), 1u);
  EXPECT_EQ(f.net->server_events.Count("child-down"), 1);
  EXPECT_EQ(f.net->server_events.Count("ike-down"), 1);
  EXPECT_EQ(other.sink.installed().size(), 1u);
}

TEST(Lifecycle, DeleteFromClient) {
  Fixture f;
  Net::Client& c = f.Connect();
  uint32_t spi = c.sink.installed().begin()->second.inbound.spi;
  ASSERT_TRUE(c.ike->DeleteChild(f.ClientSa(c), spi).ok());
  f.net->Pump();
  EXPECT_TRUE(f.net->server_sink.installed().empty());
  EXPECT_EQ(f.net->server_events.Count("child-down"), 1);
  EXPECT_EQ(f.server().counters().deletes_received, 1u);
  // Then the IKE SA.
  ASSERT_TRUE(c.ike->DeleteIkeSa(f.ClientSa(c)));
  f.net->Pump();
  EXPECT_EQ(f.server().ike_sa_count(), 0u);
  EXPECT_EQ(f.net->server_events.Count("ike-down"), 1);
}

TEST(Lifecycle, DeleteFromServerByPeer) {
  Fixture f;
  Net::Client& c = f.Connect();
  auto sas = f.server().ListIkeSas();
  ASSERT_EQ(sas.size(), 1u);
  EXPECT_EQ(f.server().DeleteByPeer(sas[0].remote.ip), 1);
  f.net->Pump();
  EXPECT_TRUE(c.sink.installed().empty());
  EXPECT_EQ(c.ike->ListIkeSas().size(), 0u);
  EXPECT_EQ(c.events.Count("ike-down"), 1);
}

TEST(Lifecycle, InitialContactClearsStaleSas) {
  Fixture f(Cfg(), false);
  Net::Client& a = f.Connect();
  ASSERT_EQ(f.net->server_sink.installed().size(), 1u);
  // The same host (address and identity) reboots and connects again.
  Net::Client& b = f.net->AddClient(Cfg());
  b.local = a.local;
  ASSERT_TRUE(b.ike->Connect(b.local, f.net->server_ep).ok());
  f.net->Pump();
  EXPECT_EQ(f.server().counters().initial_contact_cleared, 1u);
  EXPECT_EQ(f.server().ike_sa_count(), 1u);
  EXPECT_EQ(f.net->server_sink.installed().size(), 1u);
  EXPECT_EQ(f.net->server_sink.removed().size(), 1u);
}

TEST(Lifecycle, WithoutInitialContactOldSasStay) {
  Fixture f(Cfg(), false);
  InitiatorOptions o;
  o.initial_contact = false;
  Net::Client& a = f.Connect(o);
  Net::Client& b = f.net->AddClient(Cfg(), o);
  b.local = a.local;
  ASSERT_TRUE(b.ike->Connect(b.local, f.net->server_ep).ok());
  f.net->Pump();
  EXPECT_EQ(f.server().counters().initial_contact_cleared, 0u);
  EXPECT_EQ(f.server().ike_sa_count(), 2u);
  EXPECT_EQ(f.net->server_sink.installed().size(), 2u);
  EXPECT_TRUE(f.net->server_sink.removed().empty());
}

TEST(Lifecycle, Phase2RekeyInstallsBeforeRemoving) {
  Fixture f;
  Net::Client& c = f.Connect();
  uint32_t old_in = c.sink.installed().begin()->second.inbound.spi;
  auto old_server = f.net->server_sink.installed().begin()->second;
  ASSERT_TRUE(c.ike->RekeyChild(f.ClientSa(c), old_in).ok());
  f.net->Pump();
  ASSERT_EQ(f.net->server_sink.installed().size(), 1u);
  const auto& now = f.net->server_sink.installed().begin()->second;
  EXPECT_NE(now.inbound.spi, old_server.inbound.spi);
  EXPECT_NE(now.outbound.cipher_key, old_server.outbound.cipher_key);
  // Server side order: new pair up, then old pair down.
  std::vector<std::string> order;
  for (const auto& e : f.net->server_events.log)
    if (e.what.rfind("child", 0) == 0) order.push_back(e.what);
  EXPECT_EQ(order, (std::vector<std::string>{"child-inbound", "child-up", "child-inbound",
                                              "child-up", "child-down"}));
  EXPECT_EQ(f.net->server_sink.removed().at(0).inbound_index, shm::SpiIndex(old_server.inbound.spi));
  ASSERT_EQ(c.sink.installed().size(), 1u);
  EXPECT_EQ(c.sink.installed().begin()->second.outbound.spi, now.inbound.spi);
  EXPECT_EQ(f.server().ike_sa_count(), 1u);
}

TEST(Lifecycle, AutomaticPhase2RekeyBeforeExpiry) {
  config::Ike server = Cfg();
  server.esp_lifetime_s = 300;
  Fixture f(server);
  InitiatorOptions o;
  o.rekey_fraction = 0.9;
  Net::Client& c = f.Connect(o);
  uint32_t first = f.net->server_sink.installed().begin()->second.inbound.spi;
  EXPECT_EQ(f.net->server_sink.installed().begin()->second.lifetime_seconds, 300u);
  f.Run(absl::Seconds(400), absl::Seconds(10));
  ASSERT_EQ(f.net->server_sink.installed().size(), 1u);
  EXPECT_NE(f.net->server_sink.installed().begin()->second.inbound.spi, first);
  EXPECT_EQ(c.sink.installed().size(), 1u);
  EXPECT_EQ(f.server().counters().child_sa_expired, 0u);
}

TEST(Lifecycle, ChildExpiresWithoutRekey) {
  config::Ike server = Cfg();
  server.esp_lifetime_s = 300;
  Fixture f(server);
  Net::Client& c = f.Connect();
  f.Run(absl::Seconds(310), absl::Seconds(10));
  EXPECT_TRUE(f.net->server_sink.installed().empty());
  EXPECT_TRUE(c.sink.installed().empty());
  EXPECT_GE(f.server().counters().child_sa_expired, 1u);
  EXPECT_EQ(f.server().ike_sa_count(), 1u);  // phase 1 lives on
}

TEST(Lifecycle, Phase1RekeyKeepsChildSas) {
  Fixture f;
  Net::Client& c = f.Connect();
  uint64_t old_id = f.ClientSa(c);
  auto child = f.net->server_sink.installed().begin()->second;
  InitiatorOptions o;
  auto new_id = c.ike->RekeyIkeSa(old_id);
  ASSERT_TRUE(new_id.ok());
  f.net->Pump();
  // A new QM may have been started by auto_quick_mode: only phase 1 matters.
  ASSERT_TRUE(c.ike->FindSa(*new_id) && c.ike->FindSa(*new_id)->established());
  ASSERT_TRUE(c.ike->DeleteIkeSa(old_id));
  f.net->Pump();
  auto sas = f.server().ListIkeSas();
  ASSERT_EQ(sas.size(), 1u);
  // The original ESP SA survived the old IKE SA's deletion.
  EXPECT_TRUE(f.net->server_sink.installed().count(shm::SpiIndex(child.inbound.spi)));
  EXPECT_TRUE(f.net->server_sink.removed().empty());
  EXPECT_GE(sas[0].child_sas, 1u);
  // And can still be deleted through the new IKE SA.
  uint32_t client_in = child.outbound.spi;
  ASSERT_TRUE(c.ike->DeleteChild(*new_id, client_in).ok());
  f.net->Pump();
  EXPECT_FALSE(f.net->server_sink.installed().count(shm::SpiIndex(child.inbound.spi)));
}

TEST(Lifecycle, IkeLifetimeExpiry) {
  config::Ike server = Cfg();
  server.lifetime_s = 600;
  Fixture f(server);
  Net::Client& c = f.Connect();
  EXPECT_EQ(c.ike->ListIkeSas()[0].lifetime_left, absl::Seconds(600));
  f.Run(absl::Seconds(605), absl::Seconds(5));
  EXPECT_EQ(f.server().ike_sa_count(), 0u);
  EXPECT_EQ(f.server().counters().ike_sa_expired, 1u);
  EXPECT_TRUE(f.net->server_sink.installed().empty());
  EXPECT_EQ(c.ike->ListIkeSas().size(), 0u);
}

TEST(Lifecycle, ListIkeSasForTheCli) {
  Fixture f;
  f.Connect();
  f.timers.Advance(absl::Seconds(100));
  auto sas = f.server().ListIkeSas();
  ASSERT_EQ(sas.size(), 1u);
  const IkeSaSummary& s = sas[0];
  EXPECT_FALSE(s.initiator);
  EXPECT_EQ(s.state, "ESTABLISHED");
  EXPECT_EQ(s.suite, "aes256-sha1-modp2048");
  EXPECT_EQ(s.nat_t, "rfc3947");
  EXPECT_TRUE(s.peer_behind_nat);
  EXPECT_EQ(s.local.port, kNatTPort);
  EXPECT_EQ(s.peer_id, Net::kPrivate);
  EXPECT_EQ(s.age, absl::Seconds(100));
  EXPECT_EQ(s.lifetime_left, absl::Seconds(28800 - 100));
  EXPECT_EQ(s.child_sas, 1u);
}

TEST(Lifecycle, DraftNatTClient) {
  Fixture f;
  InitiatorOptions o;
  o.send_rfc3947_vid = false;  // an old client: draft-02/03 only
  Net::Client& c = f.Connect(o);
  auto sas = f.server().ListIkeSas();
  ASSERT_EQ(sas.size(), 1u);
  EXPECT_EQ(sas[0].nat_t, "draft");
  ASSERT_EQ(c.sink.installed().size(), 1u);
  EXPECT_EQ(f.net->server_sink.installed().begin()->second.encap, shm::Encap::kUdp);
  // The draft payload numbers were on the wire.
  bool saw_draft_natd = false;
  for (const auto& p : f.net->wire) {
    auto m = ParsePlainMessage(p.data);
    if (m.ok() && m->Find(PayloadType::kNatDDraft)) saw_draft_natd = true;
  }
  EXPECT_TRUE(saw_draft_natd);
}

}  // namespace
}  // namespace lifecycle_test
}  // namespace vpn::ike::testing

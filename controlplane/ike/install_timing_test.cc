// When each half of a Quick Mode's ESP pair goes live on the responder
// (RFC 2409 5.5 practice): the inbound SA before message 2 leaves, the
// outbound SA with message 3, and nothing left behind when message 3 never
// comes. Our initiator against our responder; the initiator, like strongSwan
// and Windows, sends on the new pair as soon as it has message 2.
#include "gtest/gtest.h"
#include "net_fixture.h"
#include "test_net.h"

namespace vpn::ike::testing {
// Named so that the unity build (test_unity in meson.build) keeps this
// file's helpers apart from its neighbours'.
namespace install_timing_test {
namespace {

config::Ike Cfg() {
  config::Ike c;
  c.psk = "secret123";
  c.proposals = {"aes256-sha1-modp2048"};
  c.esp_proposals = {"aes128-sha1"};
  return c;
}

bool IsQuickMode3(const Packet& p) {
  auto h = ParseHeader(p.data);
  // The initiator's message 3 is the small one (HDR + HASH(3)).
  return p.to_server && h.ok() && h->exchange == ExchangeType::kQuickMode && p.data.size() <= 80;
}

struct Fixture : NetFixture {
  explicit Fixture(bool nat = false) : NetFixture(Cfg(), Cfg(), nat) {}
  cp::RecordingSaSink& sink() { return net->server_sink; }
  std::vector<std::string> ChildEvents() {
    std::vector<std::string> out;
    for (const auto& e : net->server_events.log)
      if (e.what.rfind("child", 0) == 0) out.push_back(e.what);
    return out;
  }
};

// Is the server's inbound SA with this SPI live (complete or not)?
bool ServerAccepts(cp::RecordingSaSink& s, uint32_t spi) {
  for (const auto* m : {&s.installed(), &s.inbound_only()})
    for (const auto& [idx, sa] : *m)
      if (sa.inbound.spi == spi) return true;
  return false;
}

TEST(InstallTiming, InboundIsLiveBeforeQuickMode3AndOutboundOnlyAfter) {
  Fixture f;
  int qm3_seen = 0;
  size_t inbound_only_at_qm3 = 0, complete_at_qm3 = 99;
  bool client_sa_accepted = false;
  const Net::Client* client = nullptr;
  f.net->drop = [&](const Packet& p) {
    if (!IsQuickMode3(p)) return false;
    ++qm3_seen;
    inbound_only_at_qm3 = f.sink().inbound_only().size();
    complete_at_qm3 = f.sink().installed().size();
    // The client installed its pair on message 2 and may already send.
    if (client && client->sink.installed().size() == 1)
      client_sa_accepted =
          ServerAccepts(f.sink(), client->sink.installed().begin()->second.outbound.spi);
    return false;
  };
  Net::Client& c = f.net->AddClient(Cfg());
  client = &c;
  ASSERT_TRUE(c.ike->Connect(c.local, f.net->server_ep).ok());
  f.net->Pump();
  EXPECT_EQ(qm3_seen, 1);
  EXPECT_EQ(inbound_only_at_qm3, 1u);
  EXPECT_EQ(complete_at_qm3, 0u);
  EXPECT_TRUE(client_sa_accepted);
  ASSERT_EQ(f.sink().installed().size(), 1u);
  EXPECT_TRUE(f.sink().inbound_only().empty());
  const uint32_t idx = f.sink().installed().begin()->first;
  EXPECT_EQ(f.sink().ops(), (std::vector<std::string>{"inbound " + std::to_string(idx),
                                                       "outbound " + std::to_string(idx)}));
  EXPECT_EQ(f.ChildEvents(), (std::vector<std::string>{"child-inbound", "child-up"}));
  EXPECT_EQ(f.net->server->counters().child_sa_inbound_installed, 1u);
  EXPECT_EQ(f.net->server->counters().child_sa_installed, 1u);
}

TEST(InstallTiming, LostQuickMode3RemovesTheInboundSaAfterTheTimeout) {
  Fixture f;
  f.net->drop = IsQuickMode3;  // every copy, retransmissions included
  Net::Client& c = f.Connect();
  EXPECT_EQ(c.sink.installed().size(), 1u);
  ASSERT_EQ(f.sink().inbound_only().size(), 1u);
  const uint32_t idx = f.sink().inbound_only().begin()->first;
  // Until the half-open timeout (30 s) the inbound SA stays, and QM2 is
  // repeated so that the initiator can answer again.
  f.Run(absl::Seconds(25));
  EXPECT_EQ(f.sink().inbound_only().size(), 1u);
  EXPECT_GE(f.net->server->counters().retransmits, 2u);
  f.Run(absl::Seconds(10));
  EXPECT_TRUE(f.sink().inbound_only().empty());
  EXPECT_TRUE(f.sink().installed().empty());
  EXPECT_EQ(f.sink().aborted(), std::vector<uint32_t>{idx});
  EXPECT_TRUE(f.sink().released().empty());  // the abort freed the slot
  EXPECT_EQ(f.ChildEvents(), (std::vector<std::string>{"child-inbound", "child-aborted"}));
  EXPECT_EQ(f.net->server->counters().child_sa_inbound_aborted, 1u);
  EXPECT_EQ(f.net->server->counters().child_sa_installed, 0u);
  EXPECT_EQ(f.net->server->counters().exchange_timeouts, 1u);
}

TEST(InstallTiming, IkeSaDeletedBeforeQuickMode3RemovesTheInboundSa) {
  Fixture f;
  f.net->drop = IsQuickMode3;
  Net::Client& c = f.Connect();
  ASSERT_EQ(f.sink().inbound_only().size(), 1u);
  ASSERT_TRUE(c.ike->DeleteIkeSa(c.ike->ListIkeSas().at(0).id));
  f.net->Pump();
  EXPECT_EQ(f.net->server->ike_sa_count(), 0u);
  EXPECT_EQ(f.sink().live_inbound(), 0u);
  EXPECT_EQ(f.sink().aborted().size(), 1u);
  EXPECT_EQ(f.ChildEvents(), (std::vector<std::string>{"child-inbound", "child-aborted"}));
  // Nothing fires later for the exchange that is gone.
  f.Run(absl::Seconds(40));
  EXPECT_EQ(f.sink().aborted().size(), 1u);
  EXPECT_EQ(f.net->server->counters().exchange_timeouts, 0u);
}

TEST(InstallTiming, OutboundInstallFailureAtQuickMode3LeavesNothing) {
  Fixture f;
  f.sink().FailNextComplete();
  f.Connect();
  EXPECT_EQ(f.sink().live_inbound(), 0u);
  EXPECT_EQ(f.sink().aborted().size(), 1u);
  EXPECT_EQ(f.net->server->counters().child_sa_install_failed, 1u);
  EXPECT_EQ(f.ChildEvents(), (std::vector<std::string>{"child-inbound", "child-aborted"}));
}

TEST(InstallTiming, InboundInstallFailureSendsNoQuickMode2) {
  Fixture f;
  f.sink().FailNextInstall();
  Net::Client& c = f.Connect();
  EXPECT_TRUE(c.sink.installed().empty());  // no message 2 reached it
  EXPECT_EQ(f.sink().live_inbound(), 0u);
  EXPECT_EQ(f.sink().released().size(), 1u);  // the reserved SPI went back
  EXPECT_EQ(f.net->server->counters().child_sa_install_failed, 1u);
  EXPECT_TRUE(f.ChildEvents().empty());
}

// Phase 2 rekey with message 3 lost once (recovered by our repeated message
// 2): before every packet is delivered, each SA the client may send on is
// accepted by the server. (Our initiator deletes its old pair right after
// message 3, so that is all a responder can guarantee.)
void RekeyWithoutGap(bool nat) {
  Fixture f(nat);
  Net::Client& c = f.Connect();
  ASSERT_EQ(f.sink().installed().size(), 1u);
  const uint32_t old_in = c.sink.installed().begin()->second.inbound.spi;
  int checks = 0, violations = 0, qm3_dropped = 0;
  auto check = [&] {
    ++checks;
    for (const auto& [idx, sa] : c.sink.installed())
      if (!ServerAccepts(f.sink(), sa.outbound.spi)) ++violations;
    if (c.sink.installed().empty()) ++violations;  // the client must have a pair
  };
  f.net->drop = [&](const Packet& p) {
    check();
    if (IsQuickMode3(p) && qm3_dropped == 0) {
      ++qm3_dropped;
      return true;
    }
    return false;
  };
  ASSERT_TRUE(c.ike->RekeyChild(c.ike->ListIkeSas().at(0).id, old_in).ok());
  f.net->Pump();
  f.Run(absl::Seconds(6));
  check();
  EXPECT_EQ(qm3_dropped, 1);
  EXPECT_GT(checks, 4);
  EXPECT_EQ(violations, 0);
  // Done: one complete new pair on both sides, the old one removed.
  ASSERT_EQ(f.sink().installed().size(), 1u);
  EXPECT_TRUE(f.sink().inbound_only().empty());
  ASSERT_EQ(c.sink.installed().size(), 1u);
  EXPECT_EQ(c.sink.installed().begin()->second.outbound.spi,
            f.sink().installed().begin()->second.inbound.spi);
  EXPECT_EQ(f.sink().removed().size(), 1u);
  EXPECT_TRUE(f.sink().aborted().empty());
}

TEST(InstallTiming, Phase2RekeyNeverLeavesAWindowWithoutAnInboundSa) { RekeyWithoutGap(false); }
TEST(InstallTiming, Phase2RekeyBehindNatNeverLeavesAWindow) { RekeyWithoutGap(true); }

// strongSwan-like: the client keeps the old pair after the rekey until it
// expires. Between message 2 and 3 the server accepts old and new inbound
// SAs, sends on the old outbound; after 3 on the new one.
TEST(InstallTiming, RekeyEventsGiveTheOldAndNewInboundSaTogether) {
  Fixture f;
  Net::Client& c = f.Connect();
  const uint32_t old_in = c.sink.installed().begin()->second.inbound.spi;
  const uint32_t old_server_idx = f.sink().installed().begin()->first;
  bool held = false;
  Packet qm3;
  f.net->drop = [&](const Packet& p) {
    if (IsQuickMode3(p) && !held) {
      held = true;
      qm3 = p;
      return true;
    }
    // Keep the old pair: the client's DELETE of it is lost as well.
    auto h = ParseHeader(p.data);
    return p.to_server && h.ok() && h->exchange == ExchangeType::kInformational;
  };
  ASSERT_TRUE(c.ike->RekeyChild(c.ike->ListIkeSas().at(0).id, old_in).ok());
  f.net->Pump();
  ASSERT_TRUE(held);
  // Between 2 and 3: old pair complete, new inbound live, no new outbound.
  EXPECT_EQ(f.sink().installed().count(old_server_idx), 1u);
  ASSERT_EQ(f.sink().inbound_only().size(), 1u);
  const uint32_t new_idx = f.sink().inbound_only().begin()->first;
  const auto& log = f.net->server_events.log;
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back().what, "child-inbound");
  EXPECT_EQ(log.back().handle.inbound_index, new_idx);
  // Message 3 arrives late: the new pair completes.
  f.net->drop = nullptr;
  f.net->server->OnDatagram(qm3.dst, qm3.src, qm3.data);
  ASSERT_EQ(f.sink().installed().count(new_idx), 1u);
  EXPECT_TRUE(f.sink().inbound_only().empty());
  EXPECT_EQ(f.net->server_events.Count("child-up"), 2);
  EXPECT_TRUE(f.sink().aborted().empty());
}

}  // namespace
}  // namespace install_timing_test
}  // namespace vpn::ike::testing

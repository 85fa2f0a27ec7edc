// Accounting queue: Start / Interim-Update / Stop contents, Gigawords, and
// the guarantee that records survive a server outage shorter than the retry
// window (and only then), in order per session.
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "accounting.h"
#include "test_util.h"

namespace vpn::radius {
// Named so that the unity build (test_unity in meson.build) keeps this
// file's helpers apart from its neighbours'.
namespace accounting_test {
namespace {

using testing::FakeServer;
using testing::RunUntil;
using testing::Server;

constexpr char kSecret[] = "acct-secret";

struct Fixture {
  explicit Fixture(int n = 1) {
    for (int i = 0; i < n; ++i) servers.push_back(std::make_unique<FakeServer>(loop, kSecret));
    for (auto& s : servers) radius.servers.push_back(Server(0, s->port(), kSecret));
    radius.timeout_ms = 30;
    radius.retries = 1;
    radius.dead_time_s = 0;
    radius.interim_interval_s = 0;
    radius.nas_identifier = "nas-acct";
    client = std::make_unique<Client>(loop, radius);
    EXPECT_TRUE(client->Open().ok());
    acct = std::make_unique<Accounting>(loop, *client, radius);
  }
  AcctSession Session(const std::string& id) {
    AcctSession s;
    s.session_id = id;
    s.user_name = "alice";
    s.framed_ip = 0x64400007;
    s.calling_station = "198.18.0.7";
    s.classes = {Bytes{'c', '1'}};
    return s;
  }
  std::vector<uint32_t> Statuses(int server = 0) {
    std::vector<uint32_t> out;
    for (const Packet& p : servers[server]->received) out.push_back(*p.U32(kAcctStatusType));
    return out;
  }
  cp::EventLoop loop;
  config::Radius radius;
  std::vector<std::unique_ptr<FakeServer>> servers;
  std::unique_ptr<Client> client;
  std::unique_ptr<Accounting> acct;
};

TEST(Accounting, StartInterimStopCarryCountersAndIdentity) {
  Fixture f;
  Usage u;
  u.input_octets = (uint64_t(3) << 32) + 1000;  // over 4 GiB: Gigawords
  u.output_octets = 5000;
  u.input_packets = 70;
  u.output_packets = 80;
  f.acct->Start(1, f.Session("S-1"), [&] { return u; }, 1);  // 1 s interim (server's)
  ASSERT_TRUE(RunUntil(f.loop, [&] { return f.servers[0]->received.size() >= 2; },
                       absl::Seconds(3)));
  Usage fin = u;
  fin.output_octets = 9000;
  f.acct->Stop(1, kTermUserRequest, fin);
  ASSERT_TRUE(RunUntil(f.loop, [&] { return f.acct->queued() == 0; }));
  ASSERT_EQ(f.Statuses(), (std::vector<uint32_t>{kAcctStart, kAcctInterimUpdate, kAcctStop}));
  EXPECT_EQ(f.servers[0]->bad_authenticators, 0);
  const Packet& start = f.servers[0]->received[0];
  EXPECT_EQ(start.String(kAcctSessionId), "S-1");
  EXPECT_EQ(start.String(kUserName), "alice");
  EXPECT_EQ(start.U32(kFramedIpAddress), 0x64400007u);
  EXPECT_EQ(start.String(kClass), "c1");
  EXPECT_EQ(start.String(kNasIdentifier), "nas-acct");
  EXPECT_EQ(start.Find(kAcctInputOctets), nullptr);
  const Packet& interim = f.servers[0]->received[1];
  EXPECT_EQ(interim.U32(kAcctInputOctets), 1000u);
  EXPECT_EQ(interim.U32(kAcctInputGigawords), 3u);
  EXPECT_EQ(interim.U32(kAcctOutputOctets), 5000u);
  EXPECT_EQ(interim.U32(kAcctInputPackets), 70u);
  EXPECT_EQ(interim.U32(kAcctOutputPackets), 80u);
  EXPECT_GE(*interim.U32(kAcctSessionTime), 1u);
  const Packet& stop = f.servers[0]->received[2];
  EXPECT_EQ(stop.U32(kAcctTerminateCause), kTermUserRequest);
  EXPECT_EQ(stop.U32(kAcctOutputOctets), 9000u);
  EXPECT_EQ(stop.U32(kAcctDelayTime), 0u);
  EXPECT_EQ(f.acct->counters().acknowledged, 3u);
  EXPECT_FALSE(f.acct->Active(1));
}

TEST(Accounting, RecordsSurviveAnOutageWithinTheRetryWindowInOrder) {
  Fixture f(2);
  f.servers[0]->silent = true;
  f.servers[1]->silent = true;
  f.radius.acct_max_age_s = 60;
  for (uint64_t k = 1; k <= 5; ++k) f.acct->Start(k, f.Session("S-" + std::to_string(k)), nullptr);
  for (uint64_t k = 1; k <= 5; ++k) f.acct->Stop(k, kTermLostCarrier, Usage{});
  testing::RunFor(f.loop, absl::Milliseconds(1500));  // several retry rounds
  EXPECT_EQ(f.acct->queued(), 10u);
  EXPECT_GT(f.acct->counters().retry_rounds, 5u);
  // Only the first record of each session was ever sent: Stops wait.
  for (const auto& s : f.servers)
    for (const Packet& p : s->received) EXPECT_EQ(p.U32(kAcctStatusType), kAcctStart);
  // The second server comes back.
  f.servers[1]->silent = false;
  f.servers[1]->received.clear();
  ASSERT_TRUE(RunUntil(f.loop, [&] { return f.acct->queued() == 0; }, absl::Seconds(5)));
  EXPECT_EQ(f.acct->counters().acknowledged, 10u);
  EXPECT_EQ(f.acct->counters().dropped_expired, 0u);
  // Per session: Start acknowledged before its Stop was sent; the delay
  // shows in Acct-Delay-Time.
  std::map<std::string, std::vector<uint32_t>> order;
  for (const Packet& p : f.servers[1]->received) {
    order[*p.String(kAcctSessionId)].push_back(*p.U32(kAcctStatusType));
  }
  for (uint64_t k = 1; k <= 5; ++k) {
    const auto& seq = order["S-" + std::to_string(k)];
    ASSERT_FALSE(seq.empty());
    EXPECT_EQ(seq.back(), kAcctStop);
    EXPECT_EQ(seq.front(), kAcctStart);
  }
  EXPECT_GE(*f.servers[1]->received.front().U32(kAcctDelayTime), 1u);
}

TEST(Accounting, RecordsOlderThanTheRetryWindowAreDroppedAndCounted) {
  Fixture f;
  f.servers[0]->silent = true;
  f.radius.acct_max_age_s = 1;
  f.acct->Start(1, f.Session("S-1"), nullptr);
  ASSERT_TRUE(RunUntil(f.loop, [&] { return f.acct->queued() == 0; }, absl::Seconds(5)));
  EXPECT_EQ(f.acct->counters().dropped_expired, 1u);
  EXPECT_EQ(f.acct->counters().acknowledged, 0u);
}

TEST(Accounting, FullQueueDropsInterimUpdatesFirst) {
  Fixture f;
  f.servers[0]->silent = true;
  f.radius.acct_queue_max = 16;
  f.acct->Start(1, f.Session("S-1"), [] { return Usage{}; }, 1);
  // Interim-Updates every second pile up behind the unanswered Start.
  testing::RunFor(f.loop, absl::Milliseconds(100));
  for (uint64_t k = 2; k <= 15; ++k) f.acct->Start(k, f.Session("S-" + std::to_string(k)), nullptr);
  testing::RunFor(f.loop, absl::Milliseconds(3300));
  EXPECT_EQ(f.acct->queued(), 16u);  // 15 Starts and the newest Interim-Update
  EXPECT_GE(f.acct->counters().dropped_overflow, 1u);
  // Every Start is still there.
  f.servers[0]->silent = false;
  f.servers[0]->received.clear();
  ASSERT_TRUE(RunUntil(f.loop, [&] { return f.acct->queued() <= 1; }, absl::Seconds(5)));
  // Counted per session: on a loaded machine a Start can be retransmitted
  // before its answer arrives, and the server then sees it twice.
  std::set<std::string> started;
  for (const Packet& p : f.servers[0]->received)
    if (p.U32(kAcctStatusType) == kAcctStart) started.insert(*p.String(kAcctSessionId));
  EXPECT_EQ(started.size(), 15u);
}

TEST(Accounting, StopOfUnknownSessionIsIgnored) {
  Fixture f;
  f.acct->Stop(99, kTermUserRequest, Usage{});
  EXPECT_EQ(f.acct->queued(), 0u);
  EXPECT_EQ(f.acct->counters().stops, 0u);
}

TEST(Accounting, TerminateCauses) {
  EXPECT_EQ(TerminateCauseFor("peer terminated: User request"), kTermUserRequest);
  EXPECT_EQ(TerminateCauseFor("link down: tunnel closed by peer (StopCCN)"), kTermUserRequest);
  EXPECT_EQ(TerminateCauseFor("peer not responding (LCP echo)"), kTermLostCarrier);
  EXPECT_EQ(TerminateCauseFor("idle timeout"), kTermIdleTimeout);
  EXPECT_EQ(TerminateCauseFor("session timeout"), kTermSessionTimeout);
  EXPECT_EQ(TerminateCauseFor("link down: concentrator shutting down"), kTermAdminReboot);
  EXPECT_EQ(TerminateCauseFor("RADIUS Disconnect-Request"), kTermAdminReset);
}

}  // namespace
}  // namespace accounting_test
}  // namespace vpn::radius

#include "shm_tables.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <optional>
#include <set>

#include "gtest/gtest.h"
#include "ppp/exchange_harness.h"

namespace vpn::cp {
namespace {

class ShmTablesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "/vpn-cp-test-" + std::to_string(getpid());
    shm::Segment::Unlink(name_);
    auto s = shm::Segment::OpenOrCreate(name_, {.max_sas = 64, .max_sessions = 32, .n_workers = 2});
    ASSERT_TRUE(s.ok()) << s.status();
    seg_ = std::move(*s);
  }
  void TearDown() override { shm::Segment::Unlink(name_); }

  ChildSaInstall Sample(uint32_t in_spi) {
    ChildSaInstall sa;
    sa.ike_sa_cookie = 77;
    sa.local_ip = 0x010012C6;  // 198.18.0.1 in network order
    sa.peer_ip = 0x020012C6;
    sa.inbound = {in_spi, std::vector<uint8_t>(16, 0x11), {}, std::vector<uint8_t>(20, 0x22)};
    sa.outbound = {0xC0FFEE, std::vector<uint8_t>(16, 0x33), {}, std::vector<uint8_t>(20, 0x44)};
    sa.lifetime_kbytes = 250000;
    return sa;
  }

  std::vector<shm::UpdateNotice> DrainUpdates() {
    std::vector<shm::UpdateNotice> out;
    while (uint8_t* s = shm::RingPeek(seg_.update_ring())) {
      shm::UpdateNotice n;
      std::memcpy(&n, s, sizeof n);
      out.push_back(n);
      shm::RingPop(seg_.update_ring());
    }
    return out;
  }

  std::string name_;
  shm::Segment seg_;
};

TEST_F(ShmTablesTest, InstallPublishesBothDirectionsAndNotifies) {
  ShmTables t(seg_);
  auto spi = t.AllocateInboundSpi();
  ASSERT_TRUE(spi.ok());
  EXPECT_GT(*spi, 255u);  // RFC 4303 2.1: 1..255 reserved
  auto h = t.Install(Sample(*spi));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->inbound_index, shm::SpiIndex(*spi));
  const shm::SaRecord& in = seg_.sa(h->inbound_index);
  const shm::SaRecord& out = seg_.sa(h->outbound_index);
  EXPECT_EQ(in.state, shm::SlotState::kActive);
  EXPECT_EQ(in.dir, shm::SaDir::kInbound);
  EXPECT_EQ(in.spi, *spi);
  EXPECT_EQ(in.cipher_key[0], 0x11);
  EXPECT_EQ(in.paired_index, h->outbound_index);
  EXPECT_EQ(in.replay_window, 1024u);
  EXPECT_EQ(in.hard_bytes, 250000ull * 1024);
  EXPECT_LT(in.soft_bytes, in.hard_bytes);
  EXPECT_EQ(out.spi, 0xC0FFEEu);
  EXPECT_EQ(out.integ_key[0], 0x44);
  EXPECT_EQ(in.seq.load() % 2, 0u);
  auto updates = DrainUpdates();
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(updates[1].index, h->inbound_index);
}

TEST_F(ShmTablesTest, SessionCountersInSharedMemoryDriveThePppIdleTimeout) {
  ShmTables t(seg_);
  constexpr uint32_t kIdx = 3;
  // Worker 0 forwards from the client, worker 1 towards it; another
  // session's counters do not count.
  seg_.session_counters(0)[kIdx].rx_packets = 5;
  seg_.session_counters(1)[kIdx].tx_packets = 7;
  seg_.session_counters(0)[kIdx + 1].rx_packets = 100;
  EXPECT_EQ(t.SessionPackets(kIdx), 12u);

  // A PPP session wired as the daemon wires it (daemon_sessions.cc).
  config::Config c;
  c.ppp.local_ip = 0x64400001;
  c.pools.push_back({"p", 0x6440000a, 0x64400014, 1});
  config::Group g;
  g.pool = "p";
  g.idle_timeout_s = 60;
  c.groups.push_back(g);
  config::User u;
  u.name = "alice";
  u.password = "alice-pw";
  c.users.push_back(u);
  ppp::testing::World w(c);
  w.traffic_source = [&] { return t.SessionPackets(kIdx); };
  ppp::ClientSettings cs;
  cs.user = "alice";
  cs.password = "alice-pw";
  ppp::testing::Pair p(w, cs);
  p.Start();
  ASSERT_TRUE(p.RunUntilUp());
  for (int i = 0; i < 12; ++i) {  // the dataplane forwards for 2 minutes
    seg_.session_counters(i % 2)[kIdx].rx_packets += 3;
    p.RunFor(absl::Seconds(10));
  }
  EXPECT_FALSE(p.server_down);
  // Traffic of the neighbouring session does not keep this one up.
  const absl::Time quiet_from = w.timers.Now();
  for (int i = 0; i < 30 && !p.server_down; ++i) {
    seg_.session_counters(0)[kIdx + 1].rx_packets += 1;
    p.RunFor(absl::Seconds(5));
  }
  ASSERT_TRUE(p.server_down);
  EXPECT_EQ(*p.server_down, "idle timeout");
  EXPECT_GE(w.timers.Now() - quiet_from, absl::Seconds(55));
  EXPECT_LE(w.timers.Now() - quiet_from, absl::Seconds(80));
  EXPECT_EQ(w.pools->leased(), 0u);
}

TEST_F(ShmTablesTest, ReplayWindowAndOwnerFollowTheInstall) {
  ShmTables t(seg_);
  auto spi = t.AllocateInboundSpi();
  ASSERT_TRUE(spi.ok());
  ChildSaInstall sa = Sample(*spi);
  sa.replay_window = 64;  // [dataplane] replay_window through ike::ResponderOptions
  auto h = t.Install(sa);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(seg_.sa(h->inbound_index).replay_window, 64u);
  EXPECT_EQ(seg_.sa(h->outbound_index).replay_window, 0u);
  // Phase 1 rekey: the pair now belongs to another IKE SA.
  t.SetOwner(*h, 0x1234);
  EXPECT_EQ(seg_.sa(h->inbound_index).owner_cookie, 0x1234u);
  EXPECT_EQ(seg_.sa(h->outbound_index).owner_cookie, 0x1234u);
  EXPECT_EQ(seg_.sa(h->inbound_index).seq.load() % 2, 0u);
}

TEST_F(ShmTablesTest, SlotIsNotReusedBeforeDataplaneQuiesces) {
  ShmTables t(seg_);
  seg_.header().dp_pid.store(1);  // pretend a dataplane is running
  seg_.header().dp_heartbeat.store(1);
  t.Poll();
  std::set<uint32_t> used;
  std::vector<ChildSaHandle> handles;
  // Fill the table (63 usable slots: slot 0 is never used) in pairs.
  while (true) {
    auto spi = t.AllocateInboundSpi();
    if (!spi.ok()) break;
    auto h = t.Install(Sample(*spi));
    if (!h.ok()) {
      t.ReleaseInboundSpi(*spi);
      break;
    }
    handles.push_back(*h);
  }
  ASSERT_EQ(handles.size(), 31u);
  ASSERT_TRUE(t.Remove(handles[0]).ok());
  EXPECT_EQ(seg_.sa(handles[0].inbound_index).state, shm::SlotState::kFreePending);
  EXPECT_EQ(seg_.sa(handles[0].inbound_index).cipher_key[0], 0);  // keys wiped
  t.Poll();
  // The released single slot is reusable at once; the removed pair is not.
  auto a = t.AllocateInboundSpi();
  ASSERT_TRUE(a.ok());
  auto b = t.AllocateInboundSpi();
  EXPECT_FALSE(b.ok());
  // The dataplane reports quiescence for the deletion's epoch.
  seg_.header().dp_quiesced_epoch.store(seg_.header().cp_epoch.load());
  seg_.header().dp_heartbeat.store(2);
  t.Poll();
  EXPECT_EQ(seg_.sa(handles[0].inbound_index).state, shm::SlotState::kFree);
  b = t.AllocateInboundSpi();
  EXPECT_TRUE(b.ok());
}

// A session (or SA) in a reused slot must not report what the slot's
// previous occupant counted (RADIUS accounting and vpnctl read these sums).
// Workers count through shm::CountersFor, as the dataplane does: a worker
// that counts for the new occupant restarts its own row; a worker that has
// not counted yet still holds the old counts, which the sums leave out.
TEST_F(ShmTablesTest, ReusedSlotsCountFromZero) {
  ShmTables t(seg_);
  ShmTables::SessionSpec spec{};
  spec.local_tunnel_id = 1;
  spec.local_session_id = 2;
  spec.assigned_ip = htonl(0x64400064);
  auto first = t.InstallSession(spec);
  ASSERT_TRUE(first.ok());
  const uint32_t gen1 = seg_.session(*first).generation;
  EXPECT_NE(gen1, 0u);
  auto count = [&](uint32_t w, uint32_t idx, uint64_t rxp, uint64_t rxb, uint64_t txp,
                   uint64_t txb) {
    shm::SessionCounters& c =
        shm::CountersFor(seg_.session_counters(w)[idx], seg_.session(idx).generation);
    c.rx_packets += rxp;
    c.rx_bytes += rxb;
    c.tx_packets += txp;
    c.tx_bytes += txb;
  };
  // Two workers count traffic of the first session.
  count(0, *first, 5, 640, 4, 512);
  count(1, *first, 1, 100, 2, 200);
  EXPECT_EQ(t.SumSessionCounters(*first).rx_bytes, 740u);
  EXPECT_EQ(t.SumSessionCounters(*first).tx_packets, 6u);
  ASSERT_TRUE(t.RemoveSession(*first).ok());
  seg_.header().dp_quiesced_epoch.store(seg_.header().cp_epoch.load());
  t.Poll();
  auto second = t.InstallSession(spec);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(*second, *first);  // the same slot again
  EXPECT_NE(seg_.session(*second).generation, gen1);
  shm::SessionCounters z = t.SumSessionCounters(*second);
  EXPECT_EQ(z.rx_packets + z.rx_bytes + z.tx_packets + z.tx_bytes, 0u);
  // Worker 1 counts for the new session: its row restarts; worker 0's row
  // still holds the first session's 640 bytes and is not summed.
  count(1, *second, 3, 300, 0, 0);
  EXPECT_EQ(seg_.session_counters(0)[*second].rx_bytes, 640u);
  EXPECT_EQ(t.SumSessionCounters(*second).rx_packets, 3u);
  EXPECT_EQ(t.SumSessionCounters(*second).rx_bytes, 300u);
  EXPECT_EQ(t.SumSessionCounters(*second).tx_packets, 0u);
  count(0, *second, 1, 10, 1, 20);
  EXPECT_EQ(seg_.session_counters(0)[*second].rx_bytes, 10u);
  EXPECT_EQ(t.SumSessionCounters(*second).rx_bytes, 310u);
  EXPECT_EQ(t.SumSessionCounters(*second).tx_bytes, 20u);

  // SAs: the inbound slot is named by the SPI, so a reused SPI slot too.
  auto spi = t.AllocateInboundSpi();
  ASSERT_TRUE(spi.ok());
  auto h = t.Install(Sample(*spi));
  ASSERT_TRUE(h.ok());
  const uint32_t old_in = h->inbound_index;
  {
    shm::SaCounters& c = shm::CountersFor(seg_.sa_counters(0)[old_in], seg_.sa(old_in).generation);
    c.packets = 9;
    c.bytes = 900;
  }
  EXPECT_EQ(t.SumSaCounters(old_in).bytes, 900u);
  ASSERT_TRUE(t.Remove(*h).ok());
  seg_.header().dp_quiesced_epoch.store(seg_.header().cp_epoch.load());
  t.Poll();
  // Fill the table until the old inbound slot comes back as someone's.
  bool reused = false;
  for (int i = 0; i < 64 && !reused; ++i) {
    auto s2 = t.AllocateInboundSpi();
    if (!s2.ok()) break;
    auto h3 = t.Install(Sample(*s2));
    ASSERT_TRUE(h3.ok());
    reused = h3->inbound_index == old_in || h3->outbound_index == old_in;
  }
  ASSERT_TRUE(reused);
  EXPECT_EQ(t.SumSaCounters(old_in).packets, 0u);
  EXPECT_EQ(t.SumSaCounters(old_in).bytes, 0u);
  shm::CountersFor(seg_.sa_counters(0)[old_in], seg_.sa(old_in).generation).packets += 1;
  EXPECT_EQ(t.SumSaCounters(old_in).packets, 1u);
  EXPECT_EQ(t.SumSaCounters(old_in).bytes, 0u);
}

// Adopted slots stay listed as free (MarkUsed is O(1)); Allocate skips them,
// and a slot adopted, freed and reclaimed is handed out once, not twice.
TEST(SlotAllocator, AdoptedSlotsNeverHandedOutAndReclaimedOnce) {
  SlotAllocator a(9);  // slots 1..8
  for (uint32_t i : {2u, 5u, 8u}) a.MarkUsed(i);
  a.MarkUsed(5);  // twice: still one slot in use
  EXPECT_EQ(a.in_use(), 3u);
  a.FreeAfter(5, 1);
  EXPECT_EQ(a.Reclaim(1), std::vector<uint32_t>{5});
  std::multiset<uint32_t> got;
  for (;;) {
    absl::StatusOr<uint32_t> i = a.Allocate();
    if (!i.ok()) break;
    got.insert(*i);
  }
  EXPECT_EQ(got, (std::multiset<uint32_t>{1, 3, 4, 5, 6, 7}));
  EXPECT_EQ(a.in_use(), 8u);
  a.FreeAfter(3, 2);
  a.Reclaim(2);
  EXPECT_EQ(*a.Allocate(), 3u);
  EXPECT_FALSE(a.Allocate().ok());
}

TEST_F(ShmTablesTest, RestartedControlPlaneAdoptsActiveRecords) {
  uint32_t in_idx, sess;
  {
    ShmTables t(seg_);
    auto spi = t.AllocateInboundSpi();
    auto h = t.Install(Sample(*spi));
    ASSERT_TRUE(h.ok());
    in_idx = h->inbound_index;
    auto s = t.InstallSession({1, 2, 3, 4, h->inbound_index, h->outbound_index, 0x0100A8C0, 0,
                               htons(1701), 1400, 0, 9});
    ASSERT_TRUE(s.ok());
    sess = *s;
  }
  ShmTables t2(seg_);
  EXPECT_EQ(t2.AdoptExisting(), 3u);
  EXPECT_EQ(t2.orphan_sessions().size(), 1u);
  // Adopted slots are not handed out again.
  for (int i = 0; i < 10; ++i) {
    auto spi = t2.AllocateInboundSpi();
    ASSERT_TRUE(spi.ok());
    EXPECT_NE(shm::SpiIndex(*spi), in_idx);
  }
  EXPECT_TRUE(t2.RemoveSession(sess).ok());
  EXPECT_TRUE(t2.orphan_sessions().empty());
}

// A session adopted from a killed control plane that is rebound to other
// SAs (a rekey finishing after the restart) is found under its new inbound
// SAs and no longer under its old one.
TEST_F(ShmTablesTest, RebindingAnOrphanSessionMovesItInTheOrphanIndex) {
  uint32_t old_in, out, sess;
  {
    ShmTables t(seg_);
    auto spi = t.AllocateInboundSpi();
    auto h = t.Install(Sample(*spi));
    ASSERT_TRUE(h.ok());
    old_in = h->inbound_index;
    out = h->outbound_index;
    auto s = t.InstallSession({1, 2, 3, 4, old_in, out, 0x0100A8C0, 0, htons(1701), 1400, 0, 9});
    ASSERT_TRUE(s.ok());
    sess = *s;
  }
  ShmTables t2(seg_);
  ASSERT_EQ(t2.AdoptExisting(), 3u);
  auto spi = t2.AllocateInboundSpi();
  ASSERT_TRUE(spi.ok());
  auto h2 = t2.Install(Sample(*spi));
  ASSERT_TRUE(h2.ok());
  const uint32_t new_in = h2->inbound_index;
  ASSERT_TRUE(t2.RebindSession(sess, new_in, old_in, h2->outbound_index).ok());
  EXPECT_TRUE(t2.CheckOrphanIndex().ok()) << t2.CheckOrphanIndex();
  const uint32_t by_new[] = {new_in};
  EXPECT_EQ(t2.OrphanSessionsOn(by_new), std::vector<uint32_t>{sess});
  // Now only the old SA as the alternate: still found under it, and
  // dropping it leaves the session under the new one alone.
  ASSERT_TRUE(t2.RebindSession(sess, new_in, shm::kInvalidIndex, h2->outbound_index).ok());
  EXPECT_TRUE(t2.CheckOrphanIndex().ok()) << t2.CheckOrphanIndex();
  const uint32_t by_old[] = {old_in};
  EXPECT_TRUE(t2.OrphanSessionsOn(by_old).empty());
  EXPECT_EQ(t2.OrphanSessionsOn(by_new), std::vector<uint32_t>{sess});
  EXPECT_TRUE(t2.RemoveSession(sess).ok());
  EXPECT_TRUE(t2.orphan_sessions().empty());
  EXPECT_TRUE(t2.CheckOrphanIndex().ok()) << t2.CheckOrphanIndex();
}

TEST_F(ShmTablesTest, RejectsOversizedKeysAndGcmWithoutSalt) {
  ShmTables t(seg_);
  auto spi = t.AllocateInboundSpi();
  ChildSaInstall sa = Sample(*spi);
  sa.inbound.cipher_key.resize(40);
  EXPECT_FALSE(t.Install(sa).ok());
  sa = Sample(*spi);
  sa.cipher = shm::Cipher::kAesGcm16;
  sa.integ = shm::Integ::kNone;
  EXPECT_FALSE(t.Install(sa).ok());
}

// Quick Mode responder order (SaSink): the inbound SA is live alone first,
// with no outbound pair to send on; message 3 adds the outbound SA and the
// pairing; an abort frees the inbound slot after quiescence.
TEST_F(ShmTablesTest, InboundFirstThenOutboundOrAbort) {
  ShmTables t(seg_);
  auto spi = t.AllocateInboundSpi();
  ASSERT_TRUE(spi.ok());
  DrainUpdates();
  auto in = t.InstallInbound(Sample(*spi));
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(*in, shm::SpiIndex(*spi));
  const shm::SaRecord& r = seg_.sa(*in);
  EXPECT_EQ(r.state, shm::SlotState::kActive);
  EXPECT_EQ(r.dir, shm::SaDir::kInbound);
  EXPECT_EQ(r.spi, *spi);
  EXPECT_EQ(r.paired_index, shm::kInvalidIndex);
  EXPECT_EQ(t.sas_in_use(), 1u);
  EXPECT_EQ(DrainUpdates().size(), 1u);
  // Twice is refused.
  EXPECT_FALSE(t.InstallInbound(Sample(*spi)).ok());
  auto h = t.CompleteOutbound(*in, Sample(*spi));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->inbound_index, *in);
  EXPECT_EQ(seg_.sa(*in).paired_index, h->outbound_index);
  const shm::SaRecord& out = seg_.sa(h->outbound_index);
  EXPECT_EQ(out.state, shm::SlotState::kActive);
  EXPECT_EQ(out.dir, shm::SaDir::kOutbound);
  EXPECT_EQ(out.spi, 0xC0FFEEu);
  EXPECT_EQ(out.paired_index, *in);
  EXPECT_EQ(t.sas_in_use(), 2u);
  EXPECT_EQ(DrainUpdates().size(), 2u);  // the outbound record, the inbound's pairing
  // A complete pair cannot be completed again.
  EXPECT_FALSE(t.CompleteOutbound(*in, Sample(*spi)).ok());
  EXPECT_FALSE(t.CompleteOutbound(h->outbound_index, Sample(*spi)).ok());

  // Abort: a second inbound-only SA goes; its keys are wiped at once.
  auto spi2 = t.AllocateInboundSpi();
  auto in2 = t.InstallInbound(Sample(*spi2));
  ASSERT_TRUE(in2.ok());
  EXPECT_EQ(t.sas_in_use(), 3u);
  t.AbortInbound(*in2);
  EXPECT_EQ(seg_.sa(*in2).state, shm::SlotState::kFreePending);
  EXPECT_EQ(seg_.sa(*in2).cipher_key[0], 0);
  EXPECT_EQ(t.sas_in_use(), 2u);
  EXPECT_FALSE(t.CompleteOutbound(*in2, Sample(*spi2)).ok());
  EXPECT_TRUE(t.Remove(*h).ok());
  EXPECT_EQ(t.sas_in_use(), 0u);
}

}  // namespace
}  // namespace vpn::cp

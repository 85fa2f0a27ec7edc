#include "shm_tables.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <set>

#include "gtest/gtest.h"

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

}  // namespace
}  // namespace vpn::cp

// A control plane killed and restarted while the dataplane keeps
// forwarding: the new one adopts every active SA and session record, and
// each client that reconnects (its new IKE SA comes up) removes exactly what
// it left behind, found through the orphan index (orphan_index.h) instead of
// scans. After every reconnect the removals are compared with a model that
// scans every record, and the index with ShmTables::CheckOrphanIndex.
#include <algorithm>
#include <random>
#include <set>

#include "daemon_rig_test.h"

namespace vpn::cp {
namespace {

class DaemonRestartTest : public DaemonRigTest {
 protected:
  // kill -9 and start again: the segment keeps what the dead process left.
  void Restart() {
    std::vector<uint8_t> image = DaemonProbe::SnapshotSegment(*d_);
    p_.reset();
    d_.reset();
    ASSERT_TRUE(DaemonProbe::RestoreSegment(cfg_, std::move(image)).ok());
    StartDaemon();
  }
  DaemonProbe::Client& Connect(uint32_t ip, uint16_t port, bool raw_esp = false) {
    absl::StatusOr<DaemonProbe::Client*> c = p_->Connect(ip, port, true, raw_esp);
    EXPECT_TRUE(c.ok()) << c.status();
    return **c;
  }

  std::set<uint32_t> ActiveSas() const {
    std::set<uint32_t> s;
    for (uint32_t i = 1; i < cfg_.dataplane.max_sas; ++i)
      if (p_->tables().sa(i).state == shm::SlotState::kActive) s.insert(i);
    return s;
  }
  std::set<uint32_t> ActiveSessions() const {
    std::set<uint32_t> s;
    for (uint32_t i = 1; i < cfg_.dataplane.max_sessions; ++i)
      if (p_->tables().session(i).state == shm::SlotState::kActive) s.insert(i);
    return s;
  }
  // The model: what a scan over every adopted record finds for a peer.
  std::pair<std::set<uint32_t>, std::set<uint32_t>> ScanOrphansOf(uint32_t ip, uint16_t port) {
    std::set<uint32_t> sas, sessions;
    for (uint32_t i : p_->tables().orphan_sas()) {
      const shm::SaRecord& r = p_->tables().sa(i);
      if (r.peer_ip == ip && (r.encap != shm::Encap::kUdp || r.peer_port == htons(port)))
        sas.insert(i);
    }
    for (uint32_t s : p_->tables().orphan_sessions()) {
      const shm::SessionRecord& r = p_->tables().session(s);
      if (sas.contains(r.inbound_sa) || sas.contains(r.inbound_sa_alt)) sessions.insert(s);
    }
    return {sas, sessions};
  }
  ::testing::AssertionResult OrphansOk() const {
    absl::Status s = p_->tables().CheckOrphanIndex();
    if (s.ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << s;
  }
};

struct Peer {
  uint32_t ip;
  uint16_t port;  // of its IKE SA: 4500 side port, or 500 without NAT
  bool raw_esp = false;
};

TEST_F(DaemonRestartTest, EachReconnectRemovesOnlyItsOwnAdoptedRecords) {
  // Ten clients behind one NAT address (ports tell them apart), three on a
  // second address reusing the first one's ports, two without NAT (ESP not
  // in UDP: any port of their address is theirs), one mid-rekey (its new
  // inbound SA is live beside the old: the session accepts both).
  std::vector<Peer> peers;
  const uint32_t nat = htonl(0xC612000Au), other = htonl(0xC612000Bu);
  for (uint16_t k = 0; k < 10; ++k) peers.push_back({nat, uint16_t(20000 + k)});
  for (uint16_t k = 0; k < 3; ++k) peers.push_back({other, uint16_t(20000 + k)});
  peers.push_back({htonl(0xC612000Eu), 500, true});
  peers.push_back({htonl(0xC612000Fu), 4500, true});  // reconnects behind a NAT now
  for (const Peer& pr : peers) Connect(pr.ip, pr.raw_esp ? 1701 : pr.port, pr.raw_esp);
  ASSERT_TRUE(p_->QuickMode2(p_->clients()[4]).ok());
  const std::set<uint32_t> sas_before = ActiveSas(), sessions_before = ActiveSessions();
  ASSERT_EQ(sas_before.size(), 2 * peers.size() + 1);
  ASSERT_EQ(p_->tables().sa(p_->clients().back().sa.inbound_index).encap, shm::Encap::kNone);
  ASSERT_EQ(sessions_before.size(), peers.size());

  Restart();
  EXPECT_EQ(p_->tables().orphan_sas().size(), sas_before.size());
  EXPECT_EQ(p_->tables().orphan_sessions().size(), sessions_before.size());
  ASSERT_TRUE(OrphansOk());
  // An address with nothing adopted: nothing happens.
  p_->IkeSaUp(htonl(0xC612000Cu), 20000);
  EXPECT_EQ(ActiveSas(), sas_before);
  EXPECT_EQ(p_->orphans_removed(), 0u);

  std::mt19937 rng(7);
  std::shuffle(peers.begin(), peers.end(), rng);
  std::set<uint32_t> sas = sas_before, sessions = sessions_before;
  uint64_t removed = 0;
  for (const Peer& pr : peers) {
    const auto [want_sas, want_sessions] = ScanOrphansOf(pr.ip, pr.port);
    ASSERT_FALSE(want_sas.empty());
    ASSERT_EQ(want_sessions.size(), 1u);
    p_->IkeSaUp(pr.ip, pr.port);
    for (uint32_t i : want_sas) sas.erase(i);
    for (uint32_t s : want_sessions) sessions.erase(s);
    removed += want_sas.size();
    EXPECT_EQ(ActiveSas(), sas);
    EXPECT_EQ(ActiveSessions(), sessions);
    EXPECT_EQ(p_->orphans_removed(), removed);
    ASSERT_TRUE(OrphansOk());
    // A second IKE SA from the same peer finds nothing more.
    p_->IkeSaUp(pr.ip, pr.port);
    EXPECT_EQ(ActiveSas(), sas);
  }
  EXPECT_TRUE(sas.empty());
  EXPECT_TRUE(sessions.empty());
  EXPECT_TRUE(p_->tables().orphan_sas().empty());
}

TEST_F(DaemonRestartTest, NewClientsBesideOrphansAndExpiry) {
  for (uint16_t k = 0; k < 6; ++k) Connect(htonl(0xC612000Au), uint16_t(21000 + k));
  Restart();
  ASSERT_EQ(p_->tables().orphan_sessions().size(), 6u);
  const std::set<uint32_t> adopted_sas = ActiveSas();
  // A new client on an address nobody left records at: installed beside the
  // orphans, rekeyed and deleted without touching them or the index.
  DaemonProbe::Client& n = Connect(htonl(0xC612000Du), 22000);
  ASSERT_TRUE(OrphansOk());
  ASSERT_TRUE(p_->Rekey(n).ok());
  p_->DeleteChild(n.sa);
  ASSERT_TRUE(OrphansOk());
  for (uint32_t i : adopted_sas) EXPECT_EQ(p_->tables().sa(i).state, shm::SlotState::kActive);
  EXPECT_EQ(p_->tables().orphan_sas().size(), adopted_sas.size());
  // One orphan removed by hand (as vpnctl clear would): the index follows.
  const uint32_t one = p_->tables().orphan_sessions().front();
  ASSERT_TRUE(p_->tables().RemoveSession(one).ok());
  ASSERT_TRUE(OrphansOk());
  // One ESP lifetime later the rest expire.
  p_->ExpireOrphans();
  EXPECT_TRUE(p_->tables().orphan_sas().empty());
  EXPECT_TRUE(p_->tables().orphan_sessions().empty());
  for (uint32_t i : adopted_sas) EXPECT_NE(p_->tables().sa(i).state, shm::SlotState::kActive);
  ASSERT_TRUE(OrphansOk());
}

}  // namespace
}  // namespace vpn::cp

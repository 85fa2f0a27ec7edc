// The control plane's side of the shared-memory tables: it is the only writer
// of SaRecord and SessionRecord (shm_abi.h). Slots are published under their
// seqlock, announced on the update ring, and a deleted slot is reused only
// after the dataplane reports that every worker passed a quiescent point
// (header.dp_quiesced_epoch >= the slot's free_epoch).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "orphan_index.h"
#include "sa_sink.h"
#include "vpn/shm_segment.h"

namespace vpn::cp {

// Free-slot bookkeeping for one table with epoch-deferred reuse.
class SlotAllocator {
 public:
  // Slot 0 is never handed out so that a zeroed index is always invalid.
  explicit SlotAllocator(uint32_t capacity);
  absl::StatusOr<uint32_t> Allocate();
  // The slot becomes reusable once Reclaim sees quiesced_epoch >= epoch.
  void FreeAfter(uint32_t index, uint32_t epoch);
  // Marks a slot as used (adopting records left by a previous control plane).
  void MarkUsed(uint32_t index);
  // Returns the slots that became reusable.
  std::vector<uint32_t> Reclaim(uint32_t quiesced_epoch);
  uint32_t in_use() const { return in_use_; }
  uint32_t capacity() const { return capacity_; }

 private:
  uint32_t capacity_;
  uint32_t in_use_ = 0;
  std::vector<uint32_t> free_;        // LIFO of free slots
  std::vector<bool> used_;
  std::deque<std::pair<uint32_t, uint32_t>> pending_;  // (epoch, index)
};

// What SaSink::Install needs besides the ChildSaInstall: time for expiry.
class ShmTables : public SaSink {
 public:
  explicit ShmTables(shm::Segment& seg);

  // Called once at start: adopts active records a previous control plane left
  // (the dataplane kept forwarding them) and returns how many it adopted.
  // Adopted SAs are removed after `orphan_lifetime` unless claimed earlier.
  uint32_t AdoptExisting();

  // --- SaSink ---
  absl::StatusOr<uint32_t> AllocateInboundSpi() override;
  void ReleaseInboundSpi(uint32_t spi) override;
  absl::StatusOr<ChildSaHandle> Install(const ChildSaInstall& sa) override;
  absl::StatusOr<uint32_t> InstallInbound(const ChildSaInstall& sa) override;
  absl::StatusOr<ChildSaHandle> CompleteOutbound(uint32_t inbound_index,
                                                 const ChildSaInstall& sa) override;
  void AbortInbound(uint32_t inbound_index) override;
  absl::Status Remove(const ChildSaHandle& h) override;
  void SetOwner(const ChildSaHandle& h, uint64_t ike_sa_cookie) override;

  // --- Sessions ---
  struct SessionSpec {
    uint16_t local_tunnel_id, local_session_id, peer_tunnel_id, peer_session_id;
    uint32_t inbound_sa, outbound_sa;  // SA table indices
    uint32_t assigned_ip;              // network order
    uint32_t peer_ip;                  // network order
    uint16_t peer_port;                // network order
    uint16_t mru;
    uint8_t flags;                     // shm::kSessionFlag*
    uint64_t owner_cookie;
  };
  absl::StatusOr<uint32_t> InstallSession(const SessionSpec& s);
  absl::Status UpdateSessionOutboundSa(uint32_t index, uint32_t outbound_sa);
  // Phase 2 rekey: the session's SAs become (inbound, outbound); `alt` stays
  // accepted inbound until it is cleared (kInvalidIndex) when deleted.
  absl::Status RebindSession(uint32_t index, uint32_t inbound, uint32_t alt, uint32_t outbound);
  const shm::SessionRecord& session(uint32_t i) const { return seg_.session(i); }
  absl::Status RemoveSession(uint32_t index);

  // Periodic work: reclaim quiesced slots, heartbeat. Returns true if it did
  // something.
  bool Poll();

  // Orphans adopted at start (records whose owner is gone), ascending.
  std::vector<uint32_t> orphan_sas() const { return orphans_.Sas(); }
  std::vector<uint32_t> orphan_sessions() const { return orphans_.Sessions(); }
  // The adopted SAs of one peer: its address (network order) and, for SAs in
  // UDP (NAT-T), its port (network order); and the adopted sessions that
  // arrive on any of them. Cost: that peer's records only (orphan_index.h).
  std::vector<uint32_t> OrphanSasOf(uint32_t peer_ip, uint16_t peer_port) const;
  std::vector<uint32_t> OrphanSessionsOn(std::span<const uint32_t> sas) const {
    return orphans_.SessionsOn(sas);
  }
  // Tests: the orphan index against a scan of every record.
  absl::Status CheckOrphanIndex() const;

  // Counters read by vpnctl.
  const shm::SaRecord& sa(uint32_t i) const { return seg_.sa(i); }
  uint32_t sas_in_use() const { return sa_slots_.in_use(); }
  uint32_t sessions_in_use() const { return session_slots_.in_use(); }

  // Sums a per-worker SA/session counter over the dataplane's workers, for
  // the record now in the slot only: each worker restarts its row when it
  // first counts for a new record generation, and rows still holding an
  // earlier occupant's counts are left out (shm_abi.h CountersFor).
  shm::SaCounters SumSaCounters(uint32_t index) const;
  shm::SessionCounters SumSessionCounters(uint32_t index) const;
  // IPv4 packets of a session both ways, over every worker: what the PPP
  // idle timeout watches (ppp::ServerCallbacks::traffic_counter). The
  // dataplane counts only forwarded data, not the punted LCP echoes.
  uint64_t SessionPackets(uint32_t index) const {
    const shm::SessionCounters s = SumSessionCounters(index);
    return s.rx_packets + s.tx_packets;
  }

 private:
  void PublishSa(uint32_t idx, const ChildSaInstall& sa, const EspSaKeys& keys, shm::SaDir dir,
                 uint32_t paired);
  void Notify(shm::UpdateTable t, uint32_t index);
  static uint64_t OrphanKey(const shm::SaRecord& r);
  static uint32_t NextGeneration(uint32_t previous);
  uint32_t NextEpoch();
  bool DataplaneAlive() const;

  shm::Segment& seg_;
  SlotAllocator sa_slots_;
  SlotAllocator session_slots_;
  OrphanIndex orphans_;
  uint64_t last_dp_heartbeat_ = 0;
  absl::Time last_dp_heartbeat_change_ = absl::Now();
};

}  // namespace vpn::cp

// The main lcore's loop: the ONE writer of the runtime tables. It consumes
// the update ring (or rescans every record after an overflow), publishes
// dp_quiesced_epoch once every worker passed a quiescent point after it saw
// cp_epoch, frees retired runtime objects after their grace period, runs the
// neighbour table (learn, resolve, age), sends injected packets, and beats
// the heartbeat.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime.h"
#include "vpn/shm_segment.h"
#include "worker.h"

namespace vpn::dp {

class Housekeeping {
 public:
  Housekeeping(DataplaneShared* sh, shm::Segment* seg, RuntimeWriter* writer,
               GracePeriods* gp, Worker* hk_worker, uint64_t tsc_hz);

  // Reads every SA and session record (start-up with an existing segment,
  // and after an update-ring overflow).
  void FullRescan();
  // One pass of everything; cheap when idle.
  void RunOnce();
  // Ask for the MACs of configured gateways early.
  void ResolveGateways();

 private:
  void DrainUpdates();
  void RetryPending();
  void Epoch();
  bool UnseenDeletions();
  void DrainInjects();
  void DrainEvents();
  void AgeNeighbours(uint64_t now);
  void ApplySa(uint32_t i);
  void ApplySession(uint32_t i);
  void Resolve(uint32_t ip, uint8_t port, uint64_t now);
  void Hold(const HkEvent& ev, uint64_t now);
  void ReleaseHeld(uint64_t now);

  DataplaneShared* sh_;
  shm::Segment* seg_;
  Runtime* rt_;
  RuntimeWriter* writer_;
  GracePeriods* gp_;
  Worker* hk_;
  uint64_t tsc_hz_;
  uint64_t next_heartbeat_ = 0;
  uint64_t next_age_ = 0;
  // Epoch publication.
  bool epoch_pending_ = false;
  uint32_t epoch_target_ = 0;
  uint64_t epoch_token_ = 0;
  // Records whose seqlock read failed (writer busy): retried next pass.
  std::vector<std::pair<shm::UpdateTable, uint32_t>> pending_;
  // Packets waiting for ARP: a few per address, a fixed number in all.
  struct Held {
    rte_mbuf* m = nullptr;
    uint32_t ip = 0;
    uint8_t port = 0;
    uint64_t since = 0;
  };
  static constexpr uint32_t kMaxHeld = 256;
  static constexpr uint32_t kMaxHeldPerAddress = 4;
  Held held_[kMaxHeld];
  uint32_t n_held_ = 0;
};

}  // namespace vpn::dp

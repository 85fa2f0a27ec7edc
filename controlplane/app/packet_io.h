// Punt rings (dataplane -> control plane) and the inject ring (control plane
// -> dataplane) as the control plane sees them.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <vector>

#include "vpn/shm_segment.h"

namespace vpn::cp {

// What happened to packets the control plane hands to the dataplane, one
// counter each (metrics vpn_inject_total{result}). The ring-full case is
// never a silent loss: the packet waits in a bounded backlog (in order: a
// later packet never overtakes a waiting one) and is retried every event
// loop iteration; only a full backlog loses it.
#define VPN_INJECT_COUNTERS(X)                                                        \
  X(sent, "Queued on the inject ring")                                               \
  X(deferred, "Inject ring full (or a backlog waiting): kept in the backlog")        \
  X(backlog_sent, "Backlogged packet queued on the inject ring later")               \
  X(backlog_full, "Lost: inject ring full and the backlog at its bound")             \
  X(too_large, "Lost: larger than an inject ring slot")

struct InjectCounters {
#define X(name, help) uint64_t name = 0;
  VPN_INJECT_COUNTERS(X)
#undef X
};

struct PuntedPacket {
  shm::PacketMeta meta;
  std::span<const uint8_t> data;  // valid only during the callback
};

class PacketIo {
 public:
  explicit PacketIo(shm::Segment& seg) : seg_(seg) {}

  // Drains up to `budget` packets over all workers' punt rings, round-robin,
  // calling `handler` for each. Returns how many were handled.
  int DrainPunts(const std::function<void(const PuntedPacket&)>& handler, int budget = 256);

  // Queues a packet for the dataplane: on the ring, or in the backlog when
  // the ring is full (or others wait). False (and counted) only if the
  // packet is lost: too large for a slot, or the backlog is full.
  bool Inject(const shm::PacketMeta& meta, std::span<const uint8_t> data);
  // Moves backlogged packets to the ring while it has room; the daemon calls
  // it every loop iteration. Returns how many moved.
  size_t FlushBacklog();
  size_t backlog() const { return backlog_.size(); }

  // Convenience: UDP datagram from local to peer on the WAN port (IKE).
  bool InjectUdp(uint32_t local_ip, uint16_t local_port, uint32_t peer_ip, uint16_t peer_port,
                 std::span<const uint8_t> payload);
  // L2TP control message inside ESP with the outbound SA (or clear).
  bool InjectL2tp(uint32_t outbound_sa, uint32_t local_ip, uint32_t peer_ip, uint16_t peer_port,
                  std::span<const uint8_t> msg);
  // PPP frame (from the protocol field) into dataplane session `session`.
  bool InjectPpp(uint32_t session, std::span<const uint8_t> frame);

  // Packets lost (never reached the ring).
  uint64_t inject_failures() const { return counters_.backlog_full + counters_.too_large; }
  const InjectCounters& inject_counters() const { return counters_; }
  uint64_t malformed_punts() const { return malformed_punts_; }

  // Bound of the backlog: 64 inject rings' worth (65536 packets, about
  // 10 MiB of keepalive-sized packets): a keepalive burst of every session
  // at once fits at the table sizes we test, since the dataplane drains the
  // ring continuously; a dead dataplane cannot grow it without bound.
  static constexpr size_t kMaxBacklog = 64 * size_t(shm::kInjectSlots);

 private:
  struct Pending {
    shm::PacketMeta meta;
    std::vector<uint8_t> data;
  };
  shm::Segment& seg_;
  uint32_t next_worker_ = 0;
  InjectCounters counters_;
  std::deque<Pending> backlog_;
  uint64_t malformed_punts_ = 0;
};

}  // namespace vpn::cp

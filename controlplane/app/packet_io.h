// Punt rings (dataplane -> control plane) and the inject ring (control plane
// -> dataplane) as the control plane sees them.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "vpn/shm_segment.h"

namespace vpn::cp {

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

  // Queues a packet for the dataplane. False (and counted) if the ring is
  // full or the packet too large for a slot.
  bool Inject(const shm::PacketMeta& meta, std::span<const uint8_t> data);

  // Convenience: UDP datagram from local to peer on the WAN port (IKE).
  bool InjectUdp(uint32_t local_ip, uint16_t local_port, uint32_t peer_ip, uint16_t peer_port,
                 std::span<const uint8_t> payload);
  // L2TP control message inside ESP with the outbound SA (or clear).
  bool InjectL2tp(uint32_t outbound_sa, uint32_t local_ip, uint32_t peer_ip, uint16_t peer_port,
                  std::span<const uint8_t> msg);
  // PPP frame (from the protocol field) into dataplane session `session`.
  bool InjectPpp(uint32_t session, std::span<const uint8_t> frame);

  uint64_t inject_failures() const { return inject_failures_; }
  uint64_t malformed_punts() const { return malformed_punts_; }

 private:
  shm::Segment& seg_;
  uint32_t next_worker_ = 0;
  uint64_t inject_failures_ = 0;
  uint64_t malformed_punts_ = 0;
};

}  // namespace vpn::cp

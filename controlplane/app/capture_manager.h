// The control plane's side of `vpnctl capture`: asks the dataplane for a
// capture (kInjectCaptureControl), writes the frames it punts
// (PuntKind::kCapture) to a pcapng file, and ends the capture at whichever
// bound comes first: packet count, file size, duration, or `capture stop`.
// One capture at a time; the last few finished ones stay visible to
// `capture status`.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "event_loop.h"
#include "packet_io.h"
#include "pcapng_writer.h"
#include "vpn/shm_segment.h"

namespace vpn::cp {

struct CaptureSpec {
  std::string path;               // absolute; the pcapng file to write
  uint32_t port_mask = 0;         // bit i = port index i
  uint32_t ip = 0;                // network order; 0 = all frames
  uint8_t directions = shm::kCaptureRx | shm::kCaptureTx;
  uint32_t snaplen = 1600;
  uint32_t max_packets = 10000;
  uint64_t max_bytes = 16ull << 20;
  uint32_t max_pps = 1000;        // per dataplane thread
  uint32_t duration_s = 10;
  std::string description;        // "session 3 (alice, 100.64.0.2)", file comment

  // Operator limits: a capture is always bounded.
  static constexpr uint32_t kMaxPackets = 1000000;
  static constexpr uint64_t kMaxBytes = 1ull << 30;
  static constexpr uint32_t kMaxDuration = 3600;
  static constexpr uint32_t kMaxPps = 100000;
  absl::Status Validate(uint32_t n_ports) const;
};

struct CaptureInfo {
  uint32_t id = 0;
  bool running = false;
  CaptureSpec spec;
  std::string end_reason;         // "count", "size", "duration", "stopped", ...
  uint64_t packets = 0;
  uint64_t file_bytes = 0;
  uint64_t stale = 0;             // punts of an earlier capture, ignored
  absl::Time started;
  absl::Time ended;
};

class CaptureManager {
 public:
  CaptureManager(EventLoop& loop, shm::Segment& seg, PacketIo& io,
                 std::vector<std::string> port_names);
  ~CaptureManager();

  absl::StatusOr<uint32_t> Start(CaptureSpec spec);
  absl::Status Stop(uint32_t id, const std::string& why);
  // A PuntKind::kCapture frame.
  void OnPunt(const shm::PacketMeta& meta, std::span<const uint8_t> data);

  // The running capture, or a finished one of that id; id 0 = the latest.
  std::optional<CaptureInfo> Info(uint32_t id) const;
  const std::vector<std::string>& port_names() const { return port_names_; }

 private:
  bool SendRequest(uint8_t op, uint32_t id, const CaptureSpec* spec);
  void Finish(const std::string& why);
  uint64_t UnixNs(uint64_t tsc) const;

  EventLoop& loop_;
  shm::Segment& seg_;
  PacketIo& io_;
  std::vector<std::string> port_names_;
  uint32_t next_id_;
  std::optional<CaptureInfo> cur_;
  std::deque<CaptureInfo> done_;
  PcapngWriter file_;
  TimerQueue::TimerId timer_ = 0;
  uint64_t tsc0_ = 0;
  absl::Time wall0_;
};

}  // namespace vpn::cp

// vpn-controlplane: ties the protocol engines to the shared-memory contract.
#pragma once

#include <memory>

#include "absl/status/status.h"
#include "control_server.h"
#include "event_loop.h"
#include "packet_io.h"
#include "shm_tables.h"
#include "vpn/config.h"
#include "vpn/shm_segment.h"

namespace vpn::cp {

struct DaemonCounters {
  uint64_t punts = 0, punts_ike = 0, punts_l2tp = 0, punts_ppp = 0, punts_sa_event = 0;
  uint64_t punts_unhandled = 0;
};

class Daemon {
 public:
  explicit Daemon(config::Config cfg);
  ~Daemon();
  // Attaches to (or creates) the segment, adopts what a previous control plane
  // left, and registers the loop's pollers and timers.
  absl::Status Start();
  void Run() { loop_.Run(); }
  void Stop() { loop_.Stop(); }
  EventLoop& loop() { return loop_; }
  ControlServer& control() { return *control_; }

 private:
  void OnPunt(const PuntedPacket& p);
  void Heartbeat();
  void RegisterCommands();

  config::Config cfg_;
  EventLoop loop_;
  shm::Segment seg_;
  std::unique_ptr<ShmTables> tables_;
  std::unique_ptr<PacketIo> io_;
  std::unique_ptr<ControlServer> control_;
  DaemonCounters counters_;
};

}  // namespace vpn::cp

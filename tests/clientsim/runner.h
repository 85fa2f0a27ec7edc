// The vpn-clientsim process: many SimClients on Linux UDP sockets (one per
// client, each with its own source port and optionally its own source
// address), one single-threaded cp::EventLoop (epoll + timers) driving all
// of them, clients started at a fixed rate, and the figures the perf
// benchmarks report: connects per second, concurrent sessions held, connect
// time percentiles, traffic, RSS memory per session.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "client.h"
#include "event_loop.h"

namespace vpn::clientsim {

struct RunnerOptions {
  ClientSettings client;
  int clients = 1;
  double rate = 10;                       // client starts per second
  std::vector<uint32_t> sources;          // host order; empty: the route's source
  uint16_t base_port = 0;                 // 0: ephemeral ports
  absl::Duration max_time = absl::ZeroDuration();  // 0: derived from the settings
  std::string json_path;
  bool per_client_lines = true;
  // Traffic from every sample_every-th client only (1: all).
  int sample_every = 1;
  // Hold every client until the ramp is over (every client started and up
  // or failed), then run the sample's traffic, then hold all for
  // `hold_after_ramp` and tear everything down. Without it each client
  // sends at once and holds for ClientSettings::hold.
  bool traffic_after_ramp = false;
  absl::Duration hold_after_ramp = absl::Seconds(5);
  absl::Duration progress = absl::ZeroDuration();  // progress line interval; 0: none
  int max_connecting = 0;  // >0: at most this many clients connecting at once
};

struct Summary {
  int clients = 0, connected = 0, ok = 0, failed = 0;
  double connect_p50_s = 0, connect_p99_s = 0, connect_max_s = 0;
  double ike_p50_s = 0;
  double connects_per_s = 0;   // connections completed per second of the connect window
  double connect_window_s = 0; // first start to last connect
  int peak_concurrent = 0;     // sessions up at the same time
  double rss_baseline_mib = 0, rss_peak_mib = 0;
  double rss_per_session_kib = 0;
  uint64_t sent = 0, received = 0;
  double rtt_avg_ms = 0;
  double wall_s = 0;
  // --traffic-after-ramp: the ramp (first start to the last client up or
  // failed), sessions up then, and the sample's traffic verdict.
  double ramp_s = 0;
  int up_after_ramp = 0, sample_clients = 0, sample_ok = 0;
  std::vector<std::pair<std::string, int>> failure_reasons;  // reason -> count
};

// Percentile (nearest-rank, p in [0,100]) of unsorted values; 0 if empty.
double Percentile(std::vector<double> v, double p);
// Resident set size of this process in bytes (from /proc/self/statm).
uint64_t CurrentRssBytes();

class Runner {
 public:
  explicit Runner(RunnerOptions opts);
  ~Runner();
  // Runs to completion; returns the process exit code (0: every client ok).
  int Run();
  const Summary& summary() const { return summary_; }

 private:
  struct Slot;
  absl::Status OpenSocket(Slot& s, int index);
  void StartSome();
  void OnReadable(Slot& s);
  void OnClientDone(SimClient& c);
  void Sample();
  void CheckRamp(int up, int connecting);
  void StopAll(const std::string& why);
  void Summarize();
  void PrintClient(const SimClient& c, const Slot& s) const;
  void PrintSummary() const;
  bool WriteJson() const;

  RunnerOptions opts_;
  cp::EventLoop loop_;
  esp::Engine engine_;
  std::vector<std::unique_ptr<Slot>> slots_;
  int started_ = 0, finished_ = 0;
  absl::Time t_start_, t_first_connect_, t_last_connect_;
  int peak_up_ = 0;
  uint64_t rss_baseline_ = 0, rss_at_peak_ = 0, rss_max_ = 0;
  bool stopping_ = false;
  bool ramp_done_ = false, sample_done_ = false;
  absl::Time t_ramp_done_, t_progress_;
  int up_after_ramp_ = 0, sample_clients_ = 0, sample_ok_ = 0;
  Summary summary_;
};

}  // namespace vpn::clientsim

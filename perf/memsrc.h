// The shared packet source: precomputed frames fed through ordinary ethdev
// ports, identical for our dataplane and for ipsec-secgw, so both pay the
// same I/O cost.
//
// The ports are net_null vdevs with no-rx=1 (RX returns nothing, TX frees
// what it is given). An RX callback installed first in the port's callback
// chain (rte_eth_add_first_rx_callback) fills each rte_eth_rx_burst() with up
// to 32 freshly allocated mbufs copied from the frames, cycling through
// them; a TX callback counts what the application hands to rte_eth_tx_burst()
// and timestamps measurement windows (rdtsc and thread CPU time) on the TX
// side, i.e. per packet actually forwarded. Everything runs inside the
// polling lcore: no second core, no kernel in the loop.
//
// Our dp_bench attaches it in-process; ipsec-secgw gets it through
// LD_PRELOAD of memsrc_preload.so (which wraps rte_eth_dev_start), so the
// example's source stays untouched apart from the RX checksum request.
// Single polling thread only (the callbacks share plain counters).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frame_file.h"

struct rte_mempool;
struct rte_mbuf;

namespace vpn::perf {

struct MemSrcConfig {
  uint64_t warmup = 20000;    // packets transmitted before the first window
  uint64_t window = 100000;   // transmitted packets per measured window
  uint32_t windows = 7;
  std::string result_path;    // JSON written when the last window closes
  bool raise_sigint = false;  // then raise(SIGINT): ipsec-secgw's quit signal
};

struct MemSrcWindow {
  uint64_t tx = 0, rx = 0;  // packets transmitted / generated in the window
  uint64_t tsc = 0;         // TSC ticks of the window
  uint64_t cpu_ns = 0;      // thread CPU time of the window
};

class MemSource {
 public:
  static MemSource& Get();

  // Resets counters and windows; configure before the ports are polled.
  void Configure(const MemSrcConfig& cfg);
  // Installs the generator on every RX queue of `port` (started). Frames are
  // copied into one contiguous block. pool: where the mbufs come from.
  // Calling it again for the same port replaces the frames (between runs,
  // never while the port is polled); empty frames stop the generator there.
  bool AttachRx(uint16_t port, const Frames& frames, rte_mempool* pool);
  // Installs the counter on every TX queue of `port`.
  bool AttachTx(uint16_t port);

  bool done() const { return done_; }
  uint64_t generated() const { return rx_total_; }
  uint64_t transmitted() const { return tx_total_; }
  const std::vector<MemSrcWindow>& windows() const { return windows_; }
  // {"windows": [...], "min_cycles_per_packet", "median_cycles_per_packet",
  //  "median_tsc_per_cpu_ns", "tx_total", "rx_total",
  //  "tx_ports": [{"port", "packets", "head" (hex)}]}
  std::string ResultJson() const;

 private:
  struct PortSrc;
  static uint16_t RxFill(uint16_t port, uint16_t queue, rte_mbuf** pkts, uint16_t nb,
                         uint16_t max, void* user);
  static uint16_t TxCount(uint16_t port, uint16_t queue, rte_mbuf** pkts, uint16_t nb,
                          void* user);
  void OnTx(uint16_t port, rte_mbuf** pkts, uint16_t n);
  void Finish();

  MemSrcConfig cfg_;
  std::vector<PortSrc*> ports_;  // never freed: callbacks may still run
  uint64_t rx_total_ = 0, tx_total_ = 0;
  uint64_t next_mark_ = 0;
  bool started_ = false;
  bool done_ = false;
  MemSrcWindow mark_{};  // counters at the start of the current window
  // Per port: packets transmitted and the first 64 bytes of the first one
  // (lets the driver check what the application really sent).
  static constexpr uint16_t kMaxPorts = 8;
  uint64_t port_tx_[kMaxPorts] = {};
  uint8_t head_[kMaxPorts][64] = {};
  uint16_t head_len_[kMaxPorts] = {};
  std::vector<MemSrcWindow> windows_;
};

}  // namespace vpn::perf

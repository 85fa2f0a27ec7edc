// Perf-harness hook: run pre-built frames through a worker's WAN or LAN
// pipeline from memory (no ports), transmission replaced by counting, and
// measure TSC cycles. perf/ builds its benchmarks on this.
#pragma once

#include <cstdint>
#include <vector>

#include "worker.h"

namespace vpn::dp {

struct BenchResult {
  uint64_t packets = 0;     // fed in
  uint64_t transmitted = 0; // reached a TX queue (discarded)
  uint64_t cycles = 0;      // TSC cycles inside the pipeline calls only
};

// Feeds `bursts` bursts of up to kBurst frames (cycling through `frames`)
// into w->ProcessWan / ProcessLan on port index `port`, each followed by
// w->FlushPoll as in the poll loop (ESP jobs may stay in the crypto lanes
// across bursts); drain: complete everything after the last burst (timed
// too). The mbuf copies are made outside the timed region. `w` must have
// set_discard_tx(true).
BenchResult RunBursts(Worker* w, rte_mempool* pool,
                      const std::vector<std::vector<uint8_t>>& frames, bool wan,
                      uint8_t port, uint32_t bursts, bool drain = true);

}  // namespace vpn::dp

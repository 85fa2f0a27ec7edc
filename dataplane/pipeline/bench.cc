#include "bench.h"

#include <cstring>

#include <rte_cycles.h>

namespace vpn::dp {

BenchResult RunBursts(Worker* w, rte_mempool* pool,
                      const std::vector<std::vector<uint8_t>>& frames, bool wan,
                      uint8_t port, uint32_t bursts, bool drain) {
  BenchResult r;
  if (frames.empty()) return r;
  size_t next = 0;
  rte_mbuf* pkts[kBurst];
  const uint64_t tx0 = w->discarded_tx();
  for (uint32_t b = 0; b < bursts; ++b) {
    uint16_t n = 0;
    for (; n < kBurst; ++n) {
      rte_mbuf* m = rte_pktmbuf_alloc(pool);
      if (!m) break;
      const std::vector<uint8_t>& f = frames[next];
      next = (next + 1) % frames.size();
      char* d = rte_pktmbuf_append(m, uint16_t(f.size()));
      if (!d) {
        rte_pktmbuf_free(m);
        break;
      }
      std::memcpy(d, f.data(), f.size());
      pkts[n] = m;
    }
    if (!n) break;
    const uint64_t t0 = rte_rdtsc_precise();
    if (wan)
      w->ProcessWan(pkts, n, port);
    else
      w->ProcessLan(pkts, n, port);
    w->FlushPoll(n);
    if (drain && b + 1 == bursts) w->Flush();
    r.cycles += rte_rdtsc_precise() - t0;
    r.packets += n;
  }
  r.transmitted = w->discarded_tx() - tx0;
  return r;
}

}  // namespace vpn::dp

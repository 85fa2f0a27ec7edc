// dp_bench --mode memory: what one random cache line costs this core, the
// floor under the many-sessions figures (docs/perf.md "Session 8").
//
// With S sessions and frame k belonging to session k % S, every packet
// reads its SA's and session's lines from wherever they were evicted to.
// This measures, on the same pinned core and the same memory setup as the
// runtime arena (2 MiB-aligned mappings advised MADV_HUGEPAGE), random
// 64-byte lines over a working set of a given size:
//   latency     a pointer chase (each load waits for the previous one);
//   throughput  independent loads of a random permutation (the core keeps
//               as many misses in flight as it can), TSC ticks per line.
// Sizes (--sets, default 1 MiB (L2) to 256 MiB (far beyond any L3)): the step shows
// the cache a working set of that size still fits in. A packet that needs
// L lines from DRAM costs at least L x the DRAM throughput figure however
// well its loads are prefetched.
#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <x86intrin.h>

#include "harness.h"

namespace vpn::perf {
namespace {

struct LineCost {
  double latency = 0, throughput = 0;  // TSC ticks per line
};

LineCost Measure(size_t bytes, uint64_t accesses) {
  constexpr size_t kHuge = size_t(2) << 20;
  LineCost r;
  void* map = mmap(nullptr, bytes + kHuge, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) return r;
  char* p = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(map) + kHuge - 1) & ~(kHuge - 1));
  madvise(p, bytes, MADV_HUGEPAGE);
  const size_t lines = bytes / 64;
  std::vector<uint32_t> order(lines);
  for (size_t i = 0; i < lines; ++i) order[i] = uint32_t(i);
  std::shuffle(order.begin(), order.end(), std::mt19937(1));
  // One cycle through every line in random order.
  for (size_t i = 0; i < lines; ++i) {
    char* next = p + uint64_t(order[(i + 1) % lines]) * 64;
    std::memcpy(p + uint64_t(order[i]) * 64, &next, sizeof next);
  }
  char* c = p + uint64_t(order[0]) * 64;
  for (uint64_t i = 0; i < std::min<uint64_t>(lines, accesses); ++i)
    c = *reinterpret_cast<char**>(c);  // warm the TLB and page tables
  uint64_t t0 = __rdtsc();
  for (uint64_t i = 0; i < accesses; ++i) c = *reinterpret_cast<char**>(c);
  r.latency = double(__rdtsc() - t0) / double(accesses);
  uint64_t sink = reinterpret_cast<uintptr_t>(c);
  t0 = __rdtsc();
  for (uint64_t i = 0; i < accesses; ++i)
    sink += *reinterpret_cast<volatile uint64_t*>(p + uint64_t(order[i % lines]) * 64 + 8);
  r.throughput = double(__rdtsc() - t0) / double(accesses);
  munmap(map, bytes + kHuge);
  if (sink == 1) std::fprintf(stderr, " ");  // keeps the loads
  return r;
}

}  // namespace

int RunMemory(const Options& o, Context& ctx) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(o.cpus[0], &set);
  sched_setaffinity(0, sizeof set, &set);
  for (const uint32_t sets : o.mem_sets) {
    const size_t mib = sets;
    LineCost best;
    for (uint32_t t = 0; t < o.trials; ++t) {  // best of: a shared machine
      const LineCost c = Measure(mib << 20, 1u << 20);
      if (t == 0 || c.latency < best.latency) best.latency = c.latency;
      if (t == 0 || c.throughput < best.throughput) best.throughput = c.throughput;
    }
    std::printf("memory %4zu MiB  random line: latency %6.1f  throughput %5.1f TSC cycles\n",
                mib, best.latency, best.throughput);
    Record r;
    r.Str("kind", "memory")
        .Int("working_set_mib", mib)
        .Num("latency_cycles", best.latency, 1)
        .Num("throughput_cycles_per_line", best.throughput, 1)
        .Num("tsc_ghz", ctx.tsc_ghz)
        .Str("cpu_model", ctx.cpu_model);
    if (!EmitRecord(o, r)) return 1;
  }
  return 0;
}

}  // namespace vpn::perf

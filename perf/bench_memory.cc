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
// well its loads are prefetched (unless the misses overlap computation).
// With --workers 2 it measures the same sets again on two cores at once,
// each missing on its own working set: one core's cost while the other
// misses too, the floor under the 2-worker figures at 100k sessions.
// On the largest set it also measures how many prefetches one batch may
// issue before they stop helping (kind "prefetch").
#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <barrier>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include <x86intrin.h>

#include "harness.h"

namespace vpn::perf {
namespace {

// `bytes` of anonymous memory starting on a 2 MiB boundary, advised
// MADV_HUGEPAGE (the runtime arena's setup); p == nullptr if mmap failed.
struct HugeRegion {
  static constexpr size_t kHuge = size_t(2) << 20;
  explicit HugeRegion(size_t bytes) : len(bytes + kHuge) {
    map = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) return;
    p = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(map) + kHuge - 1) & ~(kHuge - 1));
    madvise(p, bytes, MADV_HUGEPAGE);
  }
  ~HugeRegion() {
    if (map != MAP_FAILED) munmap(map, len);
  }
  HugeRegion(const HugeRegion&) = delete;
  HugeRegion& operator=(const HugeRegion&) = delete;
  size_t len;
  void* map = MAP_FAILED;
  char* p = nullptr;
};

struct LineCost {
  double latency = 0, throughput = 0;  // TSC ticks per line
};

// One core's working set: every line of `bytes` linked into one cycle in
// random order (for the chase) and the same order kept for the independent
// loads. Built before the timed phases so that cores measured together
// start them together.
class RandomLines {
 public:
  explicit RandomLines(size_t bytes) : region_(bytes), lines_(bytes / 64), order_(lines_) {
    char* p = region_.p;
    if (!p) return;
    for (size_t i = 0; i < lines_; ++i) order_[i] = uint32_t(i);
    std::shuffle(order_.begin(), order_.end(), std::mt19937(1));
    for (size_t i = 0; i < lines_; ++i) {
      char* next = p + uint64_t(order_[(i + 1) % lines_]) * 64;
      std::memcpy(p + uint64_t(order_[i]) * 64, &next, sizeof next);
    }
    cursor_ = p + uint64_t(order_[0]) * 64;  // then warm the TLB and page tables
    for (size_t i = 0; i < std::min<size_t>(lines_, size_t(1) << 20); ++i)
      cursor_ = *reinterpret_cast<char**>(cursor_);
  }
  bool ok() const { return region_.p != nullptr; }

  // Pointer chase: each load waits for the previous one.
  double Latency(uint64_t accesses) {
    char* c = cursor_;
    const uint64_t t0 = __rdtsc();
    for (uint64_t i = 0; i < accesses; ++i) c = *reinterpret_cast<char**>(c);
    const double r = double(__rdtsc() - t0) / double(accesses);
    cursor_ = c;
    return r;
  }

  // Independent loads: as many misses in flight as the core keeps.
  double Throughput(uint64_t accesses) {
    uint64_t sink = reinterpret_cast<uintptr_t>(cursor_);
    const uint64_t t0 = __rdtsc();
    for (uint64_t i = 0; i < accesses; ++i)
      sink += *reinterpret_cast<volatile uint64_t*>(region_.p + uint64_t(order_[i % lines_]) * 64 +
                                                    8);
    const double r = double(__rdtsc() - t0) / double(accesses);
    if (sink == 1) std::fprintf(stderr, " ");  // keeps the loads
    return r;
  }

 private:
  HugeRegion region_;
  size_t lines_;
  std::vector<uint32_t> order_;
  char* cursor_ = nullptr;
};

void PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

// Best of `trials` on each of `cpus` at once, each core on its own working
// set of `bytes`, each timed phase started together and no set-up running
// during any (std::barrier). With more than one core this is what one
// core's line costs while the others miss too, which is what two workers
// meet at 100k sessions. Returns one LineCost per core (zeros where the
// mapping failed).
std::vector<LineCost> MeasureTogether(const std::vector<int>& cpus, size_t bytes,
                                      uint32_t trials, uint64_t accesses) {
  std::vector<LineCost> best(cpus.size());
  std::barrier sync(std::ptrdiff_t(cpus.size()));
  auto run = [&](size_t k) {
    PinTo(cpus[k]);
    for (uint32_t t = 0; t < trials; ++t) {
      RandomLines lines(bytes);
      sync.arrive_and_wait();
      const double lat = lines.ok() ? lines.Latency(accesses) : 0;
      sync.arrive_and_wait();
      const double thr = lines.ok() ? lines.Throughput(accesses) : 0;
      // Nobody builds the next working set (random writes over all of it)
      // while another core is still timing.
      sync.arrive_and_wait();
      if (t == 0 || lat < best[k].latency) best[k].latency = lat;
      if (t == 0 || thr < best[k].throughput) best[k].throughput = thr;
    }
  };
  std::vector<std::thread> others;
  for (size_t k = 1; k < cpus.size(); ++k) others.emplace_back(run, k);
  run(0);
  for (std::thread& t : others) t.join();
  return best;
}

// Software prefetches of `batch` random lines at once, then enough time for
// all of them to arrive (20k TSC cycles, ~50 memory latencies), then the
// loads: cycles per line of those loads, against the same loads without
// the prefetches. A core keeps only so many misses in flight; prefetches
// beyond that may be dropped, and then their loads miss anyway: the batch
// size where "after prefetch" climbs towards "cold" is how many lines one
// prefetch stage may ask for at once on this machine.
struct PrefetchCost {
  double after = 0, cold = 0;
};

PrefetchCost MeasurePrefetch(char* p, size_t lines, uint32_t batch, std::mt19937_64& rng) {
  constexpr int kReps = 200;
  std::vector<size_t> idx(batch);
  uint64_t sink = 0, t_after = 0, t_cold = 0;
  for (int rep = 0; rep < kReps; ++rep) {
    for (int pass = 0; pass < 2; ++pass) {
      for (uint32_t i = 0; i < batch; ++i) idx[i] = rng() % lines;
      if (pass == 0)
        for (uint32_t i = 0; i < batch; ++i) __builtin_prefetch(p + idx[i] * 64);
      const uint64_t until = __rdtsc() + 20000;
      while (__rdtsc() < until) {
      }
      _mm_lfence();
      const uint64_t t0 = __rdtsc();
      for (uint32_t i = 0; i < batch; ++i)
        sink += *reinterpret_cast<volatile uint64_t*>(p + idx[i] * 64);
      _mm_lfence();  // the loads completed, not only issued
      (pass == 0 ? t_after : t_cold) += __rdtsc() - t0;
    }
  }
  if (sink == 1) std::fprintf(stderr, " ");
  PrefetchCost r;
  r.after = double(t_after) / kReps / batch;
  r.cold = double(t_cold) / kReps / batch;
  return r;
}

int RunPrefetch(const Options& o, Context& ctx, size_t mib) {
  const size_t bytes = mib << 20;
  HugeRegion region(bytes);
  char* p = region.p;
  if (!p) return 0;
  std::memset(p, 1, bytes);
  std::mt19937_64 rng(1);
  for (uint32_t batch : {8u, 16u, 32u, 64u, 128u, 256u}) {
    PrefetchCost best;
    for (uint32_t t = 0; t < o.trials; ++t) {
      const PrefetchCost c = MeasurePrefetch(p, bytes / 64, batch, rng);
      if (t == 0 || c.after < best.after) best.after = c.after;
      if (t == 0 || c.cold < best.cold) best.cold = c.cold;
    }
    std::printf("memory prefetch batch %3u lines (%zu MiB): loads after prefetch %5.1f, "
                "without %5.1f TSC cycles per line\n",
                batch, mib, best.after, best.cold);
    Record r;
    r.Str("kind", "prefetch")
        .Int("batch_lines", batch)
        .Int("working_set_mib", mib)
        .Num("after_prefetch_cycles_per_line", best.after, 1)
        .Num("cold_cycles_per_line", best.cold, 1)
        .Num("tsc_ghz", ctx.tsc_ghz)
        .Str("cpu_model", ctx.cpu_model);
    if (!EmitRecord(o, r)) return 1;
  }
  return 0;
}

}  // namespace

int RunMemory(const Options& o, Context& ctx) {
  // One core alone, then (--workers 2) the same sets on two cores at once.
  for (uint32_t cores = 1; cores <= o.workers; ++cores) {
    const std::vector<int> cpus(o.cpus.begin(), o.cpus.begin() + cores);
    for (const uint32_t mib : o.mem_sets) {
      const std::vector<LineCost> cost = MeasureTogether(cpus, size_t(mib) << 20, o.trials,
                                                         1u << 20);
      LineCost mean;
      for (const LineCost& c : cost) {
        if (c.latency <= 0) {
          std::fprintf(stderr, "dp_bench: cannot map %u MiB for the memory measurement\n", mib);
          return 1;
        }
        mean.latency += c.latency / double(cost.size());
        mean.throughput += c.throughput / double(cost.size());
      }
      std::printf("memory %4u MiB  %u core%s  random line: latency %6.1f  throughput %5.1f TSC "
                  "cycles (per core)\n",
                  mib, cores, cores > 1 ? "s" : " ", mean.latency, mean.throughput);
      Record r;
      r.Str("kind", "memory")
          .Int("working_set_mib", mib)
          .Int("cores", cores)
          .Num("latency_cycles", mean.latency, 1)
          .Num("throughput_cycles_per_line", mean.throughput, 1)
          .Num("tsc_ghz", ctx.tsc_ghz)
          .Str("cpu_model", ctx.cpu_model);
      if (!EmitRecord(o, r)) return 1;
    }
  }
  PinTo(o.cpus[0]);
  // Prefetch batches on the largest set, when it is beyond the caches.
  const uint32_t largest = *std::max_element(o.mem_sets.begin(), o.mem_sets.end());
  return largest >= 64 ? RunPrefetch(o, ctx, largest) : 0;
}

}  // namespace vpn::perf

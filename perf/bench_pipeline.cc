// Pipeline mode: the real WAN/LAN worker pipelines fed from memory through
// the perf hook (dataplane/pipeline/bench.h RunBursts: mbuf copies outside
// the timed region, transmission replaced by counting), on 1 or 2 pinned
// worker lcores, interleaved trial by trial with the raw intel-ipsec-mb
// limit on the same frames, pool, SAs and core.
//
// Each trial feeds whole passes over the frames, one RunBursts call per
// burst of 32, and keeps the per-burst TSC samples; a trial's figure is the
// mean over its bursts without the preempted ones (FilteredCpp), the run's
// figure the median over trials (the unfiltered mean is recorded too).
#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>

#include "bench.h"
#include "common.h"
#include "harness.h"
#include "raw_crypto.h"
#include "rig.h"

namespace vpn::perf {
namespace {

// All workers start each trial together (bounded wait: a worker that never
// arrives fails the run rather than hanging it).
class Barrier {
 public:
  explicit Barrier(uint32_t n) : n_(n) {}
  bool Wait() {
    const uint32_t gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      count_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
      return true;
    }
    const uint64_t deadline = rte_rdtsc() + rte_get_tsc_hz() * 60;
    while (gen_.load(std::memory_order_acquire) == gen) {
      rte_pause();
      if (rte_rdtsc() > deadline) return false;
    }
    return true;
  }

 private:
  const uint32_t n_;
  std::atomic<uint32_t> count_{0};
  std::atomic<uint32_t> gen_{0};
};

struct Raw {
  std::vector<Frames> chunks;  // the worker's chunks, as ESP frames
  std::vector<std::vector<const esp::SaContext*>> sas;
  std::vector<double> job_cpp, burst_cpp, stream_cpp;
};

struct WorkerJob {
  Rig* rig = nullptr;
  uint32_t w = 0;
  std::vector<Frames> chunks;  // one burst each; a pass feeds them in order
  bool inbound = true;
  uint32_t passes = 1;
  uint32_t trials = 7;
  Barrier* barrier = nullptr;
  Raw* raw = nullptr;  // worker 0 of a 1-worker run only
  std::vector<double> cpp, cpp_all, tsc_per_ns, dropped;
  bool ok = true;
  std::string error;
};

// Per-packet cycles of one trial from its per-burst samples: bursts that
// took more than 4x the median burst were preempted (the machines are
// shared; a time slice lost is milliseconds, a burst microseconds) and are
// left out. *dropped: the fraction left out.
double FilteredCpp(std::vector<double> bursts, double per_burst, double* dropped) {
  const double limit = 4 * Median(bursts);
  double sum = 0;
  size_t kept = 0;
  for (double b : bursts) {
    if (b > limit) continue;
    sum += b;
    ++kept;
  }
  *dropped = bursts.empty() ? 0 : 1.0 - double(kept) / double(bursts.size());
  return kept ? sum / double(kept) / per_burst : 0;
}

int TrialLoop(void* arg) {
  auto* j = static_cast<WorkerJob*>(arg);
  Rig& rig = *j->rig;
  dp::Worker* w = rig.worker(j->w);
  const uint8_t port = j->inbound ? 0 : 1;
  IMB_MGR* mgr = rig.engine(j->w)->engine.mgr();
  std::vector<double> samples;
  for (uint32_t t = 0; t <= j->trials; ++t) {  // trial 0 warms up
    if (!j->barrier->Wait()) {
      j->ok = false;
      j->error = "barrier timeout";
      return -1;
    }
    uint64_t packets = 0, cycles = 0, sent = 0;
    samples.clear();
    const uint64_t ns0 = ThreadCpuNs(), tsc0 = rte_rdtsc();
    for (uint32_t p = 0; p < j->passes; ++p) {
      if (j->inbound) rig.ResetInboundReplay(j->w);
      for (size_t c = 0; c < j->chunks.size(); ++c) {
        const Frames& chunk = j->chunks[c];
        // Jobs may stay in the crypto lanes from burst to burst, as in the
        // poll loop; the end of a pass completes them (timed with its last
        // burst) before the replay windows are reset for the next pass.
        const bool end_of_pass = c + 1 == j->chunks.size();
        const dp::BenchResult r =
            dp::RunBursts(w, rig.pool(), chunk, j->inbound, port, 1, end_of_pass);
        packets += r.packets;
        cycles += r.cycles;
        sent += r.transmitted;
        samples.push_back(double(r.cycles));
      }
    }
    const double tsc = double(rte_rdtsc() - tsc0), ns = double(ThreadCpuNs() - ns0);
    if (sent != packets) {
      j->ok = false;
      j->error = "forwarded " + std::to_string(sent) + " of " + std::to_string(packets) +
                 " packets: " + rig.ReasonSummary();
      // Keep meeting the barrier so the other worker does not wait for us.
    }
    if (t > 0 && packets) {
      double dropped;
      j->cpp.push_back(FilteredCpp(samples, dp::kBurst, &dropped));
      j->dropped.push_back(dropped);
      j->cpp_all.push_back(double(cycles) / double(packets));
      j->tsc_per_ns.push_back(ns > 0 ? tsc / ns : 0);
    }
    if (!j->raw) continue;
    for (RawApi api : {RawApi::kJob, RawApi::kBurst, RawApi::kStream}) {
      samples.clear();
      for (uint32_t p = 0; p < j->passes; ++p) {
        for (size_t c = 0; c < j->raw->chunks.size(); ++c) {
          const bool last = p + 1 == j->passes && c + 1 == j->raw->chunks.size();
          const RawRun rr = RawCryptoBursts(mgr, rig.pool(), j->raw->chunks[c], j->raw->sas[c],
                                            j->inbound, api, 1, last);
          if (!rr.ok) {
            j->ok = false;
            j->error = "raw crypto jobs failed";
          }
          samples.push_back(double(rr.cycles));
        }
      }
      if (t > 0 && !samples.empty()) {
        double dropped;
        (api == RawApi::kJob     ? j->raw->job_cpp
         : api == RawApi::kBurst ? j->raw->burst_cpp
                                 : j->raw->stream_cpp)
            .push_back(FilteredCpp(samples, dp::kBurst, &dropped));
      }
    }
  }
  return j->ok ? 0 : -1;
}

}  // namespace

int RunPipeline(const Options& o, Context& ctx) {
  RigOptions ro;
  ro.plan.sessions = o.sessions;
  ro.plan.interleaved = o.interleaved;
  ro.workers = o.workers;
  ro.replay_window = esp::kDefaultReplayWindow;
  Rig rig(ro);
  const uint64_t setup0 = MonoNs();
  if (!rig.Init()) return 1;
  ctx.ipsec_mb_arch = rig.engine(0)->engine.ArchName();
  std::fprintf(stderr, "dp_bench: %u sessions installed in %.1f s\n", o.sessions,
               double(MonoNs() - setup0) / 1e9);
  const Plan& plan = rig.plan();
  const uint32_t n_frames = FrameCount(o.sessions, o.min_frames);
  // Every size mix and direction has n_frames frames, fed in this order.
  const std::vector<uint32_t> feed_order = FeedOrder(n_frames, plan.sessions);
  for (const std::string& mix : o.sizes) {
    const std::vector<uint32_t> sizes = InnerSizes(mix, n_frames);
    Frames in_frames;
    if (!BuildInbound(plan, sizes, &in_frames)) {
      std::fprintf(stderr, "building ESP frames failed\n");
      return 1;
    }
    Frames out_frames;
    for (const std::string& dir : o.dirs) {
      const bool inbound = dir == "inbound";
      if (!inbound && out_frames.empty()) out_frames = BuildOutbound(plan, sizes);
      const Frames& all = inbound ? in_frames : out_frames;
      Barrier barrier(o.workers);
      Raw raw;
      std::vector<WorkerJob> jobs(o.workers);
      for (uint32_t w = 0; w < o.workers; ++w) {
        WorkerJob& j = jobs[w];
        j.rig = &rig;
        j.w = w;
        j.inbound = inbound;
        j.trials = o.trials;
        j.barrier = &barrier;
        std::vector<uint32_t> idx;
        for (uint32_t k : feed_order) {
          const uint32_t i = k % plan.sessions;
          // Inbound: only the SA's owner may decrypt it (esp.h), as RSS or
          // flow steering by SPI would deliver it. Outbound: any worker.
          if ((inbound ? rig.InboundOwner(i) : k % o.workers) == w) idx.push_back(k);
        }
        idx.resize(idx.size() / dp::kBurst * dp::kBurst);
        if (o.workers == 1 && o.raw) j.raw = &raw;
        for (size_t n = 0; n < idx.size(); ++n) {
          if (n % dp::kBurst == 0) {
            j.chunks.emplace_back();
            if (j.raw) {
              raw.chunks.emplace_back();
              raw.sas.emplace_back();
            }
          }
          const uint32_t k = idx[n];
          j.chunks.back().push_back(all[k]);
          if (j.raw) {
            const uint32_t i = k % plan.sessions;
            raw.chunks.back().push_back(in_frames[k]);
            raw.sas.back().push_back(rig.SaCtx(inbound ? plan.InSa(i) : plan.OutSa(i)));
          }
        }
        const size_t per_pass = j.chunks.size() * dp::kBurst;
        j.passes = per_pass ? uint32_t(std::ceil(double(o.trial_packets) / double(per_pass))) : 0;
      }
      for (uint32_t w = 1; w < o.workers; ++w) {
        if (rte_eal_remote_launch(TrialLoop, &jobs[w], w) != 0) {
          std::fprintf(stderr, "cannot launch worker lcore %u\n", w);
          return 1;
        }
      }
      TrialLoop(&jobs[0]);
      rte_eal_mp_wait_lcore();

      Record r;
      r.Str("kind", "pipeline").Str("direction", dir);
      PutInnerBytes(r, mix);
      r.Num("inner_bytes_mean", MeanInnerBytes(mix), 1)
          .Int("sessions", o.sessions)
          .Int("workers", o.workers)
          .Str("sa_layout", o.interleaved ? "interleaved" : "split")
          .Int("replay_window", ro.replay_window)
          .Int("trials", o.trials);
      double mpps = 0, cpp_sum = 0, cpp_min_sum = 0, cpp_all_sum = 0, ratio = 0, dropped = 0;
      uint32_t active = 0;
      std::string per_worker = "[";
      bool ok = true;
      uint64_t packets_per_trial = 0;
      for (WorkerJob& j : jobs) {
        packets_per_trial += uint64_t(j.chunks.size()) * dp::kBurst * j.passes;
        if (!j.ok) {
          std::fprintf(stderr, "worker %u (%s %s, %u sessions): %s\n", j.w, dir.c_str(),
                       mix.c_str(), o.sessions, j.error.c_str());
          ok = false;
        }
        const double med = Median(j.cpp);
        if (med > 0) {
          mpps += 1000.0 * ctx.tsc_ghz / med;
          cpp_sum += med;
          cpp_min_sum += Min(j.cpp);
          cpp_all_sum += Median(j.cpp_all);
          ratio = std::max(ratio, Median(j.tsc_per_ns));
          dropped = std::max(dropped, Median(j.dropped));
          ++active;
        }
        per_worker += (j.w ? ", " : "") + std::to_string(med > 0 ? 1000.0 * ctx.tsc_ghz / med : 0);
      }
      if (!ok) return 1;
      per_worker += "]";
      const double cpp = active ? cpp_sum / active : 0;
      r.Num("cycles_per_packet", cpp, 1)
          .Num("cycles_per_packet_min", active ? cpp_min_sum / active : 0, 1)
          .Num("cycles_per_packet_unfiltered", active ? cpp_all_sum / active : 0, 1)
          .Num("preempted_bursts_fraction", dropped, 4)
          .Num("mpps", mpps)
          .Num("gbps", mpps * MeanInnerBytes(mix) * 8 / 1000)
          .Raw("mpps_per_worker", per_worker)
          .Int("workers_with_traffic", active)
          .Int("packets_per_trial", packets_per_trial);
      if (o.workers == 1 && o.raw) {
        const double rj = Median(raw.job_cpp), rb = Median(raw.burst_cpp),
                     rs = Median(raw.stream_cpp);
        const double flushed = std::min(rj, rb), limit = std::min(flushed, rs);
        r.Num("raw_crypto_cycles_per_packet", limit, 1)
            .Num("raw_flushed_cycles_per_packet", flushed, 1)
            .Num("raw_job_cycles_per_packet", rj, 1)
            .Num("raw_burst_cycles_per_packet", rb, 1)
            .Num("raw_stream_cycles_per_packet", rs, 1)
            .Num("raw_crypto_cycles_per_packet_min",
                 std::min({Min(raw.job_cpp), Min(raw.burst_cpp), Min(raw.stream_cpp)}), 1)
            .Num("ratio_to_raw", limit > 0 ? cpp / limit : 0)
            .Num("ratio_to_raw_flushed", flushed > 0 ? cpp / flushed : 0);
      } else {
        r.Null("raw_crypto_cycles_per_packet");
      }
      r.Num("tsc_per_cpu_ns", ratio).Num("tsc_ghz", ctx.tsc_ghz).Str("cpu_model", ctx.cpu_model)
          .Str("mem_mode", ctx.mem_mode).Str("ipsec_mb_arch", ctx.ipsec_mb_arch);
      std::printf("pipeline %-8s %-5s S=%-6u W=%u  %7.0f cycles/pkt  %6.2f Mpps  %6.2f Gbit/s",
                  dir.c_str(), mix.c_str(), o.sessions, o.workers, cpp, mpps,
                  mpps * MeanInnerBytes(mix) * 8 / 1000);
      if (o.workers == 1 && o.raw) {
        const double flushed = std::min(Median(raw.job_cpp), Median(raw.burst_cpp));
        const double limit = std::min(flushed, Median(raw.stream_cpp));
        std::printf("  raw %5.0f (x%.2f), flushed per burst %5.0f (x%.2f)", limit, cpp / limit,
                    flushed, cpp / flushed);
      }
      std::printf("\n");
      std::fflush(stdout);
      if (!EmitRecord(o, r)) return 1;
    }
  }
  return 0;
}

}  // namespace vpn::perf

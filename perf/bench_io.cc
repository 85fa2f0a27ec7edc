// Memory-source modes (memsrc.h), the ones comparable with ipsec-secgw:
//   io     our worker's real poll loop (Worker::PollOnce: rx_burst on both
//          ports, pipelines, tx_burst) on two net_null ports fed by the
//          memory source, timed per forwarded packet on the TX side;
//   floor  the same ports and source with a plain rx_burst -> tx_burst
//          loop: the source's own cost, the floor under both applications.
// Anti-replay is off here (the source cycles through its frames), as it is
// in ipsec-secgw without -w.
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <cstdio>

#include "common.h"
#include "harness.h"
#include "memsrc.h"
#include "rig.h"

namespace vpn::perf {
namespace {

void FloorLoop(uint16_t a, uint16_t b, MemSource& src, uint64_t deadline) {
  rte_mbuf* pkts[32];
  const uint16_t ports[2] = {a, b};
  while (!src.done() && rte_rdtsc() < deadline) {
    for (int p = 0; p < 2; ++p) {
      const uint16_t n = rte_eth_rx_burst(ports[p], 0, pkts, 32);
      if (!n) continue;
      const uint16_t sent = rte_eth_tx_burst(ports[1 - p], 0, pkts, n);
      if (sent < n) rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    }
  }
}

}  // namespace

int RunIo(const Options& o, Context& ctx) {
  const bool floor = o.mode == "floor";
  RigOptions ro;
  ro.plan.sessions = o.sessions;
  ro.plan.interleaved = o.interleaved;
  ro.workers = 1;
  ro.replay_window = 0;
  ro.io_ports = true;
  Rig rig(ro);
  if (!rig.Init()) return 1;
  ctx.ipsec_mb_arch = rig.engine(0)->engine.ArchName();
  MemSource& src = MemSource::Get();
  if (!src.AttachTx(rig.wan_port_id()) || !src.AttachTx(rig.lan_port_id())) {
    std::fprintf(stderr, "cannot hook TX\n");
    return 1;
  }
  const Plan& plan = rig.plan();
  const uint32_t n_frames = FrameCount(o.sessions, o.min_frames);
  for (const std::string& mix : o.sizes) {
    const std::vector<uint32_t> sizes = InnerSizes(mix, n_frames);
    for (const std::string& dir : o.dirs) {
      const bool inbound = dir == "inbound";
      Frames frames;
      if (inbound) {
        if (!BuildInbound(plan, sizes, &frames)) return 1;
      } else {
        frames = BuildOutbound(plan, sizes);
      }
      MemSrcConfig mc;
      mc.warmup = o.warmup;
      mc.window = o.window;
      mc.windows = o.windows;
      src.Configure(mc);
      const uint16_t rx = inbound ? rig.wan_port_id() : rig.lan_port_id();
      const uint16_t other = inbound ? rig.lan_port_id() : rig.wan_port_id();
      if (!src.AttachRx(rx, frames, rig.pool()) || !src.AttachRx(other, {}, rig.pool())) {
        std::fprintf(stderr, "cannot attach the memory source\n");
        return 1;
      }
      const uint64_t deadline = rte_rdtsc() + rte_get_tsc_hz() * 120;
      if (floor) {
        FloorLoop(rig.wan_port_id(), rig.lan_port_id(), src, deadline);
      } else {
        dp::Worker* w = rig.worker(0);
        while (!src.done() && rte_rdtsc() < deadline) w->PollOnce();
        w->Flush();  // the packets still in the crypto lanes
      }
      src.AttachRx(rx, {}, rig.pool());
      if (!src.done()) {
        std::fprintf(stderr, "%s %s %s: timed out (%llu of %llu forwarded): %s\n",
                     o.mode.c_str(), dir.c_str(), mix.c_str(),
                     (unsigned long long)src.transmitted(), (unsigned long long)src.generated(),
                     rig.ReasonSummary().c_str());
        return 1;
      }
      std::vector<double> cpp, ratio;
      uint64_t tx = 0, gen = 0;
      for (const MemSrcWindow& x : src.windows()) {
        cpp.push_back(double(x.tsc) / double(x.tx));
        ratio.push_back(x.cpu_ns ? double(x.tsc) / double(x.cpu_ns) : 0);
        tx += x.tx;
        gen += x.rx;
      }
      const double med = Median(cpp);
      const double mpps = med > 0 ? 1000.0 * ctx.tsc_ghz / med : 0;
      Record r;
      r.Str("kind", floor ? "floor" : "io").Str("direction", dir);
      PutInnerBytes(r, mix);
      r.Num("inner_bytes_mean", MeanInnerBytes(mix), 1)
          .Int("sessions", o.sessions)
          .Int("workers", 1)
          .Int("replay_window", 0)
          .Num("cycles_per_packet", med, 1)
          .Num("cycles_per_packet_min", Min(cpp), 1)
          .Num("mpps", mpps)
          .Num("gbps", mpps * MeanInnerBytes(mix) * 8 / 1000)
          .Num("forwarded_per_generated", gen ? double(tx) / double(gen) : 0, 4)
          .Int("windows", cpp.size())
          .Int("window_packets", o.window)
          .Num("tsc_per_cpu_ns", Median(ratio))
          .Num("tsc_ghz", ctx.tsc_ghz)
          .Str("cpu_model", ctx.cpu_model)
          .Str("mem_mode", ctx.mem_mode)
          .Str("ipsec_mb_arch", ctx.ipsec_mb_arch);
      std::printf("%-8s %-8s %-5s S=%-6u    %7.0f cycles/pkt  %6.2f Mpps  (forwarded/generated %.3f)\n",
                  floor ? "floor" : "io", dir.c_str(), mix.c_str(), o.sessions, med, mpps,
                  gen ? double(tx) / double(gen) : 0);
      std::fflush(stdout);
      if (!EmitRecord(o, r)) return 1;
    }
  }
  return 0;
}

int EmitSecgw(const Options& o) {
  Plan plan;
  plan.sessions = 1;
  const uint32_t n_frames = FrameCount(1, o.min_frames);
  const std::string dir = o.out_dir.empty() ? "." : o.out_dir;
  FILE* f = std::fopen((dir + "/secgw.cfg").c_str(), "w");
  if (!f) return 1;
  std::fputs(SecgwConfig(plan).c_str(), f);
  std::fclose(f);
  for (const std::string& mix : o.sizes) {
    const std::vector<uint32_t> sizes = InnerSizes(mix, n_frames);
    Frames ours;
    if (!BuildInbound(plan, sizes, &ours)) return 1;
    if (!SaveFrames(dir + "/inbound_" + mix + ".frm", SecgwInbound(ours)) ||
        !SaveFrames(dir + "/outbound_" + mix + ".frm", SecgwOutbound(plan, sizes))) {
      std::fprintf(stderr, "cannot write frames to %s\n", dir.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace vpn::perf

// dp_bench: the dataplane perf harness binary (docs/perf.md).
//
//   dp_bench --mode pipeline  RunBursts on 1 or 2 pinned workers + the raw
//                             intel-ipsec-mb limit on the same buffers
//   dp_bench --mode io|floor  through net_null ports and the memory source,
//                             comparable with ipsec-secgw (perf/run.sh)
//   dp_bench --mode emit-secgw --out DIR   frames + config for ipsec-secgw
//   dp_bench --mode memory    random cache-line latency and throughput by
//                             working-set size (the many-sessions floor)
//
// Records go to --json FILE as JSON lines (appended); a summary to stdout.
// Exit status 0 only if every packet fed was forwarded.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "common.h"
#include "harness.h"
#include "rig.h"

namespace vpn::perf {

Record& Record::Str(const std::string& k, const std::string& v) {
  std::string e = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') e += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) e += c;
  }
  f_.emplace_back(k, e + "\"");
  return *this;
}
Record& Record::Num(const std::string& k, double v, int decimals) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  f_.emplace_back(k, b);
  return *this;
}
Record& Record::Int(const std::string& k, uint64_t v) {
  f_.emplace_back(k, std::to_string(v));
  return *this;
}
Record& Record::Null(const std::string& k) {
  f_.emplace_back(k, "null");
  return *this;
}
Record& Record::Raw(const std::string& k, const std::string& json) {
  f_.emplace_back(k, json);
  return *this;
}
std::string Record::Json() const {
  std::string s = "{";
  for (size_t i = 0; i < f_.size(); ++i)
    s += (i ? ", \"" : "\"") + f_[i].first + "\": " + f_[i].second;
  return s + "}";
}

void PutInnerBytes(Record& r, const std::string& mix) {
  if (mix == "imix")
    r.Str("inner_bytes", mix);
  else
    r.Int("inner_bytes", std::stoul(mix));
}

bool EmitRecord(const Options& o, const Record& r) {
  if (o.json.empty()) return true;
  FILE* f = std::fopen(o.json.c_str(), "a");
  if (!f) {
    std::perror(o.json.c_str());
    return false;
  }
  std::fprintf(f, "%s\n", r.Json().c_str());
  return std::fclose(f) == 0;
}

namespace {

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

bool ValidMix(const std::string& m) {
  if (m == "imix") return true;
  char* end = nullptr;
  const unsigned long v = std::strtoul(m.c_str(), &end, 10);
  return end && *end == 0 && v >= 28 && v <= 1400;
}

int Usage() {
  std::fprintf(stderr,
               "usage: dp_bench [--mode pipeline|io|floor|emit-secgw|memory] [--sessions N]\n"
               "  [--sizes 64,imix,1400] [--dirs inbound,outbound] [--workers 1|2]\n"
               "  [--layout split|interleaved] [--trials N] [--min-frames N]\n"
               "  [--trial-packets N] [--cpus 1[,0]] [--hugepages] [--no-raw]\n"
               "  [--warmup N] [--window N] [--windows N] [--sets MiB,...] [--out DIR]\n"
               "  [--json FILE]\n");
  return 2;
}

}  // namespace
}  // namespace vpn::perf

int main(int argc, char** argv) {
  using namespace vpn::perf;
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    auto num = [&]() { return uint32_t(std::strtoul(next().c_str(), nullptr, 10)); };
    if (a == "--mode") o.mode = next();
    else if (a == "--sessions") o.sessions = num();
    else if (a == "--sizes") o.sizes = Split(next());
    else if (a == "--dirs") o.dirs = Split(next());
    else if (a == "--workers") o.workers = num();
    else if (a == "--layout") o.interleaved = next() == "interleaved";
    else if (a == "--trials") o.trials = num();
    else if (a == "--min-frames") o.min_frames = num();
    else if (a == "--trial-packets") o.trial_packets = num();
    else if (a == "--cpus") {
      o.cpus.clear();
      for (const std::string& c : Split(next())) o.cpus.push_back(std::atoi(c.c_str()));
    } else if (a == "--hugepages") o.hugepages = true;
    else if (a == "--no-raw") o.raw = false;
    else if (a == "--warmup") o.warmup = num();
    else if (a == "--window") o.window = num();
    else if (a == "--windows") o.windows = num();
    else if (a == "--sets") {
      o.mem_sets.clear();
      for (const std::string& m : Split(next())) o.mem_sets.push_back(uint32_t(std::atoi(m.c_str())));
    } else if (a == "--out") o.out_dir = next();
    else if (a == "--json") o.json = next();
    else return Usage();
  }
  for (const std::string& m : o.sizes)
    if (!ValidMix(m)) return Usage();
  for (const std::string& d : o.dirs)
    if (d != "inbound" && d != "outbound") return Usage();
  if (o.sessions < 1 || o.sessions > kMaxSessions || o.workers < 1 || o.workers > 2 ||
      o.trials < 1 || o.cpus.size() < o.workers || o.windows < 1 || o.window < 1)
    return Usage();
  if (o.mode == "emit-secgw") return EmitSecgw(o);
  if (o.mem_sets.empty()) return Usage();
  for (uint32_t m : o.mem_sets)
    if (m < 1 || m > 4096) return Usage();
  if (o.mode == "memory") {  // no EAL: plain memory, the runtime arena's way
    Context ctx;
    ctx.cpu_model = CpuModel();
    ctx.tsc_ghz = MeasureTscGhz();
    return RunMemory(o, ctx);
  }
  if (o.mode != "pipeline" && o.mode != "io" && o.mode != "floor") return Usage();

  Context ctx;
  ctx.cpu_model = CpuModel();
  ctx.mem_mode = o.hugepages ? "hugepages" : "no-huge";
  EalOptions eo;
  eo.cpus.assign(o.cpus.begin(), o.cpus.begin() + (o.mode == "pipeline" ? o.workers : 1));
  eo.hugepages = o.hugepages;
  eo.prefix = "dpbench" + std::to_string(getpid());
  if (!InitEal(eo)) {
    std::fprintf(stderr, "EAL init failed\n");
    return 1;
  }
  ctx.tsc_ghz = MeasureTscGhz();
  std::fprintf(stderr, "dp_bench: %s, TSC %.3f GHz, cpus", ctx.cpu_model.c_str(), ctx.tsc_ghz);
  for (int c : eo.cpus) std::fprintf(stderr, " %d", c);
  std::fprintf(stderr, ", %s\n", ctx.mem_mode.c_str());
  int rc;
  {
    rc = o.mode == "pipeline" ? RunPipeline(o, ctx) : RunIo(o, ctx);
  }
  CleanupEal(eo.prefix);
  return rc;
}

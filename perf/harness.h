// dp_bench's measurement modes and the record they produce (one JSON object
// per line, merged by perf/report.py).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "traffic.h"

namespace vpn::perf {

struct Options {
  std::string mode = "pipeline";  // pipeline | io | floor | emit-secgw | memory
  uint32_t sessions = 1;
  bool interleaved = false;
  std::vector<std::string> sizes = {"64", "imix", "1400"};
  std::vector<std::string> dirs = {"inbound", "outbound"};
  uint32_t workers = 1;
  uint32_t trials = 7;
  uint32_t min_frames = 2048;       // per run, >= sessions
  uint32_t trial_packets = 65536;   // per trial (whole passes over the frames)
  std::vector<int> cpus = {1};
  bool hugepages = false;
  bool raw = true;                  // also measure the raw crypto limit
  // Memory-source modes.
  // Short windows, many of them: the median window is one that was not
  // preempted on a shared machine.
  uint64_t warmup = 8192, window = 1024;
  uint32_t windows = 101;
  std::vector<uint32_t> mem_sets = {1, 4, 8, 16, 64, 256};  // memory mode, MiB
  std::string out_dir;   // emit-secgw
  std::string json;      // records appended here (JSON lines)
};

// A flat JSON object built field by field.
class Record {
 public:
  Record& Str(const std::string& k, const std::string& v);
  Record& Num(const std::string& k, double v, int decimals = 3);
  Record& Int(const std::string& k, uint64_t v);
  Record& Null(const std::string& k);
  Record& Raw(const std::string& k, const std::string& json);
  std::string Json() const;

 private:
  std::vector<std::pair<std::string, std::string>> f_;
};

// What every record carries: machine, TSC, memory mode, plan.
struct Context {
  double tsc_ghz = 0;
  std::string cpu_model;
  std::string mem_mode;
  std::string ipsec_mb_arch;
};

// "64"/"1400" as numbers, "imix" as a string.
void PutInnerBytes(Record& r, const std::string& mix);

bool EmitRecord(const Options& o, const Record& r);

int RunPipeline(const Options& o, Context& ctx);  // RunBursts + raw crypto
int RunIo(const Options& o, Context& ctx);        // io and floor modes
int EmitSecgw(const Options& o);
int RunMemory(const Options& o, Context& ctx);    // random-line cost by working set

}  // namespace vpn::perf

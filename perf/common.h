// Small helpers shared by the perf harness binaries: statistics, the TSC
// rate, the CPU model and thread CPU time (the descheduling cross-check of
// docs/perf.md).
#pragma once

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace vpn::perf {

inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

inline double Min(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}

inline uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

inline uint64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// "model name" of /proc/cpuinfo, or "unknown".
std::string CpuModel();

// TSC ticks per nanosecond, measured against CLOCK_MONOTONIC over ~50 ms.
double MeasureTscGhz();

// The IMIX used everywhere in the harness: 7:4:1 of 64/576/1400-byte inner
// IPv4 packets (the classic simple IMIX with its 1500 capped at the seed-004
// MTU of 1400), in a fixed shuffled order. Other mixes: one size ("64").
std::vector<uint32_t> InnerSizes(const std::string& mix, uint32_t n);
double MeanInnerBytes(const std::string& mix);

}  // namespace vpn::perf

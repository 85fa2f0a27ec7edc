#include "common.h"

#include <x86intrin.h>

#include <cstdio>
#include <cstring>
#include <random>

namespace vpn::perf {

std::string CpuModel() {
  FILE* f = std::fopen("/proc/cpuinfo", "r");
  if (!f) return "unknown";
  char line[512];
  std::string model = "unknown";
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "model name", 10) == 0) {
      const char* c = std::strchr(line, ':');
      if (c) {
        model = c + 1;
        while (!model.empty() && (model.front() == ' ' || model.front() == '\t'))
          model.erase(model.begin());
        while (!model.empty() && (model.back() == '\n' || model.back() == ' ')) model.pop_back();
      }
      break;
    }
  }
  std::fclose(f);
  return model;
}

double MeasureTscGhz() {
  // Median of three 50 ms samples: a preemption between the paired clock
  // reads skews one sample, not the median.
  std::vector<double> r;
  for (int i = 0; i < 3; ++i) {
    const uint64_t n0 = MonoNs();
    const uint64_t t0 = __rdtsc();
    timespec d{0, 50 * 1000 * 1000};
    nanosleep(&d, nullptr);
    const uint64_t n1 = MonoNs();
    const uint64_t t1 = __rdtsc();
    r.push_back(double(t1 - t0) / double(n1 - n0));
  }
  return Median(r);
}

std::vector<uint32_t> InnerSizes(const std::string& mix, uint32_t n) {
  std::vector<uint32_t> s;
  if (mix == "imix") {
    std::vector<uint32_t> pattern;
    for (int i = 0; i < 7; ++i) pattern.push_back(64);
    for (int i = 0; i < 4; ++i) pattern.push_back(576);
    pattern.push_back(1400);
    std::mt19937 rng(42);
    while (s.size() < n) {
      std::shuffle(pattern.begin(), pattern.end(), rng);
      s.insert(s.end(), pattern.begin(), pattern.end());
    }
    s.resize(n);
  } else {
    s.assign(n, uint32_t(std::stoul(mix)));
  }
  return s;
}

double MeanInnerBytes(const std::string& mix) {
  if (mix == "imix") return (7 * 64 + 4 * 576 + 1400) / 12.0;
  return double(std::stoul(mix));
}

}  // namespace vpn::perf

#include "vpn/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <string>

namespace vpn::log {
namespace internal {
std::atomic<uint8_t> g_levels[static_cast<int>(Subsystem::kCount)] = {};
}  // namespace internal

namespace {
constexpr std::string_view kSubsystemNames[] = {
#define X(n) #n,
    VPN_LOG_SUBSYSTEMS(X)
#undef X
};
constexpr std::string_view kLevelNames[] = {"error", "warn",   "info",
                                            "event", "packet", "data"};

void StderrSink(Subsystem s, Level l, std::string_view line) {
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  char ts[32];
  strftime(ts, sizeof ts, "%H:%M:%S", &tm);
  std::string out = absl::StrFormat("%s.%03d %-9s %-6s %s\n", ts,
                                    int(tv.tv_usec / 1000), SubsystemName(s),
                                    LevelName(l), line);
  // One write(2) per line so lines of two processes sharing a terminal do not
  // interleave.
  ssize_t unused = write(STDERR_FILENO, out.data(), out.size());
  (void)unused;
}

std::atomic<Sink> g_sink{StderrSink};

struct DefaultLevels {
  DefaultLevels() {
    for (auto& l : internal::g_levels) l.store(uint8_t(Level::kInfo));
  }
} g_default_levels;
}  // namespace

std::string_view SubsystemName(Subsystem s) {
  return kSubsystemNames[static_cast<int>(s)];
}
bool ParseSubsystem(std::string_view name, Subsystem* out) {
  for (int i = 0; i < static_cast<int>(Subsystem::kCount); ++i) {
    if (kSubsystemNames[i] == name) {
      *out = static_cast<Subsystem>(i);
      return true;
    }
  }
  return false;
}
std::string_view LevelName(Level l) { return kLevelNames[static_cast<int>(l)]; }
bool ParseLevel(std::string_view name, Level* out) {
  for (int i = 0; i < 6; ++i) {
    if (kLevelNames[i] == name) {
      *out = static_cast<Level>(i);
      return true;
    }
  }
  if (name.size() == 1 && name[0] >= '0' && name[0] <= '5') {
    *out = static_cast<Level>(name[0] - '0');
    return true;
  }
  return false;
}
void SetLevel(Subsystem s, Level l) {
  internal::g_levels[static_cast<int>(s)].store(static_cast<uint8_t>(l));
}
Level GetLevel(Subsystem s) {
  return static_cast<Level>(internal::g_levels[static_cast<int>(s)].load());
}
void SetSink(Sink sink) { g_sink.store(sink ? sink : StderrSink); }
void Write(Subsystem s, Level l, std::string_view msg) {
  g_sink.load()(s, l, msg);
}

}  // namespace vpn::log

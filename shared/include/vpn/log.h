// Per-subsystem logging with run-time levels, for both processes.
// Never call from a dataplane worker's packet path: counters are for that.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "absl/strings/str_format.h"

namespace vpn::log {

#define VPN_LOG_SUBSYSTEMS(X) \
  X(config)                   \
  X(ike)                      \
  X(l2tp)                     \
  X(ppp)                      \
  X(auth)                     \
  X(esp)                      \
  X(dataplane)                \
  X(control)

enum class Subsystem : uint8_t {
#define X(n) k_##n,
  VPN_LOG_SUBSYSTEMS(X)
#undef X
      kCount
};

// Levels follow the operator's `debug SUBSYS LEVEL` (seed 002): higher shows
// more. error and warn are on by default.
enum class Level : uint8_t { kError = 0, kWarn = 1, kInfo = 2, kEvent = 3, kPacket = 4, kData = 5 };

std::string_view SubsystemName(Subsystem s);
bool ParseSubsystem(std::string_view name, Subsystem* out);
std::string_view LevelName(Level l);
bool ParseLevel(std::string_view name, Level* out);

void SetLevel(Subsystem s, Level l);
Level GetLevel(Subsystem s);
inline bool Enabled(Subsystem s, Level l);

// Where lines go: stderr by default. Tests may capture.
using Sink = void (*)(Subsystem, Level, std::string_view line);
void SetSink(Sink sink);
void Write(Subsystem s, Level l, std::string_view msg);

namespace internal {
extern std::atomic<uint8_t> g_levels[static_cast<int>(Subsystem::kCount)];
}

inline bool Enabled(Subsystem s, Level l) {
  return static_cast<uint8_t>(l) <=
         internal::g_levels[static_cast<int>(s)].load(std::memory_order_relaxed);
}

template <typename... Args>
void Logf(Subsystem s, Level l, const absl::FormatSpec<Args...>& fmt,
          const Args&... args) {
  if (!Enabled(s, l)) return;
  Write(s, l, absl::StrFormat(fmt, args...));
}

}  // namespace vpn::log

#define VPN_LOG(subsys, level, ...)                                    \
  do {                                                                 \
    if (::vpn::log::Enabled(::vpn::log::Subsystem::k_##subsys,         \
                            ::vpn::log::Level::level))                 \
      ::vpn::log::Write(::vpn::log::Subsystem::k_##subsys,             \
                        ::vpn::log::Level::level,                      \
                        ::absl::StrFormat(__VA_ARGS__));               \
  } while (0)

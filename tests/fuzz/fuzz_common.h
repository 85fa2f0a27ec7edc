// Helpers every fuzz target uses: an always-on check that aborts (so
// libFuzzer saves the input), and logging switched to "format everything,
// print nothing" so the log statements run on fuzzed data without flooding
// the terminal.
#pragma once

#include <cstdio>
#include <cstdlib>

#include "vpn/log.h"

#define FUZZ_CHECK(cond)                                                        \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, __FILE__, \
                   __LINE__);                                                   \
      std::abort();                                                             \
    }                                                                           \
  } while (0)

namespace vpn::fuzz {

inline void QuietLogs(log::Level level = log::Level::kData) {
  static bool done = false;
  if (done) return;
  done = true;
  log::SetSink([](log::Subsystem, log::Level, std::string_view) {});
  for (int s = 0; s < static_cast<int>(log::Subsystem::kCount); ++s)
    log::SetLevel(static_cast<log::Subsystem>(s), level);
}

}  // namespace vpn::fuzz

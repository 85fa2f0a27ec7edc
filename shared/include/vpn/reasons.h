// Counter/drop reasons generated from drop_reasons.def.
#pragma once

#include <cstdint>
#include <string_view>

#include "vpn/shm_abi.h"

namespace vpn {

enum class Severity : uint8_t { k_info, k_drop, k_error };

enum class Reason : uint16_t {
#define X(name, sev, help) k_##name,
#include "vpn/drop_reasons.def"
#undef X
  kCount
};

inline constexpr uint32_t kReasonCount = static_cast<uint32_t>(Reason::kCount);
static_assert(kReasonCount <= shm::kMaxCounterReasons,
              "drop_reasons.def outgrew the counter block; bump kAbiVersion");

struct ReasonInfo {
  std::string_view name;
  Severity severity;
  std::string_view help;
};

inline constexpr ReasonInfo kReasonInfo[] = {
#define X(name, sev, help) {#name, Severity::k_##sev, help},
#include "vpn/drop_reasons.def"
#undef X
};

inline constexpr const ReasonInfo& InfoOf(Reason r) {
  return kReasonInfo[static_cast<uint32_t>(r)];
}

}  // namespace vpn

// Refuses TOML text that would make toml++ 3.3 reach undefined behaviour
// (non-ASCII characters where the parser tests for whitespace); see
// config_charset.cc.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace vpn::config {

absl::Status CheckTomlCharacters(std::string_view text, const std::string& name);

}  // namespace vpn::config

// Stand-in for vpn::config::ParseConfigFile until the lead's parser lands on
// main: reads the subset of the TOML file the dataplane needs (top-level
// shm_name, [dataplane], [[port]], [[route]], [[pool]], [ppp] mtu). Replace
// the call in main.cc with ParseConfigFile once it exists.
#pragma once

#include <string>

#include "vpn/config.h"

namespace vpn::dp {

// Returns false and fills *error ("file:line: problem") on failure.
bool LoadDataplaneConfig(const std::string& path, config::Config* out, std::string* error);
// For tests: the same from a string.
bool LoadDataplaneConfigString(const std::string& text, config::Config* out, std::string* error);

}  // namespace vpn::dp

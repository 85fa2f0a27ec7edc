// `vpn-dataplane --print-abi`: the shared-memory layout as JSON (sizes and
// offsets of every record field, enum values, constants and the counter
// Reason names) so other-language mirrors (tests/packet) can verify theirs.
#pragma once

#include <string>

namespace vpn::dp {
std::string AbiJson();
}

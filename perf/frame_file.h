// Precomputed frames and their file format, shared by dp_bench (writer) and
// the memory source preloaded into ipsec-secgw (reader).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vpn::perf {

using Frame = std::vector<uint8_t>;
using Frames = std::vector<Frame>;

// "VPNFRM1\n", u32 count, then per frame u16 length + bytes (host order,
// little endian here). Load refuses empty, truncated or oversized files.
bool SaveFrames(const std::string& path, const Frames& f);
bool LoadFrames(const std::string& path, Frames* f);

}  // namespace vpn::perf

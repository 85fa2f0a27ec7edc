// EAL command line from the config (machine-facts.md): --no-pci unless a
// port is a PCI device (then -a for it), --vdev for virtual devices, a
// unique --file-prefix, --no-huge -m N when asked or when no hugepages are
// available, and the lcore map (main + workers, pinned).
#pragma once

#include <string>
#include <vector>

#include "vpn/config.h"

namespace vpn::dp {

struct HostFacts {
  bool hugepages_available = false;
  unsigned n_cpus = 1;
};
HostFacts ProbeHost();

struct EalPlan {
  std::vector<std::string> args;        // argv[0] included
  std::vector<std::string> port_names;  // per config port: ethdev name to look up
  std::vector<unsigned> worker_lcores;
  unsigned main_lcore = 0;
  bool no_huge = false;
};

bool IsPciAddress(const std::string& s);
// The ethdev name of a device string: a vdev's name before the first comma,
// or the PCI address.
std::string DeviceName(const std::string& device);
EalPlan BuildEalArgs(const config::Config& cfg, const HostFacts& host);

}  // namespace vpn::dp

#include "eal_args.h"

#include <unistd.h>

#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

namespace vpn::dp {

HostFacts ProbeHost() {
  HostFacts h;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  h.n_cpus = n > 0 ? unsigned(n) : 1;
  bool mounted = false;
  std::ifstream mounts("/proc/mounts");
  std::string line;
  while (std::getline(mounts, line))
    if (line.find(" hugetlbfs ") != std::string::npos) mounted = true;
  unsigned long free_pages = 0;
  for (const char* p : {"/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
                        "/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages"}) {
    std::ifstream f(p);
    unsigned long v = 0;
    if (f >> v) free_pages += v;
  }
  h.hugepages_available = mounted && free_pages > 0;
  return h;
}

bool IsPciAddress(const std::string& s) {
  // [dddd:]bb:dd.f
  size_t i = 0;
  auto hex = [&](int n) {
    for (int k = 0; k < n; ++k, ++i)
      if (i >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
    return true;
  };
  size_t colon = s.find(':');
  if (colon == 4) {
    if (!hex(4) || s[i++] != ':') return false;
  }
  if (!hex(2) || i >= s.size() || s[i++] != ':') return false;
  if (!hex(2) || i >= s.size() || s[i++] != '.') return false;
  return i < s.size() && s[i] >= '0' && s[i] <= '7' && i + 1 == s.size();
}

std::string DeviceName(const std::string& device) {
  return device.substr(0, device.find(','));
}

EalPlan BuildEalArgs(const config::Config& cfg, const HostFacts& host) {
  EalPlan plan;
  const config::Dataplane& dp = cfg.dataplane;
  plan.args.push_back("vpn-dataplane");
  plan.main_lcore = dp.main_lcore;
  if (!dp.worker_lcores.empty()) {
    plan.worker_lcores = dp.worker_lcores;
  } else {
    for (unsigned l = 0, n = 0; n < dp.workers; ++l)
      if (l != dp.main_lcore) {
        plan.worker_lcores.push_back(l);
        ++n;
      }
  }
  // Lcore ids are logical; pin each to a CPU that exists (id modulo the CPU
  // count), so a 4-worker config still runs on a 2-CPU test machine.
  std::ostringstream lc;
  lc << "--lcores=" << plan.main_lcore << "@" << plan.main_lcore % host.n_cpus;
  for (unsigned l : plan.worker_lcores) lc << "," << l << "@" << l % host.n_cpus;
  plan.args.push_back(lc.str());
  plan.args.push_back("--main-lcore=" + std::to_string(plan.main_lcore));

  std::string prefix = dp.telemetry_prefix.empty() ? "vpn-" + cfg.shm_name : dp.telemetry_prefix;
  for (char& c : prefix)
    if (c == '/') c = '_';
  plan.args.push_back("--file-prefix=" + prefix);

  bool any_pci = false;
  for (const config::Port& p : cfg.ports) {
    if (IsPciAddress(p.device)) {
      any_pci = true;
      plan.args.push_back("-a");
      plan.args.push_back(p.device);
      plan.port_names.push_back(p.device);
      continue;
    }
    std::string dev = p.device;
    // af_packet: one queue pair per worker (PACKET_FANOUT spreads flows).
    if (dev.rfind("net_af_packet", 0) == 0 && dev.find("qpairs=") == std::string::npos)
      dev += ",qpairs=" + std::to_string(plan.worker_lcores.size());
    plan.args.push_back("--vdev=" + dev);
    plan.port_names.push_back(DeviceName(p.device));
  }
  if (!any_pci) plan.args.push_back("--no-pci");
  plan.no_huge = dp.no_huge || !host.hugepages_available;
  if (plan.no_huge) {
    plan.args.push_back("--no-huge");
    plan.args.push_back("-m");
    plan.args.push_back(std::to_string(dp.memory_mb));
  }
  for (const std::string& a : dp.eal_args) plan.args.push_back(a);
  return plan;
}

}  // namespace vpn::dp

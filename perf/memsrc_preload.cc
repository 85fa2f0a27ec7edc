// LD_PRELOAD shim that puts the memory source (memsrc.h) into an unmodified
// DPDK application, here ipsec-secgw: it wraps rte_eth_dev_start() and, once
// a port started, installs the TX counter on it and, on the configured port,
// the RX generator (first in the callback chain, so the application's own RX
// callbacks such as secgw's software ptype parser see our packets).
//
// Configuration: VPN_MEMSRC=<file> with key=value lines:
//   rx_port=0            port that receives the frames
//   frames=<path>        frame file (frame_file.h)
//   pool=<name>          mbuf pool to allocate from (default: the first pool
//                        whose name starts with "mbuf_pool", secgw's naming)
//   warmup= window= windows=   see MemSrcConfig
//   result=<path>        JSON result, written when the last window closes
//   sigint=1             raise SIGINT afterwards (secgw then exits cleanly)
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include <rte_ethdev.h>
#include <rte_mempool.h>

#include "memsrc.h"

namespace {

using StartFn = int (*)(uint16_t);

std::map<std::string, std::string>& Conf() {
  static auto* m = new std::map<std::string, std::string>;
  return *m;
}

bool LoadConf() {
  static int state = 0;  // 0 unread, 1 ok, 2 failed
  if (state) return state == 1;
  state = 2;
  const char* path = std::getenv("VPN_MEMSRC");
  if (!path) return false;
  FILE* f = std::fopen(path, "r");
  if (!f) {
    std::fprintf(stderr, "memsrc: cannot open %s\n", path);
    return false;
  }
  char line[1024];
  while (std::fgets(line, sizeof line, f)) {
    std::string l(line);
    while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.pop_back();
    const size_t eq = l.find('=');
    if (l.empty() || l[0] == '#' || eq == std::string::npos) continue;
    Conf()[l.substr(0, eq)] = l.substr(eq + 1);
  }
  std::fclose(f);
  vpn::perf::MemSrcConfig c;
  auto num = [](const char* k, uint64_t d) {
    auto it = Conf().find(k);
    return it == Conf().end() ? d : std::strtoull(it->second.c_str(), nullptr, 10);
  };
  c.warmup = num("warmup", c.warmup);
  c.window = num("window", c.window);
  c.windows = uint32_t(num("windows", c.windows));
  c.result_path = Conf()["result"];
  c.raise_sigint = num("sigint", 0) != 0;
  vpn::perf::MemSource::Get().Configure(c);
  state = 1;
  return true;
}

void FindPool(rte_mempool* mp, void* arg) {
  auto** out = static_cast<rte_mempool**>(arg);
  if (!*out && std::strncmp(mp->name, "mbuf_pool", 9) == 0) *out = mp;
}

void Attach(uint16_t port) {
  if (!LoadConf()) return;
  vpn::perf::MemSource& src = vpn::perf::MemSource::Get();
  if (!src.AttachTx(port)) std::fprintf(stderr, "memsrc: no TX hook on port %u\n", port);
  if (std::strtoul(Conf()["rx_port"].c_str(), nullptr, 10) != port) return;
  vpn::perf::Frames frames;
  if (!vpn::perf::LoadFrames(Conf()["frames"], &frames)) {
    std::fprintf(stderr, "memsrc: bad frame file '%s'\n", Conf()["frames"].c_str());
    return;
  }
  rte_mempool* pool = nullptr;
  if (!Conf()["pool"].empty())
    pool = rte_mempool_lookup(Conf()["pool"].c_str());
  else
    rte_mempool_walk(FindPool, &pool);
  if (!pool || !src.AttachRx(port, frames, pool)) {
    std::fprintf(stderr, "memsrc: cannot attach RX on port %u\n", port);
    return;
  }
  std::fprintf(stderr, "memsrc: port %u fed with %zu frames from pool %s\n", port, frames.size(),
               pool->name);
}

}  // namespace

extern "C" int rte_eth_dev_start(uint16_t port_id) {
  static auto real = reinterpret_cast<StartFn>(dlsym(RTLD_NEXT, "rte_eth_dev_start"));
  if (!real) return -1;
  const int rc = real(port_id);
  if (rc == 0) Attach(port_id);
  return rc;
}

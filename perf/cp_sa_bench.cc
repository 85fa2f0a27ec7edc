// Control-plane cost of phase 2 SA events at scale (docs/perf.md, "Session
// 6: control-plane SA events at scale"). One in-process Daemon, N clients
// brought up through the real code (controlplane/app/daemon_test_rig.h: ESP
// pair in the shared-memory tables, L2TP tunnel and session through the LNS,
// PPP session record, dataplane session), then K rekeys on clients spread
// over the population, each as Windows runs it and as our IKE responder
// reports it to the daemon:
//   qm2     new inbound SA live + OnChildSaInbound (overlap: both accepted)
//   qm3     outbound half live + OnChildSaInstalled (rebind to the new pair)
//   delete  old pair removed + OnChildSaDeleted
// Each step is timed (wall clock and the thread's CPU time). IKE's own
// crypto is not in it: this is what the daemon and the LNS add per event.
//
//   cp_sa_bench --clients N [--rekeys K] [--max-seconds S] [--check]
//   cp_sa_bench --restart --clients N [--max-seconds S] [--check]
//
// --restart: the control plane is killed after the setup and started again
// on the segment the dataplane kept (the rig restores the segment's image);
// the new one adopts every record (timed: adopt_s), then every client
// reconnects in turn (its IKE SA comes up: Daemon::RemoveOrphansOf removes
// the SAs and session it left), each timed; --check compares the orphan
// index with a scan after every 997th reconnect and at the end.
//
// Prints one line of key=value pairs (times in microseconds per rekey).
// --check: after the setup and after every rekey (untimed), the daemon's
// indexes by SA are compared with scans (Daemon::CheckSaIndexes); the first
// difference fails the run. The smoke test in perf/meson.build uses it.
// Bounded: connecting stops at half the budget, rekeys at the whole of it.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "daemon_test_rig.h"

namespace {

using vpn::cp::DaemonProbe;

double ThreadCpuUs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}
double WallUs() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
long RssKib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}
double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}
double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / double(v.size());
}

// The rig's configuration for n clients, with a clean segment name and
// quiet logs; nullopt (after saying why) if it cannot be built.
std::optional<vpn::config::Config> BenchConfig(const char* tag, uint32_t n) {
  absl::StatusOr<vpn::config::Config> cfg = DaemonProbe::TestConfig(tag, n);
  if (!cfg.ok()) {
    std::fprintf(stderr, "cp_sa_bench: %s\n", std::string(cfg.status().message()).c_str());
    return std::nullopt;
  }
  DaemonProbe::Cleanup(*cfg);
  DaemonProbe::Quiet();
  return *cfg;
}

bool Started(vpn::cp::Daemon& d, const vpn::config::Config& cfg, const char* what) {
  absl::Status s = d.Start();
  if (s.ok()) return true;
  std::fprintf(stderr, "cp_sa_bench: %s: %s\n", what, std::string(s.message()).c_str());
  DaemonProbe::Cleanup(cfg);
  return false;
}

// Brings up to n clients up (AddressOf order); stops early once half the
// budget since t0 is spent. Returns how many are up; *rc = 1 on a failure.
uint32_t ConnectClients(DaemonProbe& p, uint32_t n, double t0, double budget_s, int* rc) {
  uint32_t up = 0;
  for (; up < n; ++up) {
    auto [ip, port] = DaemonProbe::AddressOf(up);
    absl::StatusOr<DaemonProbe::Client*> c = p.Connect(ip, port);
    if (!c.ok()) {
      std::fprintf(stderr, "cp_sa_bench: client %u: %s\n", up,
                   std::string(c.status().message()).c_str());
      *rc = 1;
      break;
    }
    if ((up & 1023) == 0 && WallUs() - t0 > budget_s * 0.5e6) {
      std::fprintf(stderr, "cp_sa_bench: connect budget spent at %u clients\n", up + 1);
      ++up;
      break;
    }
  }
  return up;
}

int Run(uint32_t n, uint32_t k, double budget_s, bool check) {
  const std::optional<vpn::config::Config> cfg = BenchConfig("bench", n);
  if (!cfg) return 1;
  int rc = 0;
  {
    vpn::cp::Daemon d(*cfg);
    if (!Started(d, *cfg, "start")) return 1;
    DaemonProbe p(d);
    const long rss0 = RssKib();
    const double t0 = WallUs();
    const uint32_t up = ConnectClients(p, n, t0, budget_s, &rc);
    const double setup_s = (WallUs() - t0) / 1e6;
    const long rss1 = RssKib();
    auto checked = [&](const char* when) {
      if (!check) return true;
      absl::Status s = d.CheckSaIndexes();
      if (!s.ok())
        std::fprintf(stderr, "cp_sa_bench: index check %s: %s\n", when,
                     std::string(s.message()).c_str());
      return s.ok();
    };
    if (rc == 0 && !checked("after setup")) rc = 1;

    std::vector<double> wall, cpu, qm2, qm3, del;
    const double t1 = WallUs();
    for (uint32_t i = 0; rc == 0 && i < k && up > 0; ++i) {
      if (WallUs() - t0 > budget_s * 1e6) break;
      DaemonProbe::Client& c = p.clients()[k <= up ? uint64_t(i) * up / k : i % up];
      const vpn::cp::ChildSaHandle old = c.sa;
      const double w0 = WallUs(), c0 = ThreadCpuUs();
      absl::StatusOr<uint32_t> in = p.QuickMode2(c);
      const double w1 = WallUs();
      absl::StatusOr<vpn::cp::ChildSaHandle> h =
          in.ok() ? p.QuickMode3(c, *in) : absl::StatusOr<vpn::cp::ChildSaHandle>(in.status());
      const double w2 = WallUs();
      if (!h.ok()) {
        std::fprintf(stderr, "cp_sa_bench: rekey %u: %s\n", i,
                     std::string(h.status().message()).c_str());
        rc = 1;
        break;
      }
      c.sends_on.sa_index = h->inbound_index;
      p.DeleteChild(old);
      const double w3 = WallUs(), c3 = ThreadCpuUs();
      wall.push_back(w3 - w0);
      cpu.push_back(c3 - c0);
      qm2.push_back(w1 - w0);
      qm3.push_back(w2 - w1);
      del.push_back(w3 - w2);
      p.Pump();  // as the dataplane: drain the update ring, reclaim slots
      if (!checked("after a rekey")) {
        rc = 1;
        break;
      }
    }
    const double rekey_s = (WallUs() - t1) / 1e6;
    std::printf(
        "cp_sa_bench clients=%u rekeys=%zu setup_s=%.1f rekey_phase_s=%.2f rss_mib_per_1k=%.2f "
        "rekey_us_mean=%.1f rekey_us_p50=%.1f rekey_us_p99=%.1f rekey_us_max=%.1f "
        "cpu_us_mean=%.1f qm2_us=%.1f qm3_us=%.1f delete_us=%.1f\n",
        up, wall.size(), setup_s, rekey_s,
        up ? double(rss1 - rss0) / 1024.0 / (up / 1000.0) : 0.0, Mean(wall),
        Percentile(wall, 0.5), Percentile(wall, 0.99), Percentile(wall, 1.0), Mean(cpu),
        Mean(qm2), Mean(qm3), Mean(del));
    std::fflush(stdout);
  }
  DaemonProbe::Cleanup(*cfg);
  return rc;
}

int RunRestart(uint32_t n, double budget_s, bool check) {
  const std::optional<vpn::config::Config> cfg = BenchConfig("restart", n);
  if (!cfg) return 1;
  int rc = 0;
  std::vector<uint8_t> image;
  std::vector<std::pair<uint32_t, uint16_t>> peers;
  const double t0 = WallUs();
  {
    vpn::cp::Daemon d(*cfg);
    if (!Started(d, *cfg, "start")) return 1;
    DaemonProbe p(d);
    const uint32_t up = ConnectClients(p, n, t0, budget_s, &rc);
    for (uint32_t i = 0; i < up; ++i) peers.push_back(DaemonProbe::AddressOf(i));
    image = DaemonProbe::SnapshotSegment(d);
  }
  const double setup_s = (WallUs() - t0) / 1e6;
  if (rc == 0) {
    if (absl::Status s = DaemonProbe::RestoreSegment(*cfg, std::move(image)); !s.ok()) {
      std::fprintf(stderr, "cp_sa_bench: restore: %s\n", std::string(s.message()).c_str());
      rc = 1;
    }
  }
  if (rc == 0) {
    const double a0 = WallUs();
    vpn::cp::Daemon d(*cfg);
    if (!Started(d, *cfg, "restart")) return 1;
    const double adopt_s = (WallUs() - a0) / 1e6;
    DaemonProbe p(d);
    const size_t adopted_sas = p.tables().orphan_sas().size();
    auto checked = [&](const char* when) {
      if (!check) return true;
      absl::Status s = p.tables().CheckOrphanIndex();
      if (!s.ok())
        std::fprintf(stderr, "cp_sa_bench: orphan index %s: %s\n", when,
                     std::string(s.message()).c_str());
      return s.ok();
    };
    if (!checked("after adoption")) rc = 1;
    std::vector<double> wall;
    const double r0 = WallUs();
    for (size_t i = 0; rc == 0 && i < peers.size(); ++i) {
      if (WallUs() - t0 > budget_s * 1e6) {
        std::fprintf(stderr, "cp_sa_bench: budget spent at %zu reconnects\n", i);
        break;
      }
      const double w0 = WallUs();
      p.IkeSaUp(peers[i].first, peers[i].second);
      wall.push_back(WallUs() - w0);
      if (i % 997 == 0 && !checked("during reconnects")) rc = 1;
    }
    const double reconnect_s = (WallUs() - r0) / 1e6;
    if (rc == 0 && wall.size() == peers.size()) {
      if (!p.tables().orphan_sas().empty() || !p.tables().orphan_sessions().empty()) {
        std::fprintf(stderr, "cp_sa_bench: %zu SAs / %zu sessions still adopted\n",
                     p.tables().orphan_sas().size(), p.tables().orphan_sessions().size());
        rc = 1;
      }
      if (!checked("at the end")) rc = 1;
    }
    std::printf(
        "cp_sa_bench restart clients=%zu adopted_sas=%zu setup_s=%.1f adopt_s=%.3f "
        "reconnects=%zu reconnect_phase_s=%.3f removed=%llu reconnect_us_mean=%.1f "
        "reconnect_us_p50=%.1f reconnect_us_p99=%.1f reconnect_us_max=%.1f\n",
        peers.size(), adopted_sas, setup_s, adopt_s, wall.size(), reconnect_s,
        static_cast<unsigned long long>(p.orphans_removed()), Mean(wall), Percentile(wall, 0.5),
        Percentile(wall, 0.99), Percentile(wall, 1.0));
    std::fflush(stdout);
  }
  DaemonProbe::Cleanup(*cfg);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t n = 1000, k = 200;
  double budget = 100;
  bool check = false, restart = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--check") {
      check = true;
    } else if (a == "--restart") {
      restart = true;
    } else if (a == "--clients" && v) {
      n = uint32_t(std::strtoul(v, nullptr, 10));
      ++i;
    } else if (a == "--rekeys" && v) {
      k = uint32_t(std::strtoul(v, nullptr, 10));
      ++i;
    } else if (a == "--max-seconds" && v) {
      budget = std::strtod(v, nullptr);
      ++i;
    } else {
      std::fprintf(stderr,
                   "usage: cp_sa_bench [--restart] --clients N [--rekeys K] [--max-seconds S] "
                   "[--check]\n");
      return 2;
    }
  }
  if (n == 0 || n > 1000000) {
    std::fprintf(stderr, "cp_sa_bench: --clients 1..1000000\n");
    return 2;
  }
  return restart ? RunRestart(n, budget, check) : Run(n, k, budget, check);
}

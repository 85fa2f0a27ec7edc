// vpnctl: the operator's command line.
//   vpnctl [--config PATH | --socket PATH --shm NAME] [--json] COMMAND...
// `show counters` reads the dataplane's counters straight from shared memory
// (works while the control plane is down); every other command goes to the
// control plane's Unix socket.
#include <limits.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "metrics.h"
#include "vpn/config.h"
#include "vpn/reasons.h"
#include "vpn/shm_segment.h"

namespace {

struct Options {
  std::string socket = "/run/vpnconc/control.sock";
  std::string shm = "vpnconc";
  bool json = false;
  std::vector<std::string> words;
  std::vector<std::string> port_names;  // from --config, for metrics labels
};

int ShowCounters(const Options& o) {
  absl::StatusOr<vpn::shm::Segment> seg = vpn::shm::Segment::Attach(o.shm);
  if (!seg.ok()) {
    std::fprintf(stderr, "vpnctl: %s\n", std::string(seg.status().message()).c_str());
    return 1;
  }
  const vpn::shm::Header& h = seg->header();
  const uint32_t nw = std::min(h.n_workers, vpn::shm::kMaxWorkers);
  std::vector<uint64_t> reason(vpn::kReasonCount, 0);
  uint64_t rx = 0, tx = 0, loops = 0;
  vpn::shm::PortCounters ports[vpn::shm::kMaxPorts] = {};
  for (uint32_t w = 0; w < nw; ++w) {
    const vpn::shm::WorkerCounters& c = seg->worker_counters(w);
    for (uint32_t r = 0; r < vpn::kReasonCount; ++r) reason[r] += c.reason[r];
    rx += c.rx_packets;
    tx += c.tx_packets;
    loops += c.loops;
    for (uint32_t p = 0; p < vpn::shm::kMaxPorts; ++p) {
      ports[p].rx_packets += c.ports[p].rx_packets;
      ports[p].rx_bytes += c.ports[p].rx_bytes;
      ports[p].tx_packets += c.ports[p].tx_packets;
      ports[p].tx_bytes += c.ports[p].tx_bytes;
      ports[p].tx_dropped += c.ports[p].tx_dropped;
    }
  }
  const bool all = std::find(o.words.begin(), o.words.end(), "all") != o.words.end();
  if (o.json) {
    std::string out = absl::StrFormat(
        "{\"workers\": %d, \"dataplane_pid\": %d, \"rx_packets\": %d, \"tx_packets\": %d, "
        "\"loops\": %d, \"reasons\": {",
        nw, h.dp_pid.load(), rx, tx, loops);
    for (uint32_t r = 0; r < vpn::kReasonCount; ++r) {
      absl::StrAppend(&out, r ? ", " : "", "\"", std::string(vpn::kReasonInfo[r].name), "\": ",
                      reason[r]);
    }
    absl::StrAppend(&out, "}, \"ports\": [");
    for (uint32_t p = 0; p < vpn::shm::kMaxPorts; ++p) {
      absl::StrAppend(&out, p ? ", " : "",
                      absl::StrFormat("{\"rx_packets\": %d, \"rx_bytes\": %d, \"tx_packets\": %d, "
                                      "\"tx_bytes\": %d, \"tx_dropped\": %d}",
                                      ports[p].rx_packets, ports[p].rx_bytes, ports[p].tx_packets,
                                      ports[p].tx_bytes, ports[p].tx_dropped));
    }
    absl::StrAppend(&out, "]}\n");
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  std::printf("dataplane pid %lu, %u worker(s), rx %lu, tx %lu packets\n",
              (unsigned long)h.dp_pid.load(), nw, (unsigned long)rx, (unsigned long)tx);
  std::printf("%-28s %-6s %14s  %s\n", "counter", "kind", "value", "meaning");
  static const char* kSev[] = {"info", "drop", "error"};
  for (uint32_t r = 0; r < vpn::kReasonCount; ++r) {
    if (!reason[r] && !all) continue;
    const vpn::ReasonInfo& ri = vpn::kReasonInfo[r];
    std::printf("%-28s %-6s %14lu  %s\n", std::string(ri.name).c_str(),
                kSev[static_cast<int>(ri.severity)], (unsigned long)reason[r],
                std::string(ri.help).c_str());
  }
  for (uint32_t p = 0; p < vpn::shm::kMaxPorts; ++p) {
    if (!ports[p].rx_packets && !ports[p].tx_packets && !all) continue;
    std::printf("port %u: rx %lu pkts %lu bytes, tx %lu pkts %lu bytes, tx dropped %lu\n", p,
                (unsigned long)ports[p].rx_packets, (unsigned long)ports[p].rx_bytes,
                (unsigned long)ports[p].tx_packets, (unsigned long)ports[p].tx_bytes,
                (unsigned long)ports[p].tx_dropped);
  }
  return 0;
}

// One request line to the control socket; false (with a message on stderr)
// when the control plane cannot be reached.
bool Ask(const Options& o, const std::vector<std::string>& words, bool json, std::string* reply,
         bool quiet = false) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (fd < 0 || o.socket.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, o.socket.c_str(), o.socket.size());
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (!quiet) {
      std::fprintf(stderr, "vpnctl: cannot reach the control plane at %s: %s\n",
                   o.socket.c_str(), strerror(errno));
    }
    close(fd);
    return false;
  }
  std::string line = absl::StrJoin(words, " ");
  if (json) line += " --json";
  line += "\n";
  if (write(fd, line.data(), line.size()) != ssize_t(line.size())) {
    close(fd);
    return false;
  }
  char buf[4096];
  reply->clear();
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) reply->append(buf, size_t(n));
  close(fd);
  return true;
}

int AskControlPlane(const Options& o) {
  std::string reply;
  if (!Ask(o, o.words, o.json, &reply)) return 1;
  std::fputs(reply.c_str(), stdout);
  return reply.rfind("error:", 0) == 0 ? 1 : 0;
}

// `show metrics`: the control plane's full exposition; while it is down, the
// dataplane's part straight from shared memory (vpn_controlplane_up 0).
int ShowMetrics(const Options& o) {
  std::string reply;
  if (Ask(o, o.words, false, &reply, /*quiet=*/true) && reply.rfind("error:", 0) != 0) {
    std::fputs(reply.c_str(), stdout);
    return 0;
  }
  absl::StatusOr<vpn::shm::Segment> seg = vpn::shm::Segment::Attach(o.shm);
  if (!seg.ok()) {
    std::fprintf(stderr, "vpnctl: control plane unreachable and %s\n",
                 std::string(seg.status().message()).c_str());
    return 1;
  }
  vpn::metrics::Writer w;
  vpn::metrics::AppendDataplane(*seg, o.port_names, &w);
  w.Family("vpn_controlplane_up", vpn::metrics::Writer::Type::kGauge,
           "1 while the control plane answers");
  w.Sample({}, uint64_t(0));
  std::fputs(w.text().c_str(), stdout);
  return 0;
}

volatile sig_atomic_t g_interrupted = 0;
void OnInterrupt(int) { g_interrupted = 1; }

// `capture ...`: starts a capture in the control plane and waits for its end
// (bounded by its own duration), printing the summary; Ctrl-C stops it early.
// `capture stop|status` are passed through.
int Capture(const Options& o) {
  std::vector<std::string> words = o.words;
  if (words.size() >= 2 && (words[1] == "stop" || words[1] == "status")) return AskControlPlane(o);
  bool detach = false;
  std::vector<std::string> req = {"capture", "start"};
  for (size_t i = 1; i < words.size(); ++i) {
    if (words[i] == "--detach") {
      detach = true;
      continue;
    }
    req.push_back(words[i]);
    // The control plane writes the file: give it an absolute path.
    if (words[i] == "file" && i + 1 < words.size()) {
      std::string path = words[++i];
      if (!path.empty() && path[0] != '/') {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd)) path = std::string(cwd) + "/" + path;
      }
      req.push_back(path);
    }
  }
  std::string reply;
  if (!Ask(o, req, true, &reply)) return 1;
  if (reply.rfind("error:", 0) == 0) {
    std::fputs(reply.c_str(), stderr);
    return 1;
  }
  // {"id": N, ...}
  const size_t at = reply.find("\"id\": ");
  const unsigned long id = at == std::string::npos ? 0 : std::strtoul(reply.c_str() + at + 7, nullptr, 10);
  if (detach || !id) {
    std::fputs(reply.c_str(), stdout);
    return id ? 0 : 1;
  }
  if (!o.json) std::fprintf(stderr, "vpnctl: capture %lu running; Ctrl-C stops it\n", id);
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const std::string ids = std::to_string(id);
  // The capture ends by itself within its duration (at most an hour).
  for (int i = 0; i < 4 * 3700; ++i) {
    if (g_interrupted) {
      Ask(o, {"capture", "stop", ids}, o.json, &reply);
      break;
    }
    usleep(250000);
    if (!Ask(o, {"capture", "status", ids}, true, &reply)) return 1;
    if (reply.find("\"running\": false") != std::string::npos) break;
  }
  if (!Ask(o, {"capture", "status", ids}, o.json, &reply)) return 1;
  std::fputs(reply.c_str(), stdout);
  return reply.rfind("error:", 0) == 0 ? 1 : 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: vpnctl [--config PATH | --socket PATH --shm NAME] [--json] COMMAND...\n"
               "  show counters [all]     dataplane counters and drop reasons (from shared memory)\n"
               "  show metrics            Prometheus text (dataplane part from shm if the control\n"
               "                          plane is down)\n"
               "  show sessions | show sa | show tunnels | show pools | show status\n"
               "  debug SUBSYS LEVEL      e.g. debug l2tp event\n"
               "  clear session ID | clear tunnel ID | clear peer IP\n"
               "  reload                  re-read the config file (refuses restart-only changes)\n"
               "  capture {port NAME [host IP] | session ID} [file PATH] [duration S] [count N]\n"
               "          [snaplen N] [size BYTES] [rate PPS] [direction rx|tx|both] [--detach]\n"
               "  capture stop [ID] | capture status [ID]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") {
      o.json = true;
    } else if (a == "--socket" && i + 1 < argc) {
      o.socket = argv[++i];
    } else if (a == "--shm" && i + 1 < argc) {
      o.shm = argv[++i];
    } else if (a == "--config" && i + 1 < argc) {
      absl::StatusOr<vpn::config::Config> c = vpn::config::ParseConfigFile(argv[++i]);
      if (!c.ok()) {
        std::fprintf(stderr, "vpnctl: %s\n", std::string(c.status().message()).c_str());
        return 1;
      }
      o.socket = c->control_socket;
      o.shm = c->shm_name;
      for (const vpn::config::Port& p : c->ports) o.port_names.push_back(p.name);
    } else if (a == "-h" || a == "--help") {
      return Usage();
    } else {
      o.words.push_back(a);
    }
  }
  if (o.words.empty()) return Usage();
  if (o.words.size() >= 2 && o.words[0] == "show" && o.words[1] == "counters") {
    return ShowCounters(o);
  }
  if (o.words.size() >= 2 && o.words[0] == "show" && o.words[1] == "metrics") return ShowMetrics(o);
  if (o.words[0] == "capture") return Capture(o);
  return AskControlPlane(o);
}

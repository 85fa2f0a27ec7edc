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

bool Ask(const Options& o, const std::vector<std::string>& words, bool json, std::string* reply,
         bool quiet = false);

// Port names: from --config, else from the control plane (show status), else
// "portN". The counters themselves never need the control plane.
std::vector<std::string> PortNames(const Options& o, uint32_t n) {
  std::vector<std::string> names = o.port_names;
  std::string reply;
  if (names.empty() && Ask(o, {"show", "status"}, true, &reply, /*quiet=*/true)) {
    const size_t at = reply.find("\"ports\": [");
    const size_t end = at == std::string::npos ? at : reply.find(']', at);
    if (end != std::string::npos) {
      const std::string list = reply.substr(at + 10, end - at - 10);
      for (size_t q = list.find('"'); q != std::string::npos; q = list.find('"', q + 1)) {
        const size_t close = list.find('"', q + 1);
        if (close == std::string::npos) break;
        names.push_back(list.substr(q + 1, close - q - 1));
        q = close;
      }
    }
  }
  for (uint32_t p = uint32_t(names.size()); p < n; ++p) names.push_back(absl::StrCat("port", p));
  return names;
}

std::string PortJson(const std::string& name, const vpn::shm::PortCounters& c) {
  return absl::StrFormat(
      "{\"name\": \"%s\", \"rx_packets\": %d, \"rx_bytes\": %d, \"tx_packets\": %d, "
      "\"tx_bytes\": %d, \"tx_dropped\": %d}",
      name, c.rx_packets, c.rx_bytes, c.tx_packets, c.tx_bytes, c.tx_dropped);
}

void AddPort(vpn::shm::PortCounters& sum, const vpn::shm::PortCounters& c) {
  sum.rx_packets += c.rx_packets;
  sum.rx_bytes += c.rx_bytes;
  sum.tx_packets += c.tx_packets;
  sum.tx_bytes += c.tx_bytes;
  sum.tx_dropped += c.tx_dropped;
}

// `show counters [all]`: drop reasons summed over workers, then per port and
// per worker (the last counter block is the dataplane's housekeeping lcore).
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
    for (uint32_t p = 0; p < vpn::shm::kMaxPorts; ++p) AddPort(ports[p], c.ports[p]);
  }
  const std::vector<std::string> names = PortNames(o, vpn::shm::kMaxPorts);
  const bool all = std::find(o.words.begin(), o.words.end(), "all") != o.words.end();
  auto role = [&](uint32_t w) { return w + 1 == nw ? "housekeeping" : "worker"; };
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
      absl::StrAppend(&out, p ? ", " : "", PortJson(names[p], ports[p]));
    }
    absl::StrAppend(&out, "], \"per_worker\": [");
    for (uint32_t w = 0; w < nw; ++w) {
      const vpn::shm::WorkerCounters& c = seg->worker_counters(w);
      absl::StrAppend(&out, w ? ", " : "",
                      absl::StrFormat("{\"block\": %d, \"role\": \"%s\", \"rx_packets\": %d, "
                                      "\"tx_packets\": %d, \"loops\": %d, \"reasons\": {",
                                      w, role(w), c.rx_packets, c.tx_packets, c.loops));
      bool first = true;
      for (uint32_t r = 0; r < vpn::kReasonCount; ++r) {
        if (!c.reason[r] && !all) continue;
        absl::StrAppend(&out, first ? "" : ", ", "\"", std::string(vpn::kReasonInfo[r].name),
                        "\": ", c.reason[r]);
        first = false;
      }
      absl::StrAppend(&out, "}, \"ports\": [");
      for (uint32_t p = 0; p < vpn::shm::kMaxPorts; ++p) {
        absl::StrAppend(&out, p ? ", " : "", PortJson(names[p], c.ports[p]));
      }
      absl::StrAppend(&out, "]}");
    }
    absl::StrAppend(&out, "]}\n");
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  std::printf("dataplane pid %lu, %u counter block(s) (%u worker(s) + housekeeping), rx %lu, "
              "tx %lu packets\n",
              (unsigned long)h.dp_pid.load(), nw, nw ? nw - 1 : 0, (unsigned long)rx,
              (unsigned long)tx);
  std::printf("%-28s %-6s %14s  %s\n", "counter", "kind", "value", "meaning");
  static const char* kSev[] = {"info", "drop", "error"};
  for (uint32_t r = 0; r < vpn::kReasonCount; ++r) {
    if (!reason[r] && !all) continue;
    const vpn::ReasonInfo& ri = vpn::kReasonInfo[r];
    std::printf("%-28s %-6s %14lu  %s\n", std::string(ri.name).c_str(),
                kSev[static_cast<int>(ri.severity)], (unsigned long)reason[r],
                std::string(ri.help).c_str());
  }
  std::printf("\n%-14s %12s %14s %12s %14s %10s\n", "port", "rx pkts", "rx bytes", "tx pkts",
              "tx bytes", "tx drop");
  for (uint32_t p = 0; p < vpn::shm::kMaxPorts; ++p) {
    if (!ports[p].rx_packets && !ports[p].tx_packets && !all) continue;
    std::printf("%-14s %12lu %14lu %12lu %14lu %10lu\n", names[p].c_str(),
                (unsigned long)ports[p].rx_packets, (unsigned long)ports[p].rx_bytes,
                (unsigned long)ports[p].tx_packets, (unsigned long)ports[p].tx_bytes,
                (unsigned long)ports[p].tx_dropped);
  }
  for (uint32_t w = 0; w < nw; ++w) {
    const vpn::shm::WorkerCounters& c = seg->worker_counters(w);
    std::printf("\n%s %u: rx %lu, tx %lu packets, %lu loops\n", role(w), w,
                (unsigned long)c.rx_packets, (unsigned long)c.tx_packets, (unsigned long)c.loops);
    for (uint32_t p = 0; p < vpn::shm::kMaxPorts; ++p) {
      const vpn::shm::PortCounters& pc = c.ports[p];
      if (!pc.rx_packets && !pc.tx_packets && !all) continue;
      std::printf("  port %-8s rx %lu pkts %lu bytes, tx %lu pkts %lu bytes, tx dropped %lu\n",
                  names[p].c_str(), (unsigned long)pc.rx_packets, (unsigned long)pc.rx_bytes,
                  (unsigned long)pc.tx_packets, (unsigned long)pc.tx_bytes,
                  (unsigned long)pc.tx_dropped);
    }
    for (uint32_t r = 0; r < vpn::kReasonCount; ++r) {
      if (!c.reason[r]) continue;
      std::printf("  %-28s %14lu\n", std::string(vpn::kReasonInfo[r].name).c_str(),
                  (unsigned long)c.reason[r]);
    }
  }
  return 0;
}

// One request line to the control socket; false (with a message on stderr)
// when the control plane cannot be reached.
bool Ask(const Options& o, const std::vector<std::string>& words, bool json, std::string* reply,
         bool quiet) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (fd < 0 || o.socket.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, o.socket.c_str(), o.socket.size());
  if (quiet) {
    // Optional questions (port names for show counters) never hang vpnctl
    // on a stuck control plane.
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
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

// A refusal, in text ("error: ...") or JSON ({"ok": false, ...}) form.
bool IsError(const std::string& reply) {
  return reply.rfind("error:", 0) == 0 || reply.rfind("{\"ok\": false", 0) == 0;
}

int AskControlPlane(const Options& o) {
  std::string reply;
  if (!Ask(o, o.words, o.json, &reply)) return 1;
  std::fputs(reply.c_str(), stdout);
  return IsError(reply) ? 1 : 0;
}

// --json for `show metrics`: {"SERIES": value, ...} with the series exactly
// as the exposition names them (name{labels}).
std::string MetricsJson(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    std::string key;
    for (char c : line.substr(0, sp)) {
      if (c == '"' || c == '\\') key += '\\';
      key += c;
    }
    items.push_back(absl::StrCat("\"", key, "\": ", line.substr(sp + 1)));
  }
  return "{" + absl::StrJoin(items, ", ") + "}\n";
}

// `show metrics`: the control plane's full exposition; while it is down, the
// dataplane's part straight from shared memory (vpn_controlplane_up 0).
int ShowMetrics(const Options& o) {
  std::string reply;
  if (Ask(o, o.words, false, &reply, /*quiet=*/true) && !IsError(reply)) {
    std::fputs((o.json ? MetricsJson(reply) : reply).c_str(), stdout);
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
  std::fputs((o.json ? MetricsJson(w.text()) : w.text()).c_str(), stdout);
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
  if (IsError(reply)) {
    std::fputs(reply.c_str(), stderr);
    return 1;
  }
  // {"id": N, ...}
  const size_t at = reply.find("\"id\": ");
  const unsigned long id =
      at == std::string::npos ? 0 : std::strtoul(reply.c_str() + at + 6, nullptr, 10);
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
    if (IsError(reply)) {  // e.g. the control plane restarted
      std::fputs(reply.c_str(), stderr);
      return 1;
    }
  }
  if (!Ask(o, {"capture", "status", ids}, o.json, &reply)) return 1;
  std::fputs(reply.c_str(), stdout);
  return IsError(reply) ? 1 : 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: vpnctl [--config PATH | --socket PATH --shm NAME] [--json] COMMAND...\n"
               "  show counters [all]     dataplane counters: drop reasons, per port, per worker\n"
               "                          (from shared memory; works with the control plane down)\n"
               "  show metrics            Prometheus text (dataplane part from shm if the control\n"
               "                          plane is down)\n"
               "  show sessions [detail] [user NAME | ip ADDRESS | peer ADDRESS[:PORT] | id N]\n"
               "  show sa | show tunnels | show pools | show status\n"
               "  debug SUBSYS LEVEL      e.g. debug l2tp event\n"
               "  clear session ID | clear tunnel ID [PEER-IP[:PORT]] | clear peer IP\n"
               "                          (tunnel ids repeat across peers: name the peer when\n"
               "                          several have the id)\n"
               "  reload                  re-read the config file (refuses restart-only changes)\n"
               "  capture {port NAME [host IP] | session ID} [file PATH] [duration S] [count N]\n"
               "          [snaplen N] [size BYTES] [rate PPS] [direction rx|tx|both] [--detach]\n"
               "  capture stop [ID] | capture status [ID]\n"
               "--json: machine-readable output of any command (Prometheus text stays text)\n");
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

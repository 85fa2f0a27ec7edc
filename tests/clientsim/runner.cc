#include "runner.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vpn::clientsim {
namespace {

volatile sig_atomic_t g_signal = 0;
void OnSignal(int sig) { g_signal = sig; }

double Secs(absl::Duration d) { return absl::ToDoubleSeconds(d); }

std::string JsonEscape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (uint8_t(c) < 0x20) {
      o += absl::StrFormat("\\u%04x", int(c));
    } else {
      o += c;
    }
  }
  return o;
}

}  // namespace

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = size_t(std::ceil(p / 100.0 * double(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

uint64_t CurrentRssBytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (!(f >> size >> resident)) return 0;
  return resident * uint64_t(sysconf(_SC_PAGESIZE));
}

// One client and its socket.
struct Runner::Slot : public ClientIo {
  int fd = -1;
  uint32_t ip = 0;    // host order
  uint16_t port = 0;
  uint32_t server_ip = 0;
  uint64_t tx_errors = 0, rx_foreign = 0;
  std::unique_ptr<SimClient> client;

  void SendToServer(uint16_t dst_port, ByteSpan payload) override {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(server_ip);
    to.sin_port = htons(dst_port);
    if (sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to),
               sizeof to) < 0)
      ++tx_errors;
  }
  ~Slot() override {
    if (fd >= 0) close(fd);
  }
};

Runner::Runner(RunnerOptions opts) : opts_(std::move(opts)) {}
Runner::~Runner() = default;

absl::Status Runner::OpenSocket(Slot& s, int index) {
  s.server_ip = opts_.client.server_ip;
  s.ip = opts_.sources.empty() ? 0 : opts_.sources[size_t(index) % opts_.sources.size()];
  s.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  int buf = 1 << 18;
  setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(s.ip);
  if (opts_.base_port) {
    const size_t per_ip = opts_.sources.empty() ? 1 : opts_.sources.size();
    a.sin_port = htons(uint16_t(opts_.base_port + size_t(index) / per_ip));
  }
  if (bind(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return absl::InternalError(absl::StrCat("bind ", Ipv4ToString(s.ip), ":", ntohs(a.sin_port),
                                            ": ", strerror(errno)));
  // Learn the address the server will see (the route's source when unbound).
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(s.server_ip);
  to.sin_port = htons(opts_.client.ike_port);
  if (s.ip == 0) {
    int probe = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in me{};
    socklen_t len = sizeof me;
    if (probe < 0 || connect(probe, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 ||
        getsockname(probe, reinterpret_cast<sockaddr*>(&me), &len) != 0) {
      if (probe >= 0) close(probe);
      return absl::UnavailableError(absl::StrCat("no route to ", Ipv4ToString(s.server_ip)));
    }
    close(probe);
    s.ip = ntohl(me.sin_addr.s_addr);
  }
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  getsockname(s.fd, reinterpret_cast<sockaddr*>(&bound), &len);
  s.port = ntohs(bound.sin_port);
  if (s.port == kIkePort || s.port == kNatTPort)
    return absl::InvalidArgumentError("client port 500/4500 would defeat forced NAT-T");
  Slot* sp = &s;
  return loop_.WatchReadable(s.fd, [this, sp] { OnReadable(*sp); });
}

void Runner::OnReadable(Slot& s) {
  uint8_t buf[65536];
  for (int i = 0; i < 64; ++i) {  // bounded: other sockets get their turn
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(s.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return;
    if (ntohl(from.sin_addr.s_addr) != s.server_ip) {
      ++s.rx_foreign;
      continue;
    }
    if (s.client) s.client->OnDatagram(ntohs(from.sin_port), ByteSpan(buf, size_t(n)));
  }
}

void Runner::StartSome() {
  if (stopping_) return;
  const double elapsed = Secs(loop_.Now() - t_start_);
  const int due = std::min(opts_.clients, 1 + int(elapsed * opts_.rate));
  // Closed loop (--max-connecting): a new client only while fewer than P
  // are between Start and IPCP up, so an overloaded server sees at most P
  // connects in flight instead of a growing backlog of retransmits.
  int connecting = 0;
  if (opts_.max_connecting > 0) {
    for (auto& s : slots_) {
      const Phase p = s->client ? s->client->phase() : Phase::kDone;
      connecting += p > Phase::kIdle && p < Phase::kUp;
    }
  }
  while (started_ < due && (opts_.max_connecting <= 0 || connecting++ < opts_.max_connecting)) {
    const int i = started_++;
    auto slot = std::make_unique<Slot>();
    Slot& s = *slot;
    slots_.push_back(std::move(slot));
    if (absl::Status st = OpenSocket(s, i); !st.ok()) {
      std::fprintf(stderr, "clientsim: client %d: %s\n", i, std::string(st.message()).c_str());
      s.client = std::make_unique<SimClient>(i, opts_.client, loop_, engine_, s, s.ip);
      s.client->Abandon(std::string(st.message()));
      OnClientDone(*s.client);
      continue;
    }
    s.client = std::make_unique<SimClient>(i, opts_.client, loop_, engine_, s, s.ip);
    if (opts_.client.traffic.kind != TrafficSettings::Kind::kNone) {
      if (i % opts_.sample_every != 0)
        s.client->set_traffic_mode(SimClient::TrafficMode::kOff);
      else if (opts_.traffic_after_ramp)
        s.client->set_traffic_mode(SimClient::TrafficMode::kDeferred);
    }
    s.client->Start([this](SimClient& c) { OnClientDone(c); });
  }
  if (started_ < opts_.clients) {
    absl::Duration step =
        std::max(absl::Milliseconds(1), absl::Seconds(1.0 / std::max(opts_.rate, 0.001)));
    if (opts_.max_connecting > 0) step = std::min(step, absl::Milliseconds(10));
    loop_.Schedule(step, [this] { StartSome(); });
  }
}

void Runner::OnClientDone(SimClient& c) {
  ++finished_;
  Slot& s = *slots_[size_t(c.index())];
  if (s.fd >= 0) {
    loop_.Unwatch(s.fd);
    close(s.fd);
    s.fd = -1;
  }
  if (opts_.per_client_lines) PrintClient(c, s);
  if (finished_ == opts_.clients) loop_.Stop();
}

// Every 100 ms: concurrency, memory, signals, the ramp.
void Runner::Sample() {
  int up = 0, connecting = 0;
  for (auto& s : slots_) {
    if (!s->client) continue;
    const Phase p = s->client->phase();
    if (p == Phase::kUp) ++up;
    else if (p > Phase::kIdle && p < Phase::kUp) ++connecting;
  }
  const uint64_t rss = CurrentRssBytes();
  rss_max_ = std::max(rss_max_, rss);
  if (up > peak_up_ || (up == peak_up_ && up > 0 && rss > rss_at_peak_)) {
    peak_up_ = up;
    rss_at_peak_ = rss;
  }
  CheckRamp(up, connecting);
  if (opts_.progress > absl::ZeroDuration() && loop_.Now() - t_progress_ >= opts_.progress) {
    t_progress_ = loop_.Now();
    std::printf("clientsim: progress t=%.1fs started=%d connecting=%d up=%d finished=%d rss=%.1fMiB\n",
                Secs(loop_.Now() - t_start_), started_, connecting, up, finished_,
                double(rss) / (1 << 20));
    std::fflush(stdout);
  }
  if (g_signal && !stopping_) StopAll(absl::StrCat("signal ", int(g_signal)));
  if (opts_.max_time > absl::ZeroDuration() && !stopping_ &&
      loop_.Now() - t_start_ > opts_.max_time)
    StopAll("--max-time reached");
  // A second limit: a stop that does not finish within 15 s ends the run.
  if (stopping_ && loop_.Now() - t_start_ > opts_.max_time + absl::Seconds(15)) loop_.Stop();
  loop_.Schedule(absl::Milliseconds(100), [this] { Sample(); });
}

// --traffic-after-ramp: once every client is started and none is still
// connecting, the sampled clients send their traffic; once it is judged,
// everyone holds for hold_after_ramp and then tears down.
void Runner::CheckRamp(int up, int connecting) {
  if (!opts_.traffic_after_ramp || stopping_ || sample_done_) return;
  using Mode = SimClient::TrafficMode;
  if (!ramp_done_) {
    if (started_ < opts_.clients || connecting > 0) return;
    ramp_done_ = true;
    t_ramp_done_ = loop_.Now();
    up_after_ramp_ = up;
    for (auto& s : slots_) {
      if (s->client && s->client->phase() == Phase::kUp &&
          s->client->traffic_mode() == Mode::kDeferred) {
        ++sample_clients_;
        s->client->StartTraffic();
      }
    }
    std::printf("clientsim: ramp done after %.2fs: %d up, %d failed; traffic from %d sampled sessions\n",
                Secs(t_ramp_done_ - t_start_), up, started_ - up, sample_clients_);
    std::fflush(stdout);
    return;
  }
  for (auto& s : slots_)
    if (s->client && s->client->traffic_mode() == Mode::kDeferred && s->client->traffic_pending())
      return;
  sample_done_ = true;
  for (auto& s : slots_)
    if (s->client && s->client->traffic_mode() == Mode::kDeferred && s->client->result().ok)
      ++sample_ok_;
  std::printf("clientsim: sample traffic: %d of %d sampled sessions got every reply; %d up; holding %.1fs\n",
              sample_ok_, sample_clients_, up, Secs(opts_.hold_after_ramp));
  std::fflush(stdout);
  loop_.Schedule(opts_.hold_after_ramp, [this] {
    if (!stopping_) StopAll("hold over");
  });
}

void Runner::StopAll(const std::string& why) {
  stopping_ = true;
  std::fprintf(stderr, "clientsim: stopping (%s)\n", why.c_str());
  for (auto& s : slots_)
    if (s->client) s->client->Stop(why);
  // Clients never started count as failed.
  for (int i = started_; i < opts_.clients; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->client = std::make_unique<SimClient>(i, opts_.client, loop_, engine_, *slot, 0);
    slot->client->Abandon("not started: " + why);
    slots_.push_back(std::move(slot));
    OnClientDone(*slots_.back()->client);
  }
  started_ = opts_.clients;
  if (opts_.max_time == absl::ZeroDuration()) opts_.max_time = loop_.Now() - t_start_;
}

int Runner::Run() {
  if (!engine_.Init()) {
    std::fprintf(stderr, "clientsim: ESP engine (intel-ipsec-mb) failed to initialise\n");
    return 2;
  }
  // One socket per client: lift the descriptor limit to the hard limit.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (opts_.max_time == absl::ZeroDuration()) {
    const TrafficSettings& t = opts_.client.traffic;
    opts_.max_time = absl::Seconds(opts_.clients / std::max(opts_.rate, 0.001)) +
                     opts_.client.connect_timeout + t.start_delay + t.interval * t.count + t.reply_wait +
                     (opts_.traffic_after_ramp ? opts_.hold_after_ramp : opts_.client.hold) +
                     absl::Seconds(30);
  }
  // After the ramp the runner ends the hold (CheckRamp), not each client.
  if (opts_.traffic_after_ramp) opts_.client.hold = absl::Hours(24 * 365);
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  rss_baseline_ = CurrentRssBytes();
  t_start_ = loop_.Now();
  loop_.Schedule(absl::ZeroDuration(), [this] { StartSome(); });
  loop_.Schedule(absl::Milliseconds(100), [this] { Sample(); });
  loop_.Run();
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  Summarize();
  PrintSummary();
  if (!opts_.json_path.empty() && !WriteJson()) return 2;
  std::printf("clientsim: %d connected, %d failed\n", summary_.ok, summary_.failed);
  std::fflush(stdout);
  return summary_.failed == 0 ? 0 : 1;
}

void Runner::Summarize() {
  Summary& m = summary_;
  m.clients = opts_.clients;
  std::vector<double> connect, ike;
  absl::Duration rtt;
  std::map<std::string, int> reasons;
  absl::Duration first = absl::InfiniteDuration(), last;
  for (auto& s : slots_) {
    if (!s->client) continue;
    const ClientResult& r = s->client->result();
    if (r.connected) {
      ++m.connected;
      connect.push_back(Secs(r.t_connect));
      ike.push_back(Secs(r.t_ike));
      // Connect window: from the first start to the last IPCP up.
      const absl::Duration start = s->client->started_at() - t_start_;
      first = std::min(first, start);
      last = std::max(last, start + r.t_connect);
    }
    if (r.ok) {
      ++m.ok;
    } else {
      std::string why = r.failure.empty() ? "unfinished" : r.failure;
      reasons[why]++;
    }
    m.sent += r.sent;
    m.received += r.received;
    rtt += r.rtt_sum;
  }
  m.failed = m.clients - m.ok;
  m.connect_p50_s = Percentile(connect, 50);
  m.connect_p99_s = Percentile(connect, 99);
  m.connect_max_s = Percentile(connect, 100);
  m.ike_p50_s = Percentile(ike, 50);
  if (m.connected > 0) {
    m.connect_window_s = Secs(last - first);
    m.connects_per_s = m.connect_window_s > 0 ? m.connected / m.connect_window_s : 0;
  }
  m.peak_concurrent = peak_up_;
  m.rss_baseline_mib = double(rss_baseline_) / (1 << 20);
  m.rss_peak_mib = double(rss_max_) / (1 << 20);
  if (peak_up_ > 0 && rss_at_peak_ > rss_baseline_)
    m.rss_per_session_kib = double(rss_at_peak_ - rss_baseline_) / 1024.0 / peak_up_;
  m.rtt_avg_ms = m.received ? absl::ToDoubleMilliseconds(rtt) / double(m.received) : 0;
  m.wall_s = Secs(loop_.Now() - t_start_);
  if (ramp_done_) m.ramp_s = Secs(t_ramp_done_ - t_start_);
  m.up_after_ramp = up_after_ramp_;
  m.sample_clients = sample_clients_;
  m.sample_ok = sample_ok_;
  for (auto& [k, v] : reasons) m.failure_reasons.emplace_back(k, v);
  std::sort(m.failure_reasons.begin(), m.failure_reasons.end(),
            [](auto& a, auto& b) { return a.second > b.second; });
}

void Runner::PrintClient(const SimClient& c, const Slot& s) const {
  const ClientResult& r = c.result();
  std::string line = absl::StrFormat("client %d %s:%u ", c.index(), Ipv4ToString(s.ip), s.port);
  if (r.ok) {
    absl::StrAppendFormat(&line, "ok addr=%s ike=%.3fs l2tp=%.3fs connect=%.3fs esp=%s",
                          Ipv4ToString(r.address), Secs(r.t_ike), Secs(r.t_l2tp),
                          Secs(r.t_connect), r.esp_suite);
  } else {
    absl::StrAppendFormat(&line, "FAIL in %s: %s", PhaseName(r.failed_in), r.failure);
    if (r.connected) absl::StrAppendFormat(&line, " (addr=%s)", Ipv4ToString(r.address));
  }
  if (r.sent)
    absl::StrAppendFormat(&line, " traffic %u/%u rtt=%.2fms", r.received, r.sent,
                          r.received ? absl::ToDoubleMilliseconds(r.rtt_sum) / double(r.received) : 0);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void Runner::PrintSummary() const {
  const Summary& m = summary_;
  std::printf("summary: clients=%d connected=%d ok=%d failed=%d wall=%.2fs\n", m.clients,
              m.connected, m.ok, m.failed, m.wall_s);
  std::printf("summary: connect time p50=%.3fs p99=%.3fs max=%.3fs (IKE p50=%.3fs)\n",
              m.connect_p50_s, m.connect_p99_s, m.connect_max_s, m.ike_p50_s);
  std::printf("summary: connects/s=%.2f (%d in %.2fs) peak concurrent sessions=%d\n",
              m.connects_per_s, m.connected, m.connect_window_s, m.peak_concurrent);
  std::printf("summary: traffic sent=%lu received=%lu rtt avg=%.2fms\n", (unsigned long)m.sent,
              (unsigned long)m.received, m.rtt_avg_ms);
  std::printf("summary: RSS baseline=%.1fMiB peak=%.1fMiB per session=%.1fKiB\n",
              m.rss_baseline_mib, m.rss_peak_mib, m.rss_per_session_kib);
  if (opts_.traffic_after_ramp)
    std::printf("summary: ramp=%.2fs up after ramp=%d sample traffic ok=%d of %d\n", m.ramp_s,
                m.up_after_ramp, m.sample_ok, m.sample_clients);
  for (auto& [why, n] : m.failure_reasons) std::printf("summary: failed %dx: %s\n", n, why.c_str());
}

bool Runner::WriteJson() const {
  const Summary& m = summary_;
  std::string j = "{\n";
  absl::StrAppendFormat(&j,
                        "  \"clients\": %d, \"connected\": %d, \"ok\": %d, \"failed\": %d,\n"
                        "  \"connect_p50_s\": %.6f, \"connect_p99_s\": %.6f, \"connect_max_s\": %.6f,\n"
                        "  \"ike_p50_s\": %.6f, \"connects_per_s\": %.3f, \"connect_window_s\": %.3f,\n"
                        "  \"peak_concurrent_sessions\": %d,\n"
                        "  \"rss_baseline_mib\": %.2f, \"rss_peak_mib\": %.2f, "
                        "\"rss_per_session_kib\": %.2f,\n"
                        "  \"traffic_sent\": %u, \"traffic_received\": %u, \"rtt_avg_ms\": %.3f,\n"
                        "  \"wall_s\": %.3f, \"rate\": %.3f,\n"
                        "  \"ramp_s\": %.3f, \"up_after_ramp\": %d, \"sample_clients\": %d, "
                        "\"sample_ok\": %d,\n",
                        m.clients, m.connected, m.ok, m.failed, m.connect_p50_s, m.connect_p99_s,
                        m.connect_max_s, m.ike_p50_s, m.connects_per_s, m.connect_window_s,
                        m.peak_concurrent, m.rss_baseline_mib, m.rss_peak_mib,
                        m.rss_per_session_kib, m.sent, m.received, m.rtt_avg_ms, m.wall_s,
                        opts_.rate, m.ramp_s, m.up_after_ramp, m.sample_clients, m.sample_ok);
  j += "  \"failures\": {";
  for (size_t i = 0; i < m.failure_reasons.size(); ++i)
    absl::StrAppendFormat(&j, "%s\"%s\": %d", i ? ", " : "", JsonEscape(m.failure_reasons[i].first),
                          m.failure_reasons[i].second);
  j += "},\n  \"per_client\": [\n";
  bool first = true;
  for (auto& s : slots_) {
    if (!s->client) continue;
    const ClientResult& r = s->client->result();
    absl::StrAppendFormat(
        &j,
        "%s    {\"index\": %d, \"source\": \"%s:%u\", \"ok\": %s, \"connected\": %s, "
        "\"address\": \"%s\", \"start_s\": %.6f, \"ike_s\": %.6f, \"l2tp_s\": %.6f, \"connect_s\": %.6f, "
        "\"sent\": %u, \"received\": %u, \"esp\": \"%s\", \"failed_in\": \"%s\", "
        "\"failure\": \"%s\"}",
        first ? "" : ",\n", s->client->index(), Ipv4ToString(s->ip), s->port,
        r.ok ? "true" : "false", r.connected ? "true" : "false",
        r.connected ? Ipv4ToString(r.address) : "",
        r.failed_in == Phase::kIdle && !r.connected ? 0.0 : Secs(s->client->started_at() - t_start_),
        Secs(r.t_ike), Secs(r.t_l2tp),
        Secs(r.t_connect), r.sent, r.received, JsonEscape(r.esp_suite),
        r.ok ? "" : PhaseName(r.failed_in), JsonEscape(r.failure));
    first = false;
  }
  j += "\n  ]\n}\n";
  std::ofstream f(opts_.json_path);
  f << j;
  if (!f) {
    std::fprintf(stderr, "clientsim: cannot write %s\n", opts_.json_path.c_str());
    return false;
  }
  return true;
}

}  // namespace vpn::clientsim

// Operations commands: `show metrics` (and the HTTP /metrics listener),
// `reload`, and `capture start|stop|status`.
#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "config_reload.h"
#include "control_server.h"
#include "daemon.h"
#include "metrics.h"
#include "vpn/log.h"

namespace vpn::cp {

namespace {

std::vector<std::string> PortNames(const config::Config& c) {
  std::vector<std::string> n;
  for (const config::Port& p : c.ports) n.push_back(p.name);
  return n;
}
}  // namespace

std::shared_ptr<const PppGeneration> Daemon::CurrentPppGeneration() {
  if (!ppp_gen_) {
    ppp_gen_ = std::make_shared<PppGeneration>();
    ppp_gen_->cfg = cfg_;
    ppp_gen_->auth = std::make_unique<ppp::LocalAuthenticator>(ppp_gen_->cfg);
  }
  return ppp_gen_;
}

void Daemon::RegisterOpsCommands() {
  ControlServer& c = *control_;
  capture_ = std::make_unique<CaptureManager>(loop_, seg_, *io_, PortNames(cfg_));
  if (!cfg_.metrics_listen.empty()) {
    metrics_http_ = std::make_unique<MetricsHttpServer>(loop_, [this] { return MetricsText(); });
    // Metrics are not worth refusing to serve VPN clients for: a busy port
    // is logged loudly and the rest starts.
    if (absl::Status s = metrics_http_->Listen(cfg_.metrics_ip, cfg_.metrics_port); !s.ok()) {
      VPN_LOG(control, kError, "metrics listener not started: %s", s.message());
      metrics_http_.reset();
    } else {
      VPN_LOG(control, kInfo, "metrics at http://%s:%d/metrics",
              config::FormatIpv4(cfg_.metrics_ip), metrics_http_->port());
    }
  }

  c.Register({"show", "metrics"}, "Prometheus text exposition of the concentrator",
             [this](const ControlRequest&) -> absl::StatusOr<std::string> {
               return MetricsText();
             });

  c.Register({"reload"}, "re-read the config file; apply what needs no restart",
             [this](const ControlRequest&) { return Reload(); });

  c.Register({"capture"},
             "start {port NAME [host IP] | session ID} [file PATH] [duration S] [count N] "
             "[snaplen N] [size BYTES] [rate PPS] [direction rx|tx|both] | stop [ID] | "
             "status [ID]",
             [this](const ControlRequest& r) { return CaptureCommand(r); });
}

// --- Metrics ---------------------------------------------------------------

std::string Daemon::MetricsText() {
  metrics::Writer w;
  using T = metrics::Writer::Type;
  metrics::AppendDataplane(seg_, PortNames(cfg_), &w);

  w.Family("vpn_controlplane_up", T::kGauge, "1 while the control plane answers");
  w.Sample({}, uint64_t(1));
  w.Family("vpn_ike_sas", T::kGauge, "IKE (phase 1) SAs");
  w.Sample({}, uint64_t(ike_->ike_sa_count()));
  w.Family("vpn_l2tp_tunnels", T::kGauge, "L2TP tunnels not closing");
  w.Sample({}, uint64_t(lns_->tunnel_count()));
  uint64_t up = 0;
  for (const auto& [id, cl] : clients_) up += cl.up.has_value();
  w.Family("vpn_ppp_sessions", T::kGauge, "PPP sessions by state");
  w.Sample({{"state", "up"}}, up);
  w.Sample({{"state", "negotiating"}}, uint64_t(clients_.size() - up));

  w.Family("vpn_pool_size", T::kGauge, "Addresses in a pool");
  for (const config::Pool& p : cfg_.pools) w.Sample({{"pool", p.name}}, uint64_t(p.last - p.first + 1));
  w.Family("vpn_pool_in_use", T::kGauge, "Addresses of a pool leased to sessions");
  for (const config::Pool& p : cfg_.pools) {
    uint64_t used = 0;
    for (uint32_t a = p.first; a <= p.last && a >= p.first; ++a) used += pools_->InUse(a);
    w.Sample({{"pool", p.name}}, used);
  }

  w.Family("vpn_controlplane_punts_total", T::kCounter,
           "Packets the control plane took from the punt rings, by kind");
  w.Sample({{"kind", "ike"}}, counters_.punts_ike);
  w.Sample({{"kind", "l2tp"}}, counters_.punts_l2tp);
  w.Sample({{"kind", "ppp"}}, counters_.punts_ppp);
  w.Sample({{"kind", "sa_event"}}, counters_.punts_sa_event);
  w.Sample({{"kind", "unhandled"}}, counters_.punts_unhandled);
  w.Sample({{"kind", "malformed"}}, counters_.punts_malformed);
  w.Family("vpn_sessions_up_total", T::kCounter, "PPP sessions that reached IPCP up");
  w.Sample({}, counters_.sessions_up);
  w.Family("vpn_sessions_down_total", T::kCounter, "PPP sessions that ended");
  w.Sample({}, counters_.sessions_down);
  w.Family("vpn_session_install_failures_total", T::kCounter,
           "Sessions the dataplane table could not take");
  w.Sample({}, counters_.session_install_failures);
  w.Family("vpn_inject_failures_total", T::kCounter,
           "Packets for the dataplane lost because the inject ring was full");
  w.Sample({}, io_->inject_failures());
  w.Family("vpn_inject_total", T::kCounter,
           "Packets for the dataplane by what happened to them (ring full: backlogged)");
#define X(name, help) w.Sample({{"result", #name}}, io_->inject_counters().name);
  VPN_INJECT_COUNTERS(X)
#undef X
  w.Family("vpn_inject_backlog", T::kGauge, "Packets waiting for room on the inject ring");
  w.Sample({}, io_->backlog());
  w.Family("vpn_config_reloads_total", T::kCounter, "vpnctl reload requests by result");
  w.Sample({{"result", "applied"}}, reloads_applied_);
  w.Sample({{"result", "refused"}}, reloads_refused_);
  AppendRadiusMetrics(&w);

  // Per session: the dataplane's counters of each session that is up.
  struct SessField {
    const char* name;
    const char* help;
    uint64_t shm::SessionCounters::*f;
  };
  const SessField sf[] = {
      {"vpn_session_rx_packets_total", "Packets from the client to the network",
       &shm::SessionCounters::rx_packets},
      {"vpn_session_rx_bytes_total", "Bytes from the client to the network",
       &shm::SessionCounters::rx_bytes},
      {"vpn_session_tx_packets_total", "Packets from the network to the client",
       &shm::SessionCounters::tx_packets},
      {"vpn_session_tx_bytes_total", "Bytes from the network to the client",
       &shm::SessionCounters::tx_bytes},
  };
  std::vector<std::pair<metrics::Labels, shm::SessionCounters>> rows;
  for (const auto& [id, cl] : clients_) {
    if (!cl.up || !cl.dp_session) continue;
    rows.push_back({{{"session", absl::StrCat(id)},
                     {"user", cl.up->user},
                     {"assigned_ip", config::FormatIpv4(cl.up->ip)}},
                    tables_->SumSessionCounters(cl.dp_session)});
  }
  for (const SessField& f : sf) {
    w.Family(f.name, T::kCounter, f.help);
    for (const auto& [labels, sc] : rows) w.Sample(labels, sc.*f.f);
  }
  return w.text();
}

// --- Reload ----------------------------------------------------------------

absl::StatusOr<std::string> Daemon::Reload() {
  absl::StatusOr<config::Config> next = config::ParseConfigFile(cfg_.path);
  if (!next.ok()) {
    ++reloads_refused_;
    VPN_LOG(config, kWarn, "reload refused, keeping the running config: %s",
            next.status().message());
    return absl::InvalidArgumentError(absl::StrCat(
        "config not reloaded (the running config stays): ", next.status().message()));
  }
  ReloadPlan plan = PlanReload(cfg_, *next);
  if (!plan.ok()) {
    ++reloads_refused_;
    const std::string why = absl::StrJoin(plan.refused, "; ");
    VPN_LOG(config, kWarn, "reload refused, keeping the running config: %s", why);
    return absl::FailedPreconditionError(
        absl::StrCat("config not reloaded (the running config stays): ", why));
  }
  // The steps that can still fail come first, so a failure leaves the
  // engines as they were.
  if (absl::Status s = pools_->AddPools(*next); !s.ok()) {
    ++reloads_refused_;
    return absl::FailedPreconditionError(absl::StrCat("config not reloaded: ", s.message()));
  }
  if (absl::Status s = ike_->Reconfigure(next->ike); !s.ok()) {
    ++reloads_refused_;
    return absl::FailedPreconditionError(absl::StrCat("config not reloaded: ", s.message()));
  }
  if (absl::Status s = lns_->Reconfigure(next->l2tp); !s.ok()) {
    ++reloads_refused_;
    return absl::FailedPreconditionError(absl::StrCat("config not reloaded: ", s.message()));
  }
  for (int i = 0; i < static_cast<int>(log::Subsystem::kCount); ++i) {
    const auto s = static_cast<log::Subsystem>(i);
    auto it = next->log_levels.find(s);
    log::SetLevel(s, it == next->log_levels.end() ? log::Level::kInfo : it->second);
  }
  // New PPP sessions use the new generation; running ones keep theirs.
  auto gen = std::make_shared<PppGeneration>();
  gen->cfg = *next;
  gen->auth = std::make_unique<ppp::LocalAuthenticator>(gen->cfg);
  ppp_gen_ = std::move(gen);
  cfg_ = std::move(*next);
  ++reloads_applied_;
  const std::string what =
      plan.changes.empty() ? std::string("no changes") : absl::StrJoin(plan.changes, "; ");
  VPN_LOG(config, kInfo, "config %s reloaded: %s", cfg_.path, what);
  return absl::StrCat("reloaded ", cfg_.path, ": ", what, "\n");
}

// --- Capture ---------------------------------------------------------------

absl::StatusOr<std::string> Daemon::CaptureCommand(const ControlRequest& r) {
  const std::vector<std::string>& w = r.words;
  auto info_text = [&](const CaptureInfo& c) {
    if (r.json) {
      return absl::StrFormat(
          "{\"id\": %d, \"running\": %s, \"file\": %s, \"what\": %s, \"packets\": %d, "
          "\"file_bytes\": %d, \"end_reason\": %s, \"stale\": %d}\n",
          c.id, c.running ? "true" : "false", JsonString(c.spec.path), JsonString(c.spec.description),
          c.packets, c.file_bytes, JsonString(c.end_reason), c.stale);
    }
    return absl::StrFormat("capture %d %s: %s -> %s, %d packets, %d bytes%s\n", c.id,
                           c.running ? "running" : "ended", c.spec.description, c.spec.path,
                           c.packets, c.file_bytes,
                           c.running ? "" : absl::StrCat(" (", c.end_reason, ")"));
  };
  uint32_t id = 0;
  if (!w.empty() && (w[0] == "stop" || w[0] == "status")) {
    if (w.size() > 2 || (w.size() == 2 && !absl::SimpleAtoi(w[1], &id)))
      return absl::InvalidArgumentError("usage: capture stop|status [ID]");
    if (w[0] == "stop") {
      if (absl::Status s = capture_->Stop(id, "stopped"); !s.ok()) return s;
    }
    std::optional<CaptureInfo> c = capture_->Info(id);
    if (!c) return absl::NotFoundError("no such capture");
    return info_text(*c);
  }
  if (w.empty() || w[0] != "start" || w.size() < 3) {
    return absl::InvalidArgumentError(
        "usage: capture start {port NAME [host IP] | session ID} [file PATH] [duration S] "
        "[count N] [snaplen N] [size BYTES] [rate PPS] [direction rx|tx|both]");
  }
  CaptureSpec spec;
  const std::vector<std::string>& ports = capture_->port_names();
  if (w[1] == "port") {
    for (size_t i = 0; i < ports.size(); ++i)
      if (ports[i] == w[2]) spec.port_mask |= 1u << i;
    if (!spec.port_mask) return absl::NotFoundError(absl::StrCat("no port named ", w[2]));
    spec.description = absl::StrCat("port ", w[2]);
  } else if (w[1] == "session") {
    uint64_t sid;
    auto it = absl::SimpleAtoi(w[2], &sid) ? clients_.find(sid) : clients_.end();
    if (it == clients_.end() || !it->second.up) {
      return absl::NotFoundError("no such session with an address (see show sessions)");
    }
    // The session's decrypted traffic crosses the LAN port(s) as IPv4 to or
    // from its assigned address.
    for (size_t i = 0; i < cfg_.ports.size() && i < 32; ++i)
      if (cfg_.ports[i].role == config::PortRole::kLan) spec.port_mask |= 1u << i;
    spec.ip = htonl(it->second.up->ip);
    spec.description = absl::StrFormat("session %d (%s, %s) inner traffic", sid,
                                       it->second.up->user, config::FormatIpv4(it->second.up->ip));
  } else {
    return absl::InvalidArgumentError("capture start port NAME | session ID");
  }
  for (size_t i = 3; i < w.size(); i += 2) {
    if (i + 1 >= w.size()) return absl::InvalidArgumentError(absl::StrCat(w[i], " needs a value"));
    const std::string& k = w[i];
    const std::string& v = w[i + 1];
    bool ok = true;
    if (k == "file") {
      spec.path = v;
    } else if (k == "host") {
      uint32_t ip;
      ok = config::ParseIpv4(v, &ip);
      spec.ip = htonl(ip);
      if (ok) absl::StrAppend(&spec.description, " host ", v);
    } else if (k == "duration") {
      ok = absl::SimpleAtoi(v, &spec.duration_s);
    } else if (k == "count") {
      ok = absl::SimpleAtoi(v, &spec.max_packets);
    } else if (k == "snaplen") {
      ok = absl::SimpleAtoi(v, &spec.snaplen);
    } else if (k == "size") {
      ok = absl::SimpleAtoi(v, &spec.max_bytes);
    } else if (k == "rate") {
      ok = absl::SimpleAtoi(v, &spec.max_pps);
    } else if (k == "direction") {
      spec.directions = v == "rx"   ? shm::kCaptureRx
                        : v == "tx" ? shm::kCaptureTx
                        : v == "both" ? (shm::kCaptureRx | shm::kCaptureTx) : 0;
      ok = spec.directions != 0;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown capture option ", k));
    }
    if (!ok) return absl::InvalidArgumentError(absl::StrCat("bad value for ", k, ": ", v));
  }
  if (spec.path.empty()) {
    spec.path = absl::StrFormat("/var/tmp/vpnconc-capture-%d.pcapng",
                                absl::ToUnixSeconds(absl::Now()));
  }
  absl::StatusOr<uint32_t> started = capture_->Start(std::move(spec));
  if (!started.ok()) return started.status();
  return info_text(*capture_->Info(*started));
}

}  // namespace vpn::cp

// RADIUS in the daemon: authentication through RadiusAuthenticator when
// [radius] authentication = true, accounting Start at IPCP up / Interim /
// Stop at session down with the dataplane's per-session counters, and the
// RFC 5176 Disconnect listener tearing sessions down (PPP Terminate, then
// the L2TP CDN when the PPP link closes).
#include <arpa/inet.h>

#include "daemon.h"
#include "metrics.h"
#include "vpn/log.h"

namespace vpn::cp {

absl::Status Daemon::StartRadius() {
  boot_time_ = uint32_t(absl::ToUnixSeconds(absl::Now()));
  const config::Radius& r = cfg_.radius;
  if (!r.enabled()) return absl::OkStatus();
  radius_client_ = std::make_unique<radius::Client>(loop_, r);
  if (absl::Status s = radius_client_->Open(); !s.ok()) return s;
  if (r.authentication) {
    if (!radius_client_->HasServer(radius::Service::kAuth)) {
      return absl::InvalidArgumentError(
          "radius: authentication = true but no server has an auth_port");
    }
    radius_auth_ = std::make_unique<radius::RadiusAuthenticator>(*radius_client_, cfg_);
  }
  if (r.accounting && radius_client_->HasServer(radius::Service::kAcct)) {
    radius_acct_ = std::make_unique<radius::Accounting>(loop_, *radius_client_, r);
  }
  if (r.dae_port) {
    radius_dae_ = std::make_unique<radius::DaeServer>(
        loop_, r, [this](const radius::DisconnectRequest& d) { return RadiusDisconnect(d); });
    if (absl::Status s = radius_dae_->Open(); !s.ok()) return s;
  }
  VPN_LOG(auth, kInfo, "radius: %d server(s); authentication %s, accounting %s, Disconnect %s",
          r.servers.size(), radius_auth_ ? "on" : "off (local users)",
          radius_acct_ ? "on" : "off",
          radius_dae_ ? absl::StrFormat("on port %d", radius_dae_->port()) : "off");
  return absl::OkStatus();
}

void Daemon::RadiusSessionUp(ClientRecord& c) {
  std::optional<radius::Grant> grant;
  if (radius_auth_) grant = radius_auth_->TakeGrant(c.peer);
  if (!radius_acct_ || !c.up) return;
  // Unique per NAS across restarts: boot time, then our client number.
  c.acct_session_id = absl::StrFormat("%08X%08X", boot_time_, c.id);
  radius::AcctSession s;
  s.session_id = c.acct_session_id;
  s.user_name = grant && !grant->user_name.empty() ? grant->user_name : c.up->user_name_as_sent;
  s.framed_ip = c.up->ip;
  s.calling_station = config::FormatIpv4(ntohl(c.l2tp.peer_ip));
  s.nas_port_id = c.peer;
  if (grant) s.classes = grant->classes;
  s.radius_authenticated = radius_auth_ != nullptr;
  const uint64_t id = c.id;
  radius_acct_->Start(
      id, std::move(s),
      [this, id]() -> radius::Usage {
        auto it = clients_.find(id);
        if (it == clients_.end() || it->second.dp_session == 0) return {};
        const shm::SessionCounters n = tables_->SumSessionCounters(it->second.dp_session);
        // rx = from the client = the NAS's input (RFC 2866 5.3).
        return radius::Usage{n.rx_bytes, n.tx_bytes, n.rx_packets, n.tx_packets};
      },
      grant ? grant->interim_interval_s : std::nullopt);
}

void Daemon::RadiusSessionDown(ClientRecord& c, std::string_view reason) {
  if (radius_auth_) radius_auth_->Forget(c.peer);
  if (!radius_acct_ || !radius_acct_->Active(c.id)) return;
  radius::Usage u;
  if (c.dp_session) {
    const shm::SessionCounters n = tables_->SumSessionCounters(c.dp_session);
    u = radius::Usage{n.rx_bytes, n.tx_bytes, n.rx_packets, n.tx_packets};
  }
  const uint32_t cause = c.terminate_cause ? c.terminate_cause : radius::TerminateCauseFor(reason);
  radius_acct_->Stop(c.id, cause, u);
}

int Daemon::RadiusDisconnect(const radius::DisconnectRequest& d) {
  // RFC 5176 3: every identification attribute given must match.
  std::vector<uint64_t> victims;
  for (const auto& [id, c] : clients_) {
    if (!c.up || !c.ppp) continue;
    if (d.acct_session_id && *d.acct_session_id != c.acct_session_id) continue;
    if (d.user_name && *d.user_name != c.up->user && *d.user_name != c.up->user_name_as_sent) {
      continue;
    }
    if (d.framed_ip && *d.framed_ip != c.up->ip) continue;
    if (d.calling_station && *d.calling_station != config::FormatIpv4(ntohl(c.l2tp.peer_ip))) {
      continue;
    }
    victims.push_back(id);
  }
  for (uint64_t id : victims) {
    auto it = clients_.find(id);
    if (it == clients_.end() || !it->second.ppp) continue;
    it->second.terminate_cause = radius::kTermAdminReset;
    VPN_LOG(auth, kInfo, "%s: user %s disconnected by RADIUS Disconnect-Request from %s",
            it->second.peer, it->second.up->user, d.from);
    // LCP Terminate-Request; the closing PPP link makes L2TP send the CDN.
    it->second.ppp->Disconnect("RADIUS Disconnect-Request");
  }
  return int(victims.size());
}

// Prometheus families of the RADIUS client (none when [radius] is off):
// what an operator watches for a failing server (timeouts, failovers),
// authentication results and the accounting queue.
void Daemon::AppendRadiusMetrics(metrics::Writer* w) {
  if (!radius_client_) return;
  using T = metrics::Writer::Type;
  const radius::ClientCounters& c = radius_client_->counters();
  w->Family("vpn_radius_client_events_total", T::kCounter,
            "RADIUS client requests, transmissions and server trouble");
  const std::pair<const char*, uint64_t> ev[] = {
      {"requests", c.requests},         {"transmissions", c.transmissions},
      {"retransmissions", c.retransmissions}, {"replies", c.replies},
      {"bad_replies", c.bad_replies},   {"unmatched_replies", c.unmatched_replies},
      {"server_timeouts", c.server_timeouts}, {"failovers", c.failovers},
      {"failures", c.failures},         {"socket_errors", c.socket_errors}};
  for (const auto& [name, v] : ev) w->Sample({{"event", name}}, v);
  if (radius_auth_) {
    const radius::AuthCounters& a = radius_auth_->counters();
    w->Family("vpn_radius_auth_total", T::kCounter, "RADIUS authentication results");
    w->Sample({{"result", "accept"}}, a.accepts);
    w->Sample({{"result", "reject"}}, a.rejects);
    w->Sample({{"result", "challenge"}}, a.challenges);
    w->Sample({{"result", "unavailable"}}, a.unavailable);
    w->Sample({{"result", "malformed_accept"}}, a.malformed_accepts);
  }
  if (radius_acct_) {
    const radius::AcctCounters& a = radius_acct_->counters();
    w->Family("vpn_radius_acct_records_total", T::kCounter, "RADIUS accounting records by fate");
    w->Sample({{"record", "start"}}, a.starts);
    w->Sample({{"record", "interim"}}, a.interims);
    w->Sample({{"record", "stop"}}, a.stops);
    w->Sample({{"record", "acknowledged"}}, a.acknowledged);
    w->Sample({{"record", "dropped_expired"}}, a.dropped_expired);
    w->Sample({{"record", "dropped_overflow"}}, a.dropped_overflow);
    w->Family("vpn_radius_acct_queued", T::kGauge, "Accounting records waiting for a server");
    w->Sample({}, uint64_t(radius_acct_->queued()));
  }
  if (radius_dae_) {
    const radius::DaeCounters& d = radius_dae_->counters();
    w->Family("vpn_radius_disconnect_total", T::kCounter, "RFC 5176 Disconnect-Requests");
    w->Sample({{"result", "ack"}}, d.acks);
    w->Sample({{"result", "nak"}}, d.naks);
    w->Sample({{"result", "bad_authenticator"}}, d.bad_authenticator);
    w->Sample({{"result", "unknown_client"}}, d.unknown_client);
  }
}

}  // namespace vpn::cp

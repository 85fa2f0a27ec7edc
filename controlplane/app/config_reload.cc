#include "config_reload.h"

#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vpn::cp {
namespace {

// Field-by-field views for comparison. A field added to config.h must be
// added here too, or a change of it is silently "applied" to new sessions
// only; config_reload_test.cc lists each restart-only field.
auto Key(const config::Port& p) {
  return std::tie(p.name, p.role, p.device, p.address, p.prefix_len, p.gateway, p.mtu,
                  p.rx_queues, p.proxy_arp);
}
auto Key(const config::Route& r) {
  return std::make_tuple(r.prefix.addr, r.prefix.len, r.via, std::cref(r.port));
}
auto Key(const config::Dataplane& d) {
  return std::tie(d.workers, d.worker_lcores, d.main_lcore, d.eal_args, d.no_huge, d.memory_mb,
                  d.mbufs, d.max_sas, d.max_sessions, d.replay_window, d.require_ipsec,
                  d.tcp_mss_clamp, d.esp_fragments, d.telemetry_prefix);
}
auto Key(const config::User& u) {
  return std::tie(u.name, u.password, u.nt_hash, u.group, u.static_ip);
}
auto Key(const config::Group& g) {
  return std::tie(g.name, g.pool, g.dns, g.wins, g.auth, g.idle_timeout_s, g.session_timeout_s,
                  g.max_sessions_per_user, g.strip_group);
}
auto Key(const config::IkePeer& p) { return std::tie(p.id, p.psk, p.auth); }
auto Key(const config::Ike& i) {
  return std::make_tuple(std::cref(i.psk), std::cref(i.proposals), std::cref(i.esp_proposals),
                         i.lifetime_s, i.esp_lifetime_s, i.esp_lifetime_kb, i.min_lifetime_s,
                         i.allow_aggressive, i.allow_weak_esp, i.sha256_96, i.pfs_required,
                         i.dpd_interval_s, i.dpd_timeout_s, i.nat_keepalive_s,
                         i.half_open_per_source, i.half_open_total, i.half_open_timeout_s,
                         i.fragment_size);
}
auto Key(const config::L2tp& l) {
  return std::tie(l.hello_interval_s, l.retransmit_initial_ms, l.retransmit_max_ms,
                  l.retransmit_count, l.receive_window, l.tunnel_secret, l.hostname,
                  l.max_tunnels_per_client, l.max_sessions_per_tunnel);
}
auto Key(const config::RadiusServer& s) {
  return std::tie(s.address, s.auth_port, s.acct_port, s.secret);
}
auto Key(const config::Radius& r) {
  return std::tie(r.authentication, r.accounting, r.nas_identifier, r.nas_ip, r.timeout_ms,
                  r.retries, r.dead_time_s, r.interim_interval_s, r.acct_max_age_s,
                  r.acct_queue_max, r.dae_port, r.dae_address, r.require_message_authenticator);
}
auto Key(const config::Ppp& p) {
  return std::tie(p.mtu, p.lcp_echo_interval_s, p.lcp_echo_failures, p.auth_failure_delay_ms,
                  p.restart_timer_ms, p.max_configure, p.max_terminate, p.max_failure,
                  p.local_ip);
}

template <typename T>
bool SameList(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (Key(a[i]) != Key(b[i])) return false;
  return true;
}

}  // namespace

ReloadPlan PlanReload(const config::Config& run, const config::Config& next) {
  ReloadPlan p;
  auto refuse = [&](const std::string& what, const char* restart) {
    p.refused.push_back(absl::StrCat(what, " changed: needs a restart of ", restart));
  };
  const char* kCp = "vpn-controlplane";
  const char* kBoth = "both processes (vpn-dataplane, then vpn-controlplane)";
  if (run.shm_name != next.shm_name) refuse("shm_name", kBoth);
  if (run.control_socket != next.control_socket) refuse("control_socket", kCp);
  if (run.metrics_listen != next.metrics_listen) refuse("metrics_listen", kCp);
  if (run.source_nat != next.source_nat) refuse("source_nat", kBoth);
  if (Key(run.dataplane) != Key(next.dataplane)) refuse("[dataplane]", kBoth);
  if (!SameList(run.ports, next.ports)) refuse("[[port]]", kBoth);
  if (!SameList(run.routes, next.routes)) refuse("[[route]]", kBoth);
  if (run.ppp.local_ip != next.ppp.local_ip) refuse("[ppp] local_ip", kCp);
  // The RADIUS client's sockets, secrets and accounting queue are built once.
  if (Key(run.radius) != Key(next.radius) || !SameList(run.radius.servers, next.radius.servers)) {
    refuse("[radius]", kCp);
  }
  if (run.l2tp.tunnel_secret != next.l2tp.tunnel_secret) refuse("[l2tp] tunnel_secret", kCp);
  if (run.ike.ca_file != next.ike.ca_file || run.ike.cert_file != next.ike.cert_file ||
      run.ike.key_file != next.ike.key_file) {
    refuse("[ike] certificate files", kCp);
  }
  std::vector<std::string> added;
  for (const config::Pool& np : next.pools) {
    const config::Pool* op = nullptr;
    for (const config::Pool& o : run.pools)
      if (o.name == np.name) op = &o;
    if (!op) {
      added.push_back(np.name);
    } else if (op->first != np.first || op->last != np.last) {
      refuse(absl::StrCat("[[pool]] ", np.name, " range"), kCp);
    }
  }
  for (const config::Pool& op : run.pools) {
    bool kept = false;
    for (const config::Pool& n : next.pools) kept |= n.name == op.name;
    if (!kept) {
      p.refused.push_back(absl::StrCat("[[pool]] ", op.name,
                                       " removed: sessions may hold its addresses; needs a "
                                       "restart of vpn-controlplane"));
    }
  }

  if (run.log_levels != next.log_levels) p.changes.push_back("log levels");
  if (!SameList(run.users, next.users)) p.changes.push_back("users (new logins)");
  if (!SameList(run.groups, next.groups)) p.changes.push_back("groups (new sessions)");
  if (Key(run.ppp) != Key(next.ppp)) p.changes.push_back("[ppp] options (new sessions)");
  if (!added.empty()) p.changes.push_back(absl::StrCat("pools added: ", absl::StrJoin(added, ", ")));
  if (Key(run.ike) != Key(next.ike) || !SameList(run.ike.peers, next.ike.peers)) {
    p.changes.push_back("[ike] keys/proposals/timers (new negotiations)");
  }
  if (Key(run.l2tp) != Key(next.l2tp)) p.changes.push_back("[l2tp] timers (new tunnels)");
  return p;
}

}  // namespace vpn::cp

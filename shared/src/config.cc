// TOML configuration parsing and validation (docs/config.md).
// toml++ is used without exceptions so the dataplane can link this file.
#include "vpn/config.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "config_charset.h"
#include "config_reader.h"

namespace vpn::config {
namespace {

absl::Status ParsePort(Reader& r, const toml::table& t, Config& c) {
  Port p;
  p.line = r.Line(t);
  VPN_RETURN_IF_ERROR(r.CheckKeys(t, "port", {"name", "role", "device", "address", "gateway", "mtu",
                                     "rx_queues", "proxy_arp"}));
  VPN_RETURN_IF_ERROR(r.GetString(t, "name", &p.name, /*required=*/true));
  std::string role;
  VPN_RETURN_IF_ERROR(r.GetString(t, "role", &role, true));
  if (role == "wan") {
    p.role = PortRole::kWan;
  } else if (role == "lan") {
    p.role = PortRole::kLan;
  } else {
    return r.Error(t["role"].node(), "port role must be \"wan\" or \"lan\"");
  }
  VPN_RETURN_IF_ERROR(r.GetString(t, "device", &p.device, true));
  Ipv4Prefix addr;
  VPN_RETURN_IF_ERROR(r.GetPrefix(t, "address", &addr, true));
  p.address = addr.addr;
  p.prefix_len = addr.len;
  if (p.prefix_len == 0 || p.prefix_len > 30) {
    return r.Error(t["address"].node(), "port address needs a prefix length 1..30, e.g. 198.18.0.1/24");
  }
  VPN_RETURN_IF_ERROR(r.GetIpv4(t, "gateway", &p.gateway));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "mtu", &p.mtu, 576, 9000));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "rx_queues", &p.rx_queues, 1, 64));
  VPN_RETURN_IF_ERROR(r.GetBool(t, "proxy_arp", &p.proxy_arp));
  for (const Port& o : c.ports) {
    if (o.name == p.name) return r.Error(t, "duplicate port name \"" + p.name + "\"");
  }
  c.ports.push_back(std::move(p));
  return absl::OkStatus();
}

absl::Status ParseDataplane(Reader& r, const toml::table& t, Dataplane& d) {
  VPN_RETURN_IF_ERROR(r.CheckKeys(t, "dataplane",
                         {"workers", "worker_lcores", "main_lcore", "eal_args", "no_huge",
                          "memory_mb", "mbufs", "max_sas", "max_sessions", "replay_window",
                          "require_ipsec", "tcp_mss_clamp", "esp_fragments", "file_prefix",
                          "fragment_timeout_ms", "fragment_table_size",
                          "fragment_max_datagram", "icmp_error_rate", "icmp_error_burst"}));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "workers", &d.workers, 1, 16));
  VPN_RETURN_IF_ERROR(r.GetUintList(t, "worker_lcores", &d.worker_lcores, 0, 1023));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "main_lcore", &d.main_lcore, 0, 1023));
  VPN_RETURN_IF_ERROR(r.GetStringList(t, "eal_args", &d.eal_args));
  VPN_RETURN_IF_ERROR(r.GetBool(t, "no_huge", &d.no_huge));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "memory_mb", &d.memory_mb, 64, 1 << 20));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "mbufs", &d.mbufs, 1024, 1 << 24));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "max_sas", &d.max_sas, 16, (1u << 20) - 1));
  // Sessions are bounded like SAs (each needs at least one): 2^20 - 1.
  VPN_RETURN_IF_ERROR(r.GetUint(t, "max_sessions", &d.max_sessions, 16, (1u << 20) - 1));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "replay_window", &d.replay_window, 0, 4096));
  VPN_RETURN_IF_ERROR(r.GetBool(t, "require_ipsec", &d.require_ipsec));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "tcp_mss_clamp", &d.tcp_mss_clamp, 0, 9000));
  VPN_RETURN_IF_ERROR(r.GetString(t, "file_prefix", &d.telemetry_prefix));
  std::string frag = "reassemble";
  VPN_RETURN_IF_ERROR(r.GetString(t, "esp_fragments", &frag));
  if (frag == "reassemble") {
    d.esp_fragments = FragmentPolicy::kReassemble;
  } else if (frag == "drop") {
    d.esp_fragments = FragmentPolicy::kDrop;
  } else {
    return r.Error(t["esp_fragments"].node(), "esp_fragments must be \"reassemble\" or \"drop\"");
  }
  // Reassembly and ICMP limits (docs/config.md "Fragments", "ICMP errors").
  VPN_RETURN_IF_ERROR(r.GetUint(t, "fragment_timeout_ms", &d.fragment_timeout_ms, 10, 60000));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "fragment_table_size", &d.fragment_table_size, 0, 65536));
  if (d.fragment_table_size != 0 && d.fragment_table_size < 16)
    return r.Error(t["fragment_table_size"].node(),
                   "fragment_table_size must be 0 (derived from mbufs) or at least 16");
  // 576: every IPv4 host must accept it (RFC 791); 9216: jumbo frames.
  VPN_RETURN_IF_ERROR(
      r.GetUint(t, "fragment_max_datagram", &d.fragment_max_datagram, 576, 9216));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "icmp_error_rate", &d.icmp_error_rate, 0, 1000000));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "icmp_error_burst", &d.icmp_error_burst, 1, 1000000));
  if (!t.contains("workers") && !d.worker_lcores.empty()) {
    d.workers = static_cast<uint32_t>(d.worker_lcores.size());
  }
  if (!d.worker_lcores.empty() && d.worker_lcores.size() != d.workers) {
    return r.Error(t["worker_lcores"].node(), "worker_lcores must list exactly `workers` lcores");
  }
  // Each entry may hold up to 8 fragments (RTE_LIBRTE_IP_FRAG_MAX_FRAG): a
  // flood of incomplete datagrams must not be able to pin more than half of
  // the packet buffers, or forwarding stops until they expire.
  if (d.fragment_table_size != 0 &&
      uint64_t(d.fragment_table_size) * 8 * d.workers > d.mbufs / 2) {
    return r.Error(t["fragment_table_size"].node(),
                   absl::StrCat("fragment_table_size = ", d.fragment_table_size, " x 8 fragments x ",
                                d.workers, " workers would pin more than half of mbufs (",
                                d.mbufs, ")"));
  }
  return absl::OkStatus();
}

absl::Status ParseIke(Reader& r, const toml::table& t, Ike& k) {
  VPN_RETURN_IF_ERROR(r.CheckKeys(
      t, "ike",
      {"psk", "peer", "proposals", "esp_proposals", "lifetime", "esp_lifetime", "esp_lifetime_kb",
       "min_lifetime", "allow_aggressive", "allow_weak_esp", "sha256_96", "pfs_required",
       "dpd_interval", "dpd_timeout", "nat_keepalive", "half_open_per_source", "half_open_total",
       "half_open_timeout", "ca_file", "cert_file", "key_file", "fragment_size"}));
  k.line = r.Line(t);
  VPN_RETURN_IF_ERROR(r.GetSecret(t, "psk", &k.psk));
  VPN_RETURN_IF_ERROR(r.GetStringList(t, "proposals", &k.proposals));
  VPN_RETURN_IF_ERROR(r.GetStringList(t, "esp_proposals", &k.esp_proposals));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "lifetime", &k.lifetime_s, 60, 86400 * 7));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "esp_lifetime", &k.esp_lifetime_s, 60, 86400 * 7));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "esp_lifetime_kb", &k.esp_lifetime_kb, 0, uint64_t(1) << 40));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "min_lifetime", &k.min_lifetime_s, 0, 86400));
  VPN_RETURN_IF_ERROR(r.GetBool(t, "allow_aggressive", &k.allow_aggressive));
  VPN_RETURN_IF_ERROR(r.GetBool(t, "allow_weak_esp", &k.allow_weak_esp));
  VPN_RETURN_IF_ERROR(r.GetBool(t, "sha256_96", &k.sha256_96));
  VPN_RETURN_IF_ERROR(r.GetBool(t, "pfs_required", &k.pfs_required));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "dpd_interval", &k.dpd_interval_s, 0, 3600));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "dpd_timeout", &k.dpd_timeout_s, 1, 86400));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "nat_keepalive", &k.nat_keepalive_s, 0, 3600));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "half_open_per_source", &k.half_open_per_source, 1, 1 << 20));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "half_open_total", &k.half_open_total, 1, 1 << 24));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "half_open_timeout", &k.half_open_timeout_s, 1, 3600));
  VPN_RETURN_IF_ERROR(r.GetPath(t, "ca_file", &k.ca_file));
  VPN_RETURN_IF_ERROR(r.GetPath(t, "cert_file", &k.cert_file));
  VPN_RETURN_IF_ERROR(r.GetPath(t, "key_file", &k.key_file));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "fragment_size", &k.fragment_size, 0, 65535));
  if (k.fragment_size != 0 && k.fragment_size < 576)
    return r.Error(t["fragment_size"].node(), "fragment_size must be 0 (off) or at least 576");
  for (const std::string& p : k.proposals) {
    if (absl::Status s = ValidateIkeProposal(p); !s.ok())
      return r.Error(t["proposals"].node(), std::string(s.message()));
  }
  for (const std::string& p : k.esp_proposals) {
    if (absl::Status s = ValidateEspProposal(p); !s.ok())
      return r.Error(t["esp_proposals"].node(), std::string(s.message()));
  }
  if (const toml::array* peers = t["peer"].as_array()) {
    for (const toml::node& n : *peers) {
      const toml::table* pt = n.as_table();
      if (!pt) return r.Error(n, "[[ike.peer]] entries must be tables");
      VPN_RETURN_IF_ERROR(r.CheckKeys(*pt, "ike.peer", {"id", "psk", "auth"}));
      IkePeer peer;
      peer.line = r.Line(*pt);
      VPN_RETURN_IF_ERROR(r.GetString(*pt, "id", &peer.id, true));
      std::string auth = "psk";
      VPN_RETURN_IF_ERROR(r.GetString(*pt, "auth", &auth));
      if (auth == "cert") peer.auth = IkeAuth::kCert;
      else if (auth != "psk")
        return r.Error((*pt)["auth"].node(), "ike.peer auth must be \"psk\" or \"cert\"");
      VPN_RETURN_IF_ERROR(r.GetSecret(*pt, "psk", &peer.psk, peer.auth == IkeAuth::kPsk));
      k.peers.push_back(std::move(peer));
    }
  } else if (t.contains("peer")) {
    return r.Error(t["peer"].node(), "ike.peer must be an array of tables ([[ike.peer]])");
  }
  return absl::OkStatus();
}

absl::Status ParseL2tp(Reader& r, const toml::table& t, L2tp& l) {
  VPN_RETURN_IF_ERROR(r.CheckKeys(t, "l2tp",
                         {"hello_interval", "retransmit_initial_ms", "retransmit_max_ms",
                          "retransmit_count", "receive_window", "tunnel_secret", "hostname",
                          "max_tunnels_per_client", "max_sessions_per_tunnel"}));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "hello_interval", &l.hello_interval_s, 0, 3600));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "retransmit_initial_ms", &l.retransmit_initial_ms, 100, 60000));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "retransmit_max_ms", &l.retransmit_max_ms, 100, 600000));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "retransmit_count", &l.retransmit_count, 1, 100));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "receive_window", &l.receive_window, 1, 1024));
  VPN_RETURN_IF_ERROR(r.GetSecret(t, "tunnel_secret", &l.tunnel_secret));
  VPN_RETURN_IF_ERROR(r.GetString(t, "hostname", &l.hostname));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "max_tunnels_per_client", &l.max_tunnels_per_client, 1, 1024));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "max_sessions_per_tunnel", &l.max_sessions_per_tunnel, 1, 65535));
  return absl::OkStatus();
}

absl::Status ParsePpp(Reader& r, const toml::table& t, Ppp& p) {
  VPN_RETURN_IF_ERROR(r.CheckKeys(t, "ppp",
                         {"mtu", "local_ip", "lcp_echo_interval", "lcp_echo_failures",
                          "auth_failure_delay_ms", "restart_timer_ms", "max_configure",
                          "max_terminate", "max_failure"}));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "mtu", &p.mtu, 576, 1500));
  VPN_RETURN_IF_ERROR(r.GetIpv4(t, "local_ip", &p.local_ip));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "lcp_echo_interval", &p.lcp_echo_interval_s, 0, 3600));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "lcp_echo_failures", &p.lcp_echo_failures, 1, 100));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "auth_failure_delay_ms", &p.auth_failure_delay_ms, 0, 60000));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "restart_timer_ms", &p.restart_timer_ms, 100, 60000));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "max_configure", &p.max_configure, 1, 100));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "max_terminate", &p.max_terminate, 1, 100));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "max_failure", &p.max_failure, 1, 100));
  return absl::OkStatus();
}

absl::Status ParsePool(Reader& r, const toml::table& t, Config& c) {
  VPN_RETURN_IF_ERROR(r.CheckKeys(t, "pool", {"name", "range"}));
  Pool p;
  p.line = r.Line(t);
  VPN_RETURN_IF_ERROR(r.GetString(t, "name", &p.name, true));
  std::string range;
  VPN_RETURN_IF_ERROR(r.GetString(t, "range", &range, true));
  if (!ParseRange(range, &p.first, &p.last)) {
    return r.Error(t["range"].node(),
                   "pool range must look like 192.168.0.1-192.168.0.31 or 192.168.0.1-31");
  }
  if (p.first > p.last) {
    return r.Error(t["range"].node(), "pool range \"" + range + "\" is reversed (first > last)");
  }
  if (p.last - p.first > 1u << 20) {
    return r.Error(t["range"].node(), "pool range larger than 2^20 addresses");
  }
  for (const Pool& o : c.pools) {
    if (o.name == p.name) return r.Error(t, "duplicate pool name \"" + p.name + "\"");
    if (p.first <= o.last && o.first <= p.last) {
      return r.Error(t["range"].node(), "pool \"" + p.name + "\" overlaps pool \"" + o.name + "\"");
    }
  }
  c.pools.push_back(std::move(p));
  return absl::OkStatus();
}

absl::Status ParseGroup(Reader& r, const toml::table& t, Config& c) {
  VPN_RETURN_IF_ERROR(r.CheckKeys(t, "group",
                         {"name", "pool", "dns", "wins", "auth", "idle_timeout", "session_timeout",
                          "max_sessions_per_user", "strip_group"}));
  Group g;
  g.line = r.Line(t);
  VPN_RETURN_IF_ERROR(r.GetString(t, "name", &g.name, true));
  VPN_RETURN_IF_ERROR(r.GetString(t, "pool", &g.pool));
  VPN_RETURN_IF_ERROR(r.GetIpv4List(t, "dns", &g.dns, 2));
  VPN_RETURN_IF_ERROR(r.GetIpv4List(t, "wins", &g.wins, 2));
  if (t.contains("auth")) {
    std::vector<std::string> methods;
    VPN_RETURN_IF_ERROR(r.GetStringList(t, "auth", &methods));
    g.auth.clear();
    for (const std::string& m : methods) {
      AuthMethod am;
      if (!ParseAuthMethod(m, &am)) {
        return r.Error(t["auth"].node(), "unknown auth method \"" + m +
                                             "\" (pap, chap, mschap, mschapv2, eap-md5)");
      }
      g.auth.push_back(am);
    }
    if (g.auth.empty()) return r.Error(t["auth"].node(), "auth must name at least one method");
  }
  VPN_RETURN_IF_ERROR(r.GetUint(t, "idle_timeout", &g.idle_timeout_s, 0, 86400 * 30));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "session_timeout", &g.session_timeout_s, 0, 86400 * 365));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "max_sessions_per_user", &g.max_sessions_per_user, 0, 65535));
  VPN_RETURN_IF_ERROR(r.GetBool(t, "strip_group", &g.strip_group));
  for (const Group& o : c.groups) {
    if (o.name == g.name) return r.Error(t, "duplicate group name \"" + g.name + "\"");
  }
  c.groups.push_back(std::move(g));
  return absl::OkStatus();
}

absl::Status ParseUser(Reader& r, const toml::table& t, Config& c) {
  VPN_RETURN_IF_ERROR(r.CheckKeys(t, "user", {"name", "password", "nt_hash", "group", "static_ip"}));
  User u;
  u.line = r.Line(t);
  VPN_RETURN_IF_ERROR(r.GetString(t, "name", &u.name, true));
  VPN_RETURN_IF_ERROR(r.GetSecret(t, "password", &u.password));
  VPN_RETURN_IF_ERROR(r.GetSecret(t, "nt_hash", &u.nt_hash));
  VPN_RETURN_IF_ERROR(r.GetString(t, "group", &u.group));
  VPN_RETURN_IF_ERROR(r.GetIpv4(t, "static_ip", &u.static_ip));
  if (u.password.empty() == u.nt_hash.empty()) {
    return r.Error(t, "user \"" + u.name + "\" needs exactly one of password or nt_hash");
  }
  if (!u.nt_hash.empty()) {
    bool hex = u.nt_hash.size() == 32;
    for (char ch : u.nt_hash) hex &= std::isxdigit(static_cast<unsigned char>(ch)) != 0;
    if (!hex) return r.Error(t["nt_hash"].node(), "nt_hash must be 32 hex digits (MD4 of UTF-16LE password)");
  }
  for (const User& o : c.users) {
    if (o.name == u.name) return r.Error(t, "duplicate user \"" + u.name + "\"");
  }
  c.users.push_back(std::move(u));
  return absl::OkStatus();
}

absl::Status ParseRadius(Reader& r, const toml::table& t, Radius& rad) {
  VPN_RETURN_IF_ERROR(r.CheckKeys(
      t, "radius",
      {"server", "authentication", "accounting", "nas_identifier", "nas_ip", "timeout_ms",
       "retries", "dead_time", "interim_interval", "acct_max_age", "acct_queue_max", "dae_port",
       "dae_address", "require_message_authenticator"}));
  rad.line = r.Line(t);
  VPN_RETURN_IF_ERROR(r.GetBool(t, "authentication", &rad.authentication));
  VPN_RETURN_IF_ERROR(r.GetBool(t, "accounting", &rad.accounting));
  VPN_RETURN_IF_ERROR(r.GetString(t, "nas_identifier", &rad.nas_identifier));
  VPN_RETURN_IF_ERROR(r.GetIpv4(t, "nas_ip", &rad.nas_ip));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "timeout_ms", &rad.timeout_ms, 10, 60000));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "retries", &rad.retries, 0, 20));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "dead_time", &rad.dead_time_s, 0, 3600));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "interim_interval", &rad.interim_interval_s, 0, 86400));
  if (rad.interim_interval_s != 0 && rad.interim_interval_s < 10) {
    return r.Error(t["interim_interval"].node(), "interim_interval must be 0 or at least 10 s");
  }
  VPN_RETURN_IF_ERROR(r.GetUint(t, "acct_max_age", &rad.acct_max_age_s, 1, 86400 * 7));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "acct_queue_max", &rad.acct_queue_max, 16, 1u << 24));
  VPN_RETURN_IF_ERROR(r.GetUint(t, "dae_port", &rad.dae_port, 0, 65535));
  VPN_RETURN_IF_ERROR(r.GetIpv4(t, "dae_address", &rad.dae_address));
  VPN_RETURN_IF_ERROR(
      r.GetBool(t, "require_message_authenticator", &rad.require_message_authenticator));
  if (rad.nas_identifier.size() > 253) {
    return r.Error(t["nas_identifier"].node(), "nas_identifier longer than 253 octets");
  }
  const toml::array* servers = t["server"].as_array();
  if (t.contains("server") && !servers) {
    return r.Error(t["server"].node(), "radius.server must be an array of tables ([[radius.server]])");
  }
  if (servers) {
    for (const toml::node& n : *servers) {
      const toml::table* st = n.as_table();
      if (!st) return r.Error(n, "[[radius.server]] entries must be tables");
      VPN_RETURN_IF_ERROR(
          r.CheckKeys(*st, "radius.server", {"address", "secret", "auth_port", "acct_port"}));
      RadiusServer s;
      s.line = r.Line(*st);
      VPN_RETURN_IF_ERROR(r.GetIpv4(*st, "address", &s.address, true));
      VPN_RETURN_IF_ERROR(r.GetSecret(*st, "secret", &s.secret, true));
      VPN_RETURN_IF_ERROR(r.GetUint(*st, "auth_port", &s.auth_port, 0, 65535));
      VPN_RETURN_IF_ERROR(r.GetUint(*st, "acct_port", &s.acct_port, 0, 65535));
      if (s.secret.empty()) return r.Error(*st, "radius server secret must not be empty");
      if (s.auth_port == 0 && s.acct_port == 0) {
        return r.Error(*st, "radius server needs an auth_port or an acct_port");
      }
      rad.servers.push_back(std::move(s));
    }
  }
  if (rad.servers.empty()) {
    return r.Error(t, "[radius] needs at least one [[radius.server]]");
  }
  return absl::OkStatus();
}

template <typename Fn>
absl::Status ForEachTable(Reader& r, const toml::table& root, const char* key, Fn fn) {
  const toml::node_view<const toml::node> v = root[key];
  if (!v) return absl::OkStatus();
  const toml::array* arr = v.as_array();
  if (!arr) return r.Error(v.node(), std::string(key) + " must be an array of tables ([[" + key + "]])");
  for (const toml::node& n : *arr) {
    const toml::table* t = n.as_table();
    if (!t) return r.Error(n, std::string("[[") + key + "]] entries must be tables");
    VPN_RETURN_IF_ERROR(fn(*t));
  }
  return absl::OkStatus();
}

absl::Status ParseDocument(Reader& r, const toml::table& root, Config& c, bool is_secrets) {
  if (is_secrets) {
    VPN_RETURN_IF_ERROR(r.CheckKeys(root, "secrets file", {"ike", "user", "l2tp"}));
  } else {
    VPN_RETURN_IF_ERROR(r.CheckKeys(root, "top level",
                           {"shm_name", "control_socket", "metrics_listen", "source_nat", "secrets_file", "log",
                            "dataplane", "port", "route", "ike", "l2tp", "ppp", "pool", "group",
                            "user", "radius"}));
    VPN_RETURN_IF_ERROR(r.GetString(root, "shm_name", &c.shm_name));
    VPN_RETURN_IF_ERROR(r.GetString(root, "control_socket", &c.control_socket));
    VPN_RETURN_IF_ERROR(r.GetBool(root, "source_nat", &c.source_nat));
    VPN_RETURN_IF_ERROR(r.GetString(root, "metrics_listen", &c.metrics_listen));
    if (!c.metrics_listen.empty() &&
        !ParseListenAddress(c.metrics_listen, &c.metrics_ip, &c.metrics_port)) {
      return r.Error(root.get("metrics_listen"),
                     "metrics_listen must be \"IPv4:PORT\", e.g. \"127.0.0.1:9469\"");
    }
    if (const toml::table* t = root["log"].as_table()) {
      for (auto&& [k, v] : *t) {
        log::Subsystem s;
        log::Level l;
        if (!log::ParseSubsystem(k.str(), &s)) {
          return r.Error(v, "unknown log subsystem \"" + std::string(k.str()) + "\"");
        }
        const std::string* lv = v.as_string() ? &v.as_string()->get() : nullptr;
        if (!lv || !log::ParseLevel(*lv, &l)) {
          return r.Error(v, "log level must be error, warn, info, event, packet or data");
        }
        c.log_levels[s] = l;
      }
    }
    if (const toml::table* t = root["dataplane"].as_table()) {
      VPN_RETURN_IF_ERROR(ParseDataplane(r, *t, c.dataplane));
    }
    VPN_RETURN_IF_ERROR(ForEachTable(r, root, "port", [&](const toml::table& t) { return ParsePort(r, t, c); }));
    VPN_RETURN_IF_ERROR(ForEachTable(r, root, "route", [&](const toml::table& t) {
      VPN_RETURN_IF_ERROR(r.CheckKeys(t, "route", {"prefix", "via", "port"}));
      Route rt;
      rt.line = r.Line(t);
      VPN_RETURN_IF_ERROR(r.GetPrefix(t, "prefix", &rt.prefix, true));
      VPN_RETURN_IF_ERROR(r.GetIpv4(t, "via", &rt.via, true));
      VPN_RETURN_IF_ERROR(r.GetString(t, "port", &rt.port));
      c.routes.push_back(rt);
      return absl::OkStatus();
    }));
    if (const toml::table* t = root["ppp"].as_table()) VPN_RETURN_IF_ERROR(ParsePpp(r, *t, c.ppp));
    VPN_RETURN_IF_ERROR(ForEachTable(r, root, "pool", [&](const toml::table& t) { return ParsePool(r, t, c); }));
    VPN_RETURN_IF_ERROR(ForEachTable(r, root, "group", [&](const toml::table& t) { return ParseGroup(r, t, c); }));
    if (root.contains("radius")) {
      const toml::table* t = root["radius"].as_table();
      if (!t) return r.Error(root["radius"].node(), "radius must be a table ([radius])");
      VPN_RETURN_IF_ERROR(ParseRadius(r, *t, c.radius));
    }
  }
  if (const toml::table* t = root["ike"].as_table()) VPN_RETURN_IF_ERROR(ParseIke(r, *t, c.ike));
  if (const toml::table* t = root["l2tp"].as_table()) VPN_RETURN_IF_ERROR(ParseL2tp(r, *t, c.l2tp));
  VPN_RETURN_IF_ERROR(ForEachTable(r, root, "user", [&](const toml::table& t) { return ParseUser(r, t, c); }));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path, bool* world_readable) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read: ", strerror(errno)));
  }
  *world_readable = (st.st_mode & (S_IROTH | S_IWOTH)) != 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status ParseText(const std::string& text, const std::string& name, Config& c, bool is_secrets,
                       bool world_readable, const std::string& base_dir) {
  VPN_RETURN_IF_ERROR(CheckTomlCharacters(text, name));
  toml::parse_result res = toml::parse(text, name);
  if (!res) {
    const toml::parse_error& e = res.error();
    return absl::InvalidArgumentError(absl::StrCat(name, ":", int(e.source().begin.line), ": ",
                                                   std::string(e.description())));
  }
  Reader r(name, base_dir);
  VPN_RETURN_IF_ERROR(ParseDocument(r, res.table(), c, is_secrets));
  if (world_readable && r.first_secret_line() > 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        name, ":", r.first_secret_line(),
        ": file holds secrets but is readable by others; chmod o-rwx it (or move secrets to a "
        "secrets_file with mode 0600)"));
  }
  if (!is_secrets) {
    std::string secrets;
    if (const auto* s = res.table()["secrets_file"].as_string()) secrets = s->get();
    if (!secrets.empty()) {
      if (secrets[0] != '/') secrets = base_dir + "/" + secrets;
      bool wr = false;
      absl::StatusOr<std::string> st = ReadFile(secrets, &wr);
      if (!st.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, ":", Reader::LineOf(res.table()["secrets_file"].node()), ": secrets_file ",
            st.status().message()));
      }
      VPN_RETURN_IF_ERROR(ParseText(*st, secrets, c, /*is_secrets=*/true, wr, base_dir));
      if (wr) {
        return absl::PermissionDeniedError(
            absl::StrCat(secrets, ": secrets file is readable by others; chmod 600 it"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Config> ParseAndValidate(const std::string& text, const std::string& name,
                                        bool world_readable) {
  Config c;
  c.path = name;
  std::string base_dir = ".";
  if (auto pos = name.rfind('/'); pos != std::string::npos) base_dir = name.substr(0, pos);
  VPN_RETURN_IF_ERROR(ParseText(text, name, c, false, world_readable, base_dir));
  VPN_RETURN_IF_ERROR(Validate(c));
  return c;
}

}  // namespace

absl::StatusOr<Config> ParseConfigString(const std::string& text, const std::string& name) {
  return ParseAndValidate(text, name, /*world_readable=*/false);
}

absl::StatusOr<Config> ParseConfigFile(const std::string& path) {
  bool world_readable = false;
  absl::StatusOr<std::string> text = ReadFile(path, &world_readable);
  if (!text.ok()) return text.status();
  return ParseAndValidate(*text, path, world_readable);
}

const Port* Config::FindPort(PortRole role) const {
  for (const Port& p : ports)
    if (p.role == role) return &p;
  return nullptr;
}
const Pool* Config::FindPool(const std::string& n) const {
  for (const Pool& p : pools)
    if (p.name == n) return &p;
  return nullptr;
}
const Group* Config::FindGroup(const std::string& n) const {
  for (const Group& g : groups)
    if (g.name == n) return &g;
  return nullptr;
}
const Pool* Config::PoolContaining(uint32_t a) const {
  for (const Pool& p : pools)
    if (a >= p.first && a <= p.last) return &p;
  return nullptr;
}

}  // namespace vpn::config

// `vpnctl show sessions [detail] [FILTER]`: the operator view of seed 002's
// `show vpn-sessiondb detail remote filter protocol L2TPOverIPSec`. One
// remote-access session and its three sub-sessions:
//   IKE    - phase 1 SA: ports, negotiation and auth mode, cipher, hash,
//            D/H group, rekey interval and time left;
//   IPsec  - the ESP pair the tunnel runs on: selectors, cipher, hash,
//            encapsulation, rekey time/volume left, bytes and packets
//            (the dataplane's per-SA counters);
//   L2TP   - the PPP session: user, address, auth mode, idle timeout and
//            time left, bytes and packets (the dataplane's per-session
//            counters, the same numbers RADIUS accounting reports).
// FILTER: `user NAME`, `ip ADDRESS` (assigned), `peer ADDRESS[:PORT]`
// (public), `id N`, or one bare word matching any of them.
#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "control_server.h"
#include "daemon.h"
#include "ike/ike_sa.h"
#include "vpn/log.h"

namespace vpn::cp {

namespace {

std::string Ip(uint32_t net) { return config::FormatIpv4(ntohl(net)); }
int64_t Secs(absl::Duration d) { return absl::ToInt64Seconds(d); }
std::string Hms(absl::Duration d) {
  const int64_t s = std::max<int64_t>(0, Secs(d));
  return absl::StrFormat("%dh:%02dm:%02ds", s / 3600, (s / 60) % 60, s % 60);
}
const char* CipherName(shm::Cipher c) {
  switch (c) {
    case shm::Cipher::kAesCbc: return "AES-CBC";
    case shm::Cipher::kDes3Cbc: return "3DES";
    case shm::Cipher::kDesCbc: return "DES";
    case shm::Cipher::kAesGcm16: return "AES-GCM";
    default: return "none";
  }
}
const char* IntegName(shm::Integ i) {
  switch (i) {
    case shm::Integ::kHmacSha1_96: return "SHA1";
    case shm::Integ::kHmacSha256_128: return "SHA256";
    case shm::Integ::kHmacSha384_192: return "SHA384";
    case shm::Integ::kHmacSha512_256: return "SHA512";
    case shm::Integ::kHmacSha256_96: return "SHA256-96";
    default: return "none";
  }
}
std::string Upper(std::string_view s) {
  std::string u(s);
  for (char& c : u) c = char(std::toupper(static_cast<unsigned char>(c)));
  return u;
}
// "N Seconds" / "none", as the ASA prints timers.
std::string Timer(std::optional<int64_t> s) {
  return s ? absl::StrFormat("%d Seconds", *s) : std::string("none");
}
std::string JsonOpt(std::optional<int64_t> v) { return v ? absl::StrCat(*v) : "null"; }

// Everything one session row shows, gathered once.
struct View {
  uint64_t id = 0;
  std::string user, assigned, group, auth_mode, protocol;
  uint32_t public_ip = 0;       // network order
  uint16_t public_port = 0;     // host order: where the client's IKE/ESP comes from
  uint16_t l2tp_port = 0;       // host order: the client's L2TP UDP port
  absl::Time login;
  absl::Duration duration;
  shm::SessionCounters sc{};
  std::optional<int64_t> session_timeout, session_left, idle_timeout, idle_left;
  // IPsec.
  bool have_sa = false, nat_t = false;
  uint32_t in_sa = 0, out_sa = 0, spi_in = 0, spi_out = 0, local_ip = 0;
  std::string enc = "-", hash = "-";
  shm::SaCounters sa_rx{}, sa_tx{};
  std::optional<int64_t> esp_life_s, esp_left_s, esp_life_kb, esp_left_kb;
  // IKE.
  bool have_ike = false;
  uint64_t ike_id = 0;
  uint16_t ike_local_port = 0, ike_remote_port = 0;
  std::string ike_enc, ike_hash, ike_auth, ike_mode;
  int ike_dh = 0;
  int64_t ike_life = 0, ike_left = 0;
};

}  // namespace

absl::StatusOr<std::string> Daemon::ShowSessions(const ControlRequest& r) {
  std::vector<std::string> w = r.words;
  const bool detail = !w.empty() && w[0] == "detail";
  if (detail) w.erase(w.begin());
  std::string key, value;
  if (w.size() == 2 && (w[0] == "user" || w[0] == "ip" || w[0] == "peer" || w[0] == "id")) {
    key = w[0];
    value = w[1];
  } else if (w.size() == 1) {
    value = w[0];
  } else if (!w.empty()) {
    return absl::InvalidArgumentError(
        "usage: show sessions [detail] [user NAME | ip ADDRESS | peer ADDRESS[:PORT] | id N]");
  }
  const absl::Time now = loop_.Now();
  std::vector<View> views;
  for (const auto& [id, cl] : clients_) {
    View v;
    v.id = id;
    v.user = cl.up ? cl.up->user : "(negotiating)";
    v.assigned = cl.up ? config::FormatIpv4(cl.up->ip) : "-";
    v.group = cl.up ? (cl.up->group.empty() ? "default" : cl.up->group) : "-";
    v.auth_mode = cl.up ? std::string(ppp::AuthMethodName(cl.up->method)) : "-";
    v.public_ip = cl.l2tp.peer_ip;
    v.l2tp_port = ntohs(cl.l2tp.peer_port);
    v.public_port = v.l2tp_port;
    v.login = cl.up ? cl.up_since : cl.created;
    v.duration = now - v.login;
    if (cl.dp_session) v.sc = tables_->SumSessionCounters(cl.dp_session);
    if (cl.ppp && cl.up) {
      if (uint32_t t = cl.ppp->session_timeout_s()) {
        v.session_timeout = t;
        v.session_left = std::max<int64_t>(0, t - Secs(now - cl.up_since));
      }
      if (uint32_t t = cl.ppp->idle_timeout_s()) {
        v.idle_timeout = t;
        v.idle_left = std::max<int64_t>(0, t - Secs(now - cl.ppp->last_activity()));
      }
    }
    // IPsec: the SA pair the session (or, before IPCP, its tunnel) is on.
    uint32_t in_sa = cl.dp_session ? tables_->session(cl.dp_session).inbound_sa
                                   : bindings_->CurrentInboundSa(cl.l2tp.inbound_sa);
    if (in_sa != 0 && in_sa < seg_.header().max_sas &&
        tables_->sa(in_sa).state == shm::SlotState::kActive) {
      const shm::SaRecord& in = tables_->sa(in_sa);
      v.have_sa = true;
      v.in_sa = in_sa;
      v.out_sa = in.paired_index;
      v.spi_in = in.spi;
      v.local_ip = in.local_ip;
      v.nat_t = in.encap == shm::Encap::kUdp;
      if (v.nat_t) v.public_port = ntohs(in.peer_port);
      v.enc = CipherName(in.cipher);
      v.hash = IntegName(in.integ);
      v.sa_rx = tables_->SumSaCounters(in_sa);
      if (v.out_sa != 0 && v.out_sa < seg_.header().max_sas) {
        v.spi_out = tables_->sa(v.out_sa).spi;
        v.sa_tx = tables_->SumSaCounters(v.out_sa);
      }
      // The IKE SA that negotiated it (owner_cookie), or after a phase 1
      // rekey the one its children moved to.
      const ike::IkeSa* ike = ike_->FindSa(in.owner_cookie);
      const ike::ChildSa* child = nullptr;
      auto find_child = [&](const ike::IkeSa* s) -> const ike::ChildSa* {
        if (!s) return nullptr;
        for (const ike::ChildSa& c : s->children)
          if (c.handle.inbound_index == in_sa) return &c;
        return nullptr;
      };
      child = find_child(ike);
      if (!child) {
        for (const ike::IkeSaSummary& s : ike_->ListIkeSas()) {
          if ((child = find_child(ike_->FindSa(s.id)))) {
            ike = ike_->FindSa(s.id);
            break;
          }
        }
      }
      if (child) {
        v.esp_life_s = int64_t(child->lifetime_s);
        v.esp_left_s = std::max<int64_t>(
            0, Secs(child->installed_at + absl::Seconds(child->lifetime_s) - now));
        if (child->lifetime_kb) {
          v.esp_life_kb = int64_t(child->lifetime_kb);
          const uint64_t used_kb = std::max(v.sa_rx.bytes, v.sa_tx.bytes) / 1024;
          v.esp_left_kb = int64_t(child->lifetime_kb > used_kb ? child->lifetime_kb - used_kb : 0);
        }
      }
      if (ike && ike->established()) {
        v.have_ike = true;
        v.ike_id = ike->id();
        v.ike_local_port = ike->local.port;
        v.ike_remote_port = ike->remote.port;
        v.ike_enc = Upper(ike::CipherName(ike->suite.cipher, ike->suite.key_len()));
        v.ike_hash = Upper(ike::HashName(ike->suite.hash));
        v.ike_auth = ike->suite.auth == ike::AuthMethod::kPsk ? "preSharedKeys"
                     : ike->suite.auth == ike::AuthMethod::kRsaSig ? "rsaCertificate"
                                                                    : "other";
        // The SA does not remember which exchange made it: Aggressive Mode
        // is only possible when the configuration allows it.
        v.ike_mode = cfg_.ike.allow_aggressive ? "Main or Aggressive" : "Main";
        v.ike_dh = int(ike->suite.group);
        v.ike_life = int64_t(ike->lifetime_s);
        v.ike_left = std::max<int64_t>(
            0, Secs(ike->established_at + absl::Seconds(ike->lifetime_s) - now));
      }
    }
    v.protocol = v.nat_t ? "L2TPOverIPsecOverNatT" : v.have_sa ? "L2TPOverIPsec" : "L2TP";
    const std::string peer_ip = Ip(v.public_ip);
    const bool match =
        value.empty() ||
        (key == "user" && (v.user == value || (cl.up && cl.up->user_name_as_sent == value))) ||
        (key == "ip" && v.assigned == value) ||
        (key == "peer" && (peer_ip == value ||
                           absl::StrCat(peer_ip, ":", v.public_port) == value)) ||
        (key == "id" && absl::StrCat(id) == value) ||
        (key.empty() && (value == v.user || value == v.assigned || value == peer_ip ||
                         value == absl::StrCat(id)));
    if (match) views.push_back(std::move(v));
  }

  if (r.json) {
    std::vector<std::string> rows;
    for (const View& v : views) {
      std::string ike = "null", ipsec = "null";
      if (v.have_ike) {
        ike = absl::StrFormat(
            "{\"id\": \"%016x\", \"udp_src_port\": %d, \"udp_dst_port\": %d, \"neg_mode\": %s, "
            "\"auth_mode\": %s, \"encryption\": %s, \"hashing\": %s, \"dh_group\": %d, "
            "\"rekey_interval_s\": %d, \"rekey_left_s\": %d}",
            v.ike_id, v.ike_remote_port, v.ike_local_port, JsonString(v.ike_mode),
            JsonString(v.ike_auth), JsonString(v.ike_enc), JsonString(v.ike_hash), v.ike_dh, v.ike_life,
            v.ike_left);
      }
      if (v.have_sa) {
        ipsec = absl::StrFormat(
            "{\"spi_in\": \"%08x\", \"spi_out\": \"%08x\", \"sa_in\": %d, \"sa_out\": %d, "
            "\"local_addr\": %s, \"remote_addr\": %s, \"encryption\": %s, \"hashing\": %s, "
            "\"encapsulation\": %s, \"rekey_interval_s\": %s, \"rekey_left_s\": %s, "
            "\"rekey_interval_kb\": %s, \"rekey_left_kb\": %s, \"idle_timeout_s\": %s, "
            "\"idle_left_s\": %s, \"rx_bytes\": %d, \"tx_bytes\": %d, \"rx_packets\": %d, "
            "\"tx_packets\": %d}",
            v.spi_in, v.spi_out, v.in_sa, v.out_sa,
            JsonString(absl::StrCat(Ip(v.local_ip), "/255.255.255.255/17/1701")),
            JsonString(absl::StrCat(Ip(v.public_ip), "/255.255.255.255/17/", v.l2tp_port)),
            JsonString(v.enc), JsonString(v.hash),
            JsonString(v.nat_t ? "Transport, UDP-encapsulated" : "Transport"), JsonOpt(v.esp_life_s),
            JsonOpt(v.esp_left_s), JsonOpt(v.esp_life_kb), JsonOpt(v.esp_left_kb),
            JsonOpt(v.idle_timeout), JsonOpt(v.idle_left), v.sa_rx.bytes, v.sa_tx.bytes,
            v.sa_rx.packets, v.sa_tx.packets);
      }
      const ClientRecord& cl = clients_.at(v.id);
      rows.push_back(absl::StrFormat(
          "{\"id\": %d, \"user\": %s, \"assigned_ip\": %s, \"public_ip\": %s, "
          "\"public_port\": %d, \"l2tp_port\": %d, \"tunnel_id\": %d, \"session_id\": %d, "
          "\"protocol\": %s, \"encryption\": %s, \"hashing\": %s, \"group\": %s, "
          "\"auth_mode\": %s, \"login_time\": %s, \"login_unix\": %d, \"duration_s\": %d, "
          "\"rx_packets\": %d, \"rx_bytes\": %d, \"tx_packets\": %d, \"tx_bytes\": %d, "
          "\"session_timeout_s\": %s, \"session_left_s\": %s, \"idle_timeout_s\": %s, "
          "\"idle_left_s\": %s, \"acct_session_id\": %s, \"dataplane_session\": %d, "
          "\"ike_sessions\": %d, \"ipsec_sessions\": %d, \"l2tp_sessions\": 1, "
          "\"ike\": %s, \"ipsec\": %s, \"l2tp\": {\"tunnel_id\": %d, \"session_id\": %d, "
          "\"peer_tunnel_id\": %d, \"peer_session_id\": %d, \"user\": %s, \"assigned_ip\": %s, "
          "\"encryption\": \"none\", \"auth_mode\": %s, \"idle_timeout_s\": %s, "
          "\"idle_left_s\": %s, \"rx_bytes\": %d, \"tx_bytes\": %d, \"rx_packets\": %d, "
          "\"tx_packets\": %d}}",
          v.id, JsonString(v.user), JsonString(v.assigned), JsonString(Ip(v.public_ip)), v.public_port,
          v.l2tp_port, cl.l2tp.local_tunnel_id, cl.l2tp.local_session_id, JsonString(v.protocol),
          JsonString(v.enc), JsonString(v.hash), JsonString(v.group), JsonString(v.auth_mode),
          JsonString(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", v.login, absl::UTCTimeZone())),
          absl::ToUnixSeconds(v.login), Secs(v.duration), v.sc.rx_packets, v.sc.rx_bytes,
          v.sc.tx_packets, v.sc.tx_bytes, JsonOpt(v.session_timeout), JsonOpt(v.session_left),
          JsonOpt(v.idle_timeout), JsonOpt(v.idle_left), JsonString(cl.acct_session_id),
          cl.dp_session, v.have_ike ? 1 : 0, v.have_sa ? 1 : 0, ike, ipsec,
          cl.l2tp.local_tunnel_id, cl.l2tp.local_session_id, cl.l2tp.peer_tunnel_id,
          cl.l2tp.peer_session_id, JsonString(v.user), JsonString(v.assigned), JsonString(v.auth_mode),
          JsonOpt(v.idle_timeout), JsonOpt(v.idle_left), v.sc.rx_bytes, v.sc.tx_bytes,
          v.sc.rx_packets, v.sc.tx_packets));
    }
    return "[" + absl::StrJoin(rows, ", ") + "]\n";
  }

  std::string out;
  if (!detail) {
    out = absl::StrFormat("%-5s %-16s %-15s %-21s %-9s %-12s %12s %12s\n", "id", "user",
                          "assigned", "public", "tun/sess", "duration", "bytes rx", "bytes tx");
    for (const View& v : views) {
      const ClientRecord& cl = clients_.at(v.id);
      absl::StrAppend(&out, absl::StrFormat(
                                "%-5d %-16s %-15s %-21s %-9s %-12s %12d %12d\n", v.id, v.user,
                                v.assigned, absl::StrCat(Ip(v.public_ip), ":", v.public_port),
                                absl::StrCat(cl.l2tp.local_tunnel_id, "/",
                                             cl.l2tp.local_session_id),
                                Hms(v.duration), v.sc.rx_bytes, v.sc.tx_bytes));
    }
    return out;
  }
  // Two columns of "Label : value", 38 characters for the left one and at
  // least two spaces between them (values never contain two spaces).
  auto row = [&](std::string_view l1, const std::string& v1, std::string_view l2 = "",
                 const std::string& v2 = "") {
    std::string left = absl::StrFormat("%-13s: %s", l1, v1);
    if (l2.empty()) return absl::StrCat(left, "\n");
    return absl::StrFormat("%-38s  %-13s: %s\n", left, l2, v2);
  };
  out = "Session Type: Remote Detailed\n";
  if (views.empty()) return out + "\nno sessions\n";
  for (const View& v : views) {
    const ClientRecord& cl = clients_.at(v.id);
    const std::string nat = v.nat_t ? "OverNatT" : "";
    absl::StrAppend(&out, "\n", row("Username", v.user, "Index", absl::StrCat(v.id)));
    absl::StrAppend(&out, row("Assigned IP", v.assigned, "Public IP", Ip(v.public_ip)));
    absl::StrAppend(&out, row("Public Port", absl::StrCat(v.public_port), "L2TP Port",
                              absl::StrCat(v.l2tp_port)));
    absl::StrAppend(&out, row("Protocol", v.protocol, "Encryption", v.enc));
    absl::StrAppend(&out, row("Hashing", v.hash, "Auth Mode", v.auth_mode));
    absl::StrAppend(&out, row("Bytes Tx", absl::StrCat(v.sc.tx_bytes), "Bytes Rx",
                              absl::StrCat(v.sc.rx_bytes)));
    absl::StrAppend(&out, row("Pkts Tx", absl::StrCat(v.sc.tx_packets), "Pkts Rx",
                              absl::StrCat(v.sc.rx_packets)));
    absl::StrAppend(&out, row("Group Policy", v.group));
    absl::StrAppend(&out, row("Login Time", absl::FormatTime("%H:%M:%S UTC %a %b %d %Y", v.login,
                                                              absl::UTCTimeZone())));
    absl::StrAppend(&out, row("Duration", Hms(v.duration)));
    absl::StrAppend(&out, row("Session TO", Timer(v.session_timeout), "Session TO Left",
                              Timer(v.session_left)));
    if (!cl.acct_session_id.empty()) absl::StrAppend(&out, row("Acct Sess ID", cl.acct_session_id));
    absl::StrAppend(&out, absl::StrFormat("\nIKE Sessions: %d\nIPsec%s Sessions: %d\n"
                                          "L2TPOverIPsec%s Sessions: 1\n",
                                          v.have_ike, nat, v.have_sa, nat));
    if (v.have_ike) {
      absl::StrAppend(&out, "\nIKE:\n", row("  Session ID", absl::StrFormat("%016x", v.ike_id)));
      absl::StrAppend(&out, row("  UDP Src Port", absl::StrCat(v.ike_remote_port), "UDP Dst Port",
                                absl::StrCat(v.ike_local_port)));
      absl::StrAppend(&out, row("  IKE Neg Mode", v.ike_mode, "Auth Mode", v.ike_auth));
      absl::StrAppend(&out, row("  Encryption", v.ike_enc, "Hashing", v.ike_hash));
      absl::StrAppend(&out, row("  Rekey Int (T)", Timer(v.ike_life), "Rekey Left(T)",
                                Timer(v.ike_left)));
      absl::StrAppend(&out, row("  D/H Group", absl::StrCat(v.ike_dh)));
    }
    if (v.have_sa) {
      absl::StrAppend(&out, "\nIPsec", nat, ":\n",
                      row("  Session ID", absl::StrFormat("SPI in %08x, out %08x", v.spi_in,
                                                          v.spi_out)));
      absl::StrAppend(&out, row("  Local Addr", absl::StrCat(Ip(v.local_ip),
                                                              "/255.255.255.255/17/1701")));
      absl::StrAppend(&out, row("  Remote Addr", absl::StrCat(Ip(v.public_ip),
                                                               "/255.255.255.255/17/",
                                                               v.l2tp_port)));
      absl::StrAppend(&out, row("  Encryption", v.enc, "Hashing", v.hash));
      absl::StrAppend(&out, row("  Encapsulation", v.nat_t ? "Transport, UDP 4500" : "Transport"));
      absl::StrAppend(&out, row("  Rekey Int (T)", Timer(v.esp_life_s), "Rekey Left(T)",
                                Timer(v.esp_left_s)));
      absl::StrAppend(
          &out, row("  Rekey Int (D)",
                    v.esp_life_kb ? absl::StrCat(*v.esp_life_kb, " K-Bytes") : "none",
                    "Rekey Left(D)",
                    v.esp_left_kb ? absl::StrCat(*v.esp_left_kb, " K-Bytes") : "none"));
      absl::StrAppend(&out, row("  Idle Time Out", Timer(v.idle_timeout), "Idle TO Left",
                                Timer(v.idle_left)));
      absl::StrAppend(&out, row("  Bytes Tx", absl::StrCat(v.sa_tx.bytes), "Bytes Rx",
                                absl::StrCat(v.sa_rx.bytes)));
      absl::StrAppend(&out, row("  Pkts Tx", absl::StrCat(v.sa_tx.packets), "Pkts Rx",
                                absl::StrCat(v.sa_rx.packets)));
    }
    absl::StrAppend(&out, "\nL2TPOverIPsec", nat, ":\n",
                    row("  Session ID", absl::StrFormat("tunnel %d session %d (peer %d/%d)",
                                                        cl.l2tp.local_tunnel_id,
                                                        cl.l2tp.local_session_id,
                                                        cl.l2tp.peer_tunnel_id,
                                                        cl.l2tp.peer_session_id)));
    absl::StrAppend(&out, row("  Username", v.user));
    absl::StrAppend(&out, row("  Assigned IP", v.assigned));
    absl::StrAppend(&out, row("  Encryption", "none", "Auth Mode", v.auth_mode));
    absl::StrAppend(&out, row("  Idle Time Out", Timer(v.idle_timeout), "Idle TO Left",
                              Timer(v.idle_left)));
    absl::StrAppend(&out, row("  Bytes Tx", absl::StrCat(v.sc.tx_bytes), "Bytes Rx",
                              absl::StrCat(v.sc.rx_bytes)));
    absl::StrAppend(&out, row("  Pkts Tx", absl::StrCat(v.sc.tx_packets), "Pkts Rx",
                              absl::StrCat(v.sc.rx_packets)));
  }
  return out;
}

}  // namespace vpn::cp

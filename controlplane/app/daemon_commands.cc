// vpnctl commands answered by the control plane (the operator view of seed
// 002's `show vpn-sessiondb detail` and `debug l2tp ...`).
#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "control_server.h"
#include "daemon.h"
#include "vpn/log.h"

namespace vpn::cp {

namespace {
std::string Dur(absl::Duration d) {
  int64_t s = absl::ToInt64Seconds(d);
  return absl::StrFormat("%dh:%02dm:%02ds", s / 3600, (s / 60) % 60, s % 60);
}
}  // namespace

void Daemon::RegisterCommands() {
  ControlServer& c = *control_;
  RegisterOpsCommands();
  c.Register({"debug"}, "SUBSYSTEM LEVEL: set a log level at run time",
             [](const ControlRequest& r) -> absl::StatusOr<std::string> {
               log::Subsystem s;
               log::Level l;
               if (r.words.size() != 2 || !log::ParseSubsystem(r.words[0], &s) ||
                   !log::ParseLevel(r.words[1], &l)) {
                 return absl::InvalidArgumentError(
                     "usage: debug {config|ike|l2tp|ppp|auth|esp|dataplane|control} "
                     "{error|warn|info|event|packet|data|0-5}");
               }
               log::SetLevel(s, l);
               return absl::StrFormat("%s logging at %s\n", r.words[0], log::LevelName(l));
             });

  c.Register({"show", "status"}, "process and shared-memory state",
             [this](const ControlRequest& r) -> absl::StatusOr<std::string> {
               const shm::Header& h = seg_.header();
               if (r.json) {
                 return absl::StrFormat(
                     "{\"abi\": %d, \"dataplane_pid\": %d, \"dataplane_ready\": %d, \"sas\": %d, "
                     "\"sessions\": %d, \"ike_sas\": %d, \"tunnels\": %d, \"ppp_sessions\": %d, "
                     "\"punts\": %d, \"inject_failures\": %d, \"ports\": [%s]}\n",
                     h.abi_version, h.dp_pid.load(), h.dp_ready.load(), tables_->sas_in_use(),
                     tables_->sessions_in_use(), ike_->ike_sa_count(), lns_->tunnel_count(),
                     clients_.size(), counters_.punts, io_->inject_failures(),
                     absl::StrJoin(cfg_.ports, ", ",
                                   [](std::string* o, const config::Port& p) {
                                     o->append(JsonString(p.name));
                                   }));
               }
               return absl::StrFormat(
                   "shared memory %s ABI %d\ndataplane pid %d ready %d\n"
                   "SA slots in use %d of %d, dataplane sessions %d of %d\n"
                   "IKE SAs %d, L2TP tunnels %d, PPP sessions %d\n"
                   "punts %d (ike %d, l2tp %d, ppp %d), inject failures %d\n",
                   cfg_.shm_name, h.abi_version, h.dp_pid.load(), h.dp_ready.load(),
                   tables_->sas_in_use(), h.max_sas, tables_->sessions_in_use(), h.max_sessions,
                   ike_->ike_sa_count(), lns_->tunnel_count(), clients_.size(), counters_.punts,
                   counters_.punts_ike, counters_.punts_l2tp, counters_.punts_ppp,
                   io_->inject_failures());
             });

  c.Register({"show", "sessions"},
             "[detail] [user NAME | ip ADDRESS | peer ADDRESS[:PORT] | id N]: PPP sessions "
             "(detail: IKE / IPsec / L2TP sub-sessions, as seed 002's show vpn-sessiondb detail)",
             [this](const ControlRequest& r) { return ShowSessions(r); });

  c.Register({"show", "sa"}, "IKE SAs with their ESP SAs",
             [this](const ControlRequest& r) -> absl::StatusOr<std::string> {
               std::vector<std::string> rows;
               std::string out;
               for (const ike::IkeSaSummary& s : ike_->ListIkeSas()) {
                 if (r.json) {
                   rows.push_back(absl::StrFormat(
                       "{\"id\": %d, \"peer\": %s, \"peer_id\": %s, \"state\": %s, \"suite\": %s, "
                       "\"nat_t\": %s, \"age_s\": %d, \"lifetime_left_s\": %d, \"child_sas\": %d}",
                       s.id, JsonString(s.remote.ToString()), JsonString(s.peer_id), JsonString(s.state),
                       JsonString(s.suite), JsonString(s.nat_t), absl::ToInt64Seconds(s.age),
                       absl::ToInt64Seconds(s.lifetime_left), s.child_sas));
                 } else {
                   absl::StrAppend(&out, absl::StrFormat(
                                             "IKE %016x %-21s %-12s %-24s NAT-T %-8s age %s, "
                                             "rekey in %s, %d ESP SA pair(s)\n",
                                             s.id, s.remote.ToString(), s.state, s.suite, s.nat_t,
                                             Dur(s.age), Dur(s.lifetime_left), s.child_sas));
                 }
               }
               if (r.json) return "[" + absl::StrJoin(rows, ", ") + "]\n";
               return out.empty() ? "no IKE SAs\n" : out;
             });

  c.Register({"show", "tunnels"}, "L2TP tunnels",
             [this](const ControlRequest& r) -> absl::StatusOr<std::string> {
               std::vector<std::string> rows;
               std::string out;
               for (const l2tp::TunnelView& t : lns_->Tunnels()) {
                 if (r.json) {
                   rows.push_back(absl::StrFormat(
                       "{\"local_id\": %d, \"peer_id\": %d, \"peer\": %s, \"state\": %s, "
                       "\"hostname\": %s, \"sessions\": %d, \"sa\": %d}",
                       t.local_id, t.peer_id, JsonString(t.binding.ToString()),
                       JsonString(l2tp::TunnelStateName(t.state)), JsonString(t.peer_hostname),
                       t.sessions, t.binding.sa_index));
                 } else {
                   absl::StrAppend(&out, absl::StrFormat(
                                             "tunnel %5d peer-id %5d %-32s %-12s host %s, %d "
                                             "session(s), %d retransmits\n",
                                             t.local_id, t.peer_id, t.binding.ToString(),
                                             l2tp::TunnelStateName(t.state), t.peer_hostname,
                                             t.sessions, t.retransmits));
                 }
               }
               if (r.json) return "[" + absl::StrJoin(rows, ", ") + "]\n";
               return out.empty() ? "no L2TP tunnels\n" : out;
             });

  c.Register({"show", "pools"}, "address pools and their use",
             [this](const ControlRequest& r) -> absl::StatusOr<std::string> {
               std::vector<std::string> rows;
               std::string out;
               for (const config::Pool& p : cfg_.pools) {
                 uint32_t used = 0;
                 for (uint32_t a = p.first; a <= p.last; ++a) used += pools_->InUse(a);
                 const uint32_t size = p.last - p.first + 1;
                 if (r.json) {
                   rows.push_back(absl::StrFormat(
                       "{\"name\": %s, \"first\": %s, \"last\": %s, \"size\": %d, \"in_use\": %d}",
                       JsonString(p.name), JsonString(config::FormatIpv4(p.first)),
                       JsonString(config::FormatIpv4(p.last)), size, used));
                 } else {
                   absl::StrAppend(&out, absl::StrFormat("pool %-16s %s-%s  %d of %d in use\n",
                                                         p.name, config::FormatIpv4(p.first),
                                                         config::FormatIpv4(p.last), used, size));
                 }
               }
               if (r.json) return "[" + absl::StrJoin(rows, ", ") + "]\n";
               return out;
             });

  c.Register({"clear", "session"}, "ID: disconnect a PPP session (id from show sessions)",
             [this](const ControlRequest& r) -> absl::StatusOr<std::string> {
               uint64_t id;
               if (r.words.size() != 1 || !absl::SimpleAtoi(r.words[0], &id)) {
                 return absl::InvalidArgumentError("usage: clear session ID");
               }
               auto it = clients_.find(id);
               if (it == clients_.end()) return absl::NotFoundError("no such session");
               absl::Status s = lns_->CloseSession(it->second.l2tp.local_tunnel_id,
                                                   it->second.l2tp.local_session_id,
                                                   "cleared by administrator");
               if (!s.ok()) return s;
               return std::string("session cleared\n");
             });

  // Our tunnel ids repeat across peers (l2tp/id_allocator.h): a bare ID is
  // refused when several peers have it, and the error lists them.
  c.Register({"clear", "tunnel"},
             "ID [PEER-IP[:PORT]]: close an L2TP tunnel and its sessions (the peer is needed "
             "when several peers use the id)",
             [this](const ControlRequest& r) -> absl::StatusOr<std::string> {
               const absl::Status usage =
                   absl::InvalidArgumentError("usage: clear tunnel ID [PEER-IP[:PORT]]");
               l2tp::TunnelRef ref;
               uint32_t id;
               if (r.words.empty() || r.words.size() > 2 || !absl::SimpleAtoi(r.words[0], &id) ||
                   id == 0 || id > 0xFFFF) {
                 return usage;
               }
               ref.local_id = uint16_t(id);
               if (r.words.size() == 2) {
                 std::string peer = r.words[1];
                 uint32_t port = 0, ip = 0;
                 if (size_t colon = peer.find(':'); colon != std::string::npos) {
                   if (!absl::SimpleAtoi(peer.substr(colon + 1), &port) || port == 0 ||
                       port > 0xFFFF) {
                     return usage;
                   }
                   peer = peer.substr(0, colon);
                 }
                 if (!config::ParseIpv4(peer, &ip)) return usage;
                 ref.peer_ip = htonl(ip);
                 ref.peer_port = uint16_t(port);
               }
               absl::Status s = lns_->CloseTunnel(ref, "cleared by administrator");
               if (!s.ok()) return s;
               return std::string("tunnel cleared\n");
             });

  c.Register({"clear", "peer"}, "IP: delete a peer's IKE and ESP SAs (DELETE sent)",
             [this](const ControlRequest& r) -> absl::StatusOr<std::string> {
               uint32_t ip;
               if (r.words.size() != 1 || !config::ParseIpv4(r.words[0], &ip)) {
                 return absl::InvalidArgumentError("usage: clear peer IP");
               }
               int n = ike_->DeleteByPeer(htonl(ip));
               return absl::StrFormat("%d IKE SA(s) deleted\n", n);
             });
}

}  // namespace vpn::cp

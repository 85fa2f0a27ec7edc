// PPP sessions over L2TP, and what the dataplane must know of them.
#include <arpa/inet.h>

#include "daemon.h"
#include "vpn/log.h"

namespace vpn::cp {

namespace {
std::string Ip(uint32_t net) { return config::FormatIpv4(ntohl(net)); }

// Keeps the session's configuration generation alive as long as the session
// (declared first, so destroyed after it).
class PinnedPppEndpoint : public PppEndpoint {
 public:
  PinnedPppEndpoint(std::shared_ptr<const PppGeneration> gen,
                    std::unique_ptr<ppp::ServerSession> session)
      : gen_(std::move(gen)), session_(std::move(session)) {}
  void OnPppFrame(std::span<const uint8_t> frame) override { session_->OnPppFrame(frame); }
  void OnLinkDown(std::string_view reason) override { session_->OnLinkDown(reason); }

 private:
  std::shared_ptr<const PppGeneration> gen_;
  std::unique_ptr<ppp::ServerSession> session_;
};
}  // namespace

std::unique_ptr<PppEndpoint> Daemon::MakePppEndpoint(PppLink& link, const L2tpSessionInfo& info) {
  const uint64_t id = next_client_id_++;
  ClientRecord& c = clients_[id];
  c.id = id;
  c.l2tp = info;
  c.created = absl::Now();
  c.peer = absl::StrFormat("%s:%d tunnel %d session %d", Ip(info.peer_ip), ntohs(info.peer_port),
                           info.local_tunnel_id, info.local_session_id);
  ppp::ServerCallbacks cb;
  cb.on_address_committed = [this, id](const ppp::NetworkUp& up) {
    auto it = clients_.find(id);
    if (it != clients_.end()) (void)InstallDataplaneSession(it->second, up);
  };
  cb.on_network_up = [this, id](const ppp::NetworkUp& up) { OnNetworkUp(id, up); };
  cb.on_down = [this, id](std::string_view reason) { OnSessionDown(id, reason); };
  cb.traffic_counter = [this, id]() -> uint64_t {
    auto it = clients_.find(id);
    if (it == clients_.end() || it->second.dp_session == 0) return 0;
    return tables_->SessionPackets(it->second.dp_session);
  };
  std::shared_ptr<const PppGeneration> gen = CurrentPppGeneration();
  // RADIUS (when configured) replaces the generation's local user list.
  ppp::Authenticator& auth =
      radius_auth_ ? static_cast<ppp::Authenticator&>(*radius_auth_) : *gen->auth;
  auto session = std::make_unique<ppp::ServerSession>(link, loop_, gen->cfg, *pools_, auth,
                                                      c.peer, std::move(cb));
  c.ppp = session.get();
  // LCP starts once the L2TP session has its endpoint in place.
  loop_.Schedule(absl::ZeroDuration(), [this, id] {
    auto it = clients_.find(id);
    if (it != clients_.end() && it->second.ppp) it->second.ppp->Start();
  });
  return std::make_unique<PinnedPppEndpoint>(std::move(gen), std::move(session));
}

// Called as soon as the client's address is agreed (we Configure-Ack its
// IPCP request), before our own IPCP may be Opened: the client can be
// Opened first and its first IPv4 packet must find the session. A failure
// here is retried when IPCP is Opened (OnNetworkUp), which disconnects if it
// fails again; nothing is torn down from inside the IPCP automaton.
absl::Status Daemon::InstallDataplaneSession(ClientRecord& c, const ppp::NetworkUp& up) {
  if (c.dp_session) return absl::OkStatus();
  ShmTables::SessionSpec spec{};
  spec.local_tunnel_id = c.l2tp.local_tunnel_id;
  spec.local_session_id = c.l2tp.local_session_id;
  spec.peer_tunnel_id = c.l2tp.peer_tunnel_id;
  spec.peer_session_id = c.l2tp.peer_session_id;
  if (c.l2tp.inbound_sa == shm::kInvalidIndex) {
    spec.inbound_sa = spec.outbound_sa = shm::kInvalidIndex;  // cleartext (config allows)
  } else {
    spec.inbound_sa = bindings_->CurrentInboundSa(c.l2tp.inbound_sa);
    spec.outbound_sa = tables_->sa(spec.inbound_sa).paired_index;
    if (spec.outbound_sa == shm::kInvalidIndex) {
      // Never send this client's traffic in clear text.
      return absl::FailedPreconditionError("its ESP SA has no outbound half");
    }
  }
  spec.assigned_ip = htonl(up.ip);
  spec.peer_ip = c.l2tp.peer_ip;
  spec.peer_port = c.l2tp.peer_port;
  spec.mru = std::min<uint16_t>(up.peer_mru, cfg_.ppp.mtu);
  spec.flags = (c.l2tp.sequencing ? shm::kSessionFlagSequencing : 0) |
               (up.peer_acfc ? shm::kSessionFlagAcfc : 0) |
               (up.peer_pfc ? shm::kSessionFlagPfc : 0) |
               (cfg_.dataplane.tcp_mss_clamp != 1 ? shm::kSessionFlagClamp : 0);
  spec.owner_cookie = c.id;
  absl::StatusOr<uint32_t> idx = bindings_->InstallSession(spec);
  if (!idx.ok()) return idx.status();
  c.dp_session = *idx;
  client_by_dp_session_[*idx] = c.id;
  VPN_LOG(ppp, kEvent, "%s: dataplane session %d for %s", c.peer, *idx,
          config::FormatIpv4(up.ip));
  return absl::OkStatus();
}

void Daemon::OnNetworkUp(uint64_t id, const ppp::NetworkUp& up) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  ClientRecord& c = it->second;
  c.up = up;
  c.up_since = absl::Now();
  if (absl::Status st = InstallDataplaneSession(c, up); !st.ok()) {
    ++counters_.session_install_failures;
    VPN_LOG(ppp, kError, "%s: cannot install session for %s: %s", c.peer, up.user,
            st.message());
    if (c.ppp) c.ppp->Disconnect("no dataplane session slot");
    return;
  }
  ++counters_.sessions_up;
  RadiusSessionUp(c);
  VPN_LOG(ppp, kInfo, "%s: user %s up with %s (group %s, MRU %d)", c.peer, up.user,
          config::FormatIpv4(up.ip), up.group.empty() ? "default" : up.group,
          tables_->session(c.dp_session).mru);
}

void Daemon::OnSessionDown(uint64_t id, std::string_view reason) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  ClientRecord& c = it->second;
  RadiusSessionDown(c, reason);  // reads the final counters: before RemoveSession
  if (c.dp_session) {
    (void)bindings_->RemoveSession(c.dp_session);
    client_by_dp_session_.erase(c.dp_session);
    if (c.up) ++counters_.sessions_down;  // else IPCP failed after the address was acked
  }
  VPN_LOG(ppp, kInfo, "%s: session down (%s)", c.peer, std::string(reason));
  clients_.erase(it);
}

void Daemon::RemoveOrphansOf(uint32_t peer_ip, uint16_t peer_port) {
  // A client that reconnects after a control-plane restart: its old SAs and
  // sessions (adopted, no IKE state) go now (INITIAL-CONTACT semantics).
  // Called for every IKE SA that comes up: without adopted records both
  // lookups are one hash probe; with them, they cost this peer's records only.
  const std::vector<uint32_t> sas = tables_->OrphanSasOf(peer_ip, peer_port);
  if (sas.empty()) return;
  const std::vector<uint32_t> sessions = tables_->OrphanSessionsOn(sas);
  for (uint32_t s : sessions) RemoveOrphanSession(s);
  for (uint32_t i : sas) {
    if (tables_->sa(i).state == shm::SlotState::kActive) {
      (void)tables_->Remove({i, shm::kInvalidIndex});
      ++counters_.orphans_removed;
    }
  }
  VPN_LOG(control, kInfo, "removed %d stale SA(s) and %d session(s) of %s left by the previous "
          "control plane", sas.size(), sessions.size(), Ip(peer_ip));
}

void Daemon::ReserveOrphanIds() {
  for (uint32_t s : tables_->orphan_sessions()) {
    const shm::SessionRecord& r = tables_->session(s);
    absl::Status st = lns_->ReserveSessionIds(r.local_tunnel_id, r.local_session_id);
    if (!st.ok()) {
      VPN_LOG(control, kWarn, "adopted session %d: ids not reserved: %s", s, st.message());
    }
  }
}

void Daemon::RemoveOrphanSession(uint32_t index) {
  const shm::SessionRecord& r = tables_->session(index);
  const uint16_t tid = r.local_tunnel_id, sid = r.local_session_id;
  (void)tables_->RemoveSession(index);
  lns_->ReleaseSessionIds(tid, sid);
}

void Daemon::ExpireOrphans() {
  std::vector<uint32_t> sessions = tables_->orphan_sessions();
  std::vector<uint32_t> sas = tables_->orphan_sas();
  for (uint32_t s : sessions) RemoveOrphanSession(s);
  for (uint32_t i : sas) {
    if (tables_->sa(i).state == shm::SlotState::kActive) (void)tables_->Remove({i, shm::kInvalidIndex});
  }
  if (!sas.empty() || !sessions.empty()) {
    VPN_LOG(control, kInfo, "expired %d adopted SA(s) and %d session(s)", sas.size(),
            sessions.size());
  }
}

}  // namespace vpn::cp

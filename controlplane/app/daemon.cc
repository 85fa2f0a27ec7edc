#include "daemon.h"

#include <arpa/inet.h>
#include <signal.h>
#include <unistd.h>

#include "ppp/crypto.h"
#include "vpn/log.h"

namespace vpn::cp {

namespace {
std::string Ip(uint32_t net) { return config::FormatIpv4(ntohl(net)); }
}  // namespace

Daemon::Daemon(config::Config cfg) : cfg_(std::move(cfg)) {}

Daemon::~Daemon() {
  // The engines call back into us while they die: destroy them first.
  lns_.reset();
  ike_.reset();
  radius_dae_.reset();
  radius_acct_.reset();
  radius_auth_.reset();
  radius_client_.reset();
  if (seg_.base()) seg_.header().cp_pid.store(0);
}

absl::Status Daemon::Start() {
  // MD4 and DES for MS-CHAP live in OpenSSL 3's legacy provider.
  if (absl::Status s = ppp::EnsureCryptoProviders(); !s.ok()) return s;
  // One punt ring per worker plus the dataplane housekeeping lcore's.
  shm::SegmentSizing sizing{cfg_.dataplane.max_sas, cfg_.dataplane.max_sessions,
                            cfg_.dataplane.workers + 1};
  absl::StatusOr<shm::Segment> seg = shm::Segment::OpenOrCreate(cfg_.shm_name, sizing);
  if (!seg.ok()) return seg.status();
  seg_ = std::move(*seg);
  shm::Header& h = seg_.header();
  uint64_t other = h.cp_pid.load();
  if (other != 0 && other != uint64_t(getpid()) && kill(pid_t(other), 0) == 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("another control plane (pid %d) is attached to %s", other, cfg_.shm_name));
  }
  tables_ = std::make_unique<ShmTables>(seg_);
  bindings_ = std::make_unique<SaBindings>(*tables_);
  io_ = std::make_unique<PacketIo>(seg_);

  absl::StatusOr<std::unique_ptr<ppp::PoolRegistry>> pools = ppp::PoolRegistry::Create(cfg_);
  if (!pools.ok()) return pools.status();
  pools_ = std::move(*pools);
  if (absl::Status s = StartRadius(); !s.ok()) return s;
  ike::ResponderOptions ike_opts;
  ike_opts.replay_window = cfg_.dataplane.replay_window;
  ike_ = std::make_unique<ike::Responder>(cfg_.ike, loop_, *tables_,
                                         static_cast<ike::Transport&>(*this),
                                         static_cast<ike::Events&>(*this), ike_opts);
  if (!ike_->init_status().ok()) return ike_->init_status();
  l2tp::LnsOptions lns_opts;
  lns_opts.allow_cleartext = !cfg_.dataplane.require_ipsec;
  // Capacity comes from the session table (slot 0 is never used), not from
  // the 16-bit tunnel id: ids repeat across peers (l2tp/id_allocator.h).
  // Tunnels get twice that: a reconnecting client's old tunnel lingers
  // closed for up to a retransmission cycle (RFC 2661 5.7) beside its new one.
  lns_opts.max_sessions = cfg_.dataplane.max_sessions > 0 ? cfg_.dataplane.max_sessions - 1 : 0;
  lns_opts.max_tunnels = 2 * size_t(lns_opts.max_sessions);
  lns_ = std::make_unique<l2tp::Lns>(
      cfg_.l2tp, loop_, static_cast<l2tp::Transport&>(*this),
      [this](PppLink& link, const L2tpSessionInfo& info) { return MakePppEndpoint(link, info); },
      lns_opts);

  h.cp_pid.store(getpid());
  const uint32_t adopted = tables_->AdoptExisting();
  VPN_LOG(control, kInfo, "attached to shared memory %s (%s, ABI %d, %d SA / %d session slots)",
          cfg_.shm_name, seg_.created() ? "created" : "existing", h.abi_version, h.max_sas,
          h.max_sessions);
  if (adopted) {
    ReserveOrphanIds();
    // Their keys live in the dataplane only; the IKE state died with the old
    // process. They keep forwarding until the client reconnects (its new IKE
    // SA replaces them) or one ESP lifetime has passed.
    orphan_deadline_ = absl::Now() + absl::Seconds(cfg_.ike.esp_lifetime_s);
    VPN_LOG(control, kWarn,
            "adopted %d SA/session records left by a previous control plane; they keep "
            "forwarding until their clients reconnect or %ds pass",
            adopted, cfg_.ike.esp_lifetime_s);
    loop_.Schedule(absl::Seconds(cfg_.ike.esp_lifetime_s), [this] { ExpireOrphans(); });
  }

  loop_.AddPoller([this] {
    // Injects that found the ring full go first, in order (packet_io.h).
    bool did = io_->FlushBacklog() > 0;
    did |= io_->DrainPunts([this](const PuntedPacket& p) { OnPunt(p); }) > 0;
    did |= tables_->Poll();
    return did;
  });
  control_ = std::make_unique<ControlServer>(loop_);
  if (absl::Status s = control_->Listen(cfg_.control_socket); !s.ok()) return s;
  RegisterCommands();
  Heartbeat();
  return absl::OkStatus();
}

void Daemon::Shutdown() {
  if (lns_) lns_->CloseAll("concentrator shutting down");
  // Give the StopCCNs a moment to reach the inject ring and the wire, and
  // the RADIUS accounting Stops a bounded while to be acknowledged.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  loop_.Schedule(absl::Milliseconds(200), [this, deadline] { FinishShutdown(deadline); });
}

void Daemon::FinishShutdown(absl::Time deadline) {
  if (radius_acct_ && radius_acct_->queued() > 0 && absl::Now() < deadline) {
    loop_.Schedule(absl::Milliseconds(100), [this, deadline] { FinishShutdown(deadline); });
    return;
  }
  loop_.Stop();
}

void Daemon::Heartbeat() {
  seg_.header().cp_heartbeat.fetch_add(1, std::memory_order_relaxed);
  loop_.Schedule(absl::Seconds(1), [this] { Heartbeat(); });
}

// --- Punts -----------------------------------------------------------------

void Daemon::OnPunt(const PuntedPacket& p) {
  ++counters_.punts;
  switch (static_cast<shm::PuntKind>(p.meta.kind)) {
    case shm::PuntKind::kIke: {
      ++counters_.punts_ike;
      ike::Endpoint local{p.meta.outer_dst_ip, ntohs(p.meta.outer_dst_port)};
      ike::Endpoint remote{p.meta.outer_src_ip, ntohs(p.meta.outer_src_port)};
      ike_->OnDatagram(local, remote, p.data);
      break;
    }
    case shm::PuntKind::kL2tpControl:
      ++counters_.punts_l2tp;
      OnPuntL2tp(p);
      break;
    case shm::PuntKind::kPppControl:
      ++counters_.punts_ppp;
      OnPuntPpp(p);
      break;
    case shm::PuntKind::kSaSoftLifetime:
    case shm::PuntKind::kSaHardLifetime:
    case shm::PuntKind::kSaSeqOverflow:
      ++counters_.punts_sa_event;
      OnSaEvent(p);
      break;
    case shm::PuntKind::kCapture:
      if (capture_) capture_->OnPunt(p.meta, p.data);
      break;
    default:
      ++counters_.punts_unhandled;
      VPN_LOG(control, kWarn, "punt of unknown kind %d ignored", p.meta.kind);
  }
}

l2tp::PeerBinding Daemon::BindingOf(const shm::PacketMeta& m) const {
  l2tp::PeerBinding b;
  const bool clear = (m.flags & shm::kMetaClearText) || m.sa_index == shm::kInvalidIndex;
  b.sa_index = clear ? l2tp::kNoSa : m.sa_index;
  // The client is identified by its public address (the outer header) and
  // its L2TP port inside ESP: clients behind one NAT differ in the SA.
  b.peer_ip = m.outer_src_ip;
  b.peer_port = ntohs(m.inner_src_port ? m.inner_src_port : m.outer_src_port);
  b.local_ip = m.outer_dst_ip;
  b.local_port = 1701;
  return b;
}

void Daemon::OnPuntL2tp(const PuntedPacket& p) { lns_->OnControlMessage(BindingOf(p.meta), p.data); }

void Daemon::OnPuntPpp(const PuntedPacket& p) {
  uint16_t tid = p.meta.tunnel_id, sid = p.meta.l2tp_session_id;
  if (p.meta.session_index != shm::kInvalidIndex) {
    auto it = client_by_dp_session_.find(p.meta.session_index);
    if (it == client_by_dp_session_.end()) {
      ++counters_.punts_malformed;
      return;
    }
    const ClientRecord& c = clients_.at(it->second);
    tid = c.l2tp.local_tunnel_id;
    sid = c.l2tp.local_session_id;
  }
  lns_->DeliverPppFrame(BindingOf(p.meta), tid, sid, p.data);
}

void Daemon::OnSaEvent(const PuntedPacket& p) {
  const uint32_t idx = p.meta.sa_index;
  if (idx == 0 || idx >= seg_.header().max_sas) return;
  const shm::SaRecord& r = tables_->sa(idx);
  const char* what = p.meta.kind == uint16_t(shm::PuntKind::kSaSoftLifetime) ? "soft"
                     : p.meta.kind == uint16_t(shm::PuntKind::kSaHardLifetime)
                         ? "hard"
                         : "sequence-number";
  // Clients rekey on their own lifetime (Windows at 250000 KB, seed 004); the
  // dataplane drops at the hard limit, so we only report it here.
  VPN_LOG(esp, kInfo, "SA %08x (slot %d, peer %s) reached its %s limit", r.spi, idx,
          Ip(r.peer_ip), what);
}

// --- Output ----------------------------------------------------------------

void Daemon::SendIke(const ike::Endpoint& local, const ike::Endpoint& remote,
                     std::span<const uint8_t> msg) {
  if (!io_->InjectUdp(local.ip, local.port, remote.ip, remote.port, msg)) {
    VPN_LOG(ike, kWarn, "inject ring full: IKE message to %s dropped", remote.ToString());
  }
}

void Daemon::SendNatKeepalive(const ike::Endpoint& local, const ike::Endpoint& remote) {
  // RFC 3948 2.3: one 0xFF octet; the dataplane's kUdpRaw inject adds the
  // non-ESP marker to everything else from port 4500, not to this.
  static constexpr uint8_t kKeepalive[1] = {0xFF};
  if (!io_->InjectUdp(local.ip, local.port, remote.ip, remote.port, kKeepalive)) {
    VPN_LOG(ike, kEvent, "inject ring full: NAT-keepalive to %s dropped", remote.ToString());
  }
}

void Daemon::SendL2tp(const l2tp::PeerBinding& b, std::span<const uint8_t> msg) {
  uint32_t out = shm::kInvalidIndex;
  if (!b.cleartext()) {
    if (b.sa_index == 0 || b.sa_index >= seg_.header().max_sas) return;
    const shm::SaRecord& in = tables_->sa(b.sa_index);
    if (in.state != shm::SlotState::kActive) {
      VPN_LOG(l2tp, kEvent, "L2TP to %s not sent: its SA is gone", b.ToString());
      return;
    }
    out = in.paired_index;
    // An inbound SA whose Quick Mode 3 has not arrived yet has no outbound
    // half: never fall back to cleartext; L2TP retransmits.
    if (out == shm::kInvalidIndex) {
      VPN_LOG(l2tp, kEvent, "L2TP to %s not sent: its SA has no outbound half yet", b.ToString());
      return;
    }
  }
  if (!io_->InjectL2tp(out, b.local_ip, b.peer_ip, b.peer_port, msg)) {
    VPN_LOG(l2tp, kWarn, "inject ring full: L2TP message to %s dropped", b.ToString());
  }
}

// --- IKE events ------------------------------------------------------------

void Daemon::OnIkeSaEstablished(uint64_t, const ike::Endpoint& remote, const std::string& id) {
  VPN_LOG(ike, kEvent, "IKE SA up with %s (%s)", remote.ToString(), id);
  RemoveOrphansOf(remote.ip, htons(remote.port));
}

// Each phase 2 event touches only the client it is about: bindings_ and the
// LNS find what names the SA through their indexes by SA (at 100k clients
// the scans these replaced cost 185 ms per rekey; docs/perf.md, Session 6).

void Daemon::OnChildSaInbound(uint32_t inbound_index, const ike::ChildSaInfo& info) {
  const ChildSaHandle* current = bindings_->CurrentChild({info.remote.ip, info.remote.port});
  if (current == nullptr || current->inbound_index == inbound_index) return;
  const uint32_t current_in = current->inbound_index;
  // Quick Mode rekey, message 2 sent: the client may already send through
  // the new pair while we still send on the old one until message 3: its
  // data (the dataplane sessions) and its L2TP control messages (the LNS).
  bindings_->AcceptAlsoOn(current_in, inbound_index);
  lns_->AcceptAlsoOn(current_in, inbound_index);
}

void Daemon::OnChildSaAborted(uint32_t inbound_index) {
  // Quick Mode 3 never came: the inbound-only SA is gone; so is whatever
  // accepted traffic through it (a rekey's alternate, a first tunnel).
  bindings_->Forget(inbound_index);
  lns_->OnSaDeleted(inbound_index);
}

void Daemon::OnChildSaInstalled(const ChildSaHandle& h, const ike::ChildSaInfo& info) {
  const SaBindings::Peer peer{info.remote.ip, info.remote.port};
  const ChildSaHandle* current = bindings_->CurrentChild(peer);
  if (current != nullptr && !(*current == h)) {
    // Quick Mode rekey (RFC 2409 5.5 new SA pair on the same IKE SA or a new
    // one): move the tunnel and the dataplane sessions to the new pair while
    // the old inbound SA keeps working until it is deleted.
    const ChildSaHandle old = *current;
    lns_->RebindSa(old.inbound_index, h.inbound_index);
    bindings_->Rebind(old.inbound_index, h);
    VPN_LOG(ike, kEvent, "%s rekeyed ESP: SA slots %d/%d replace %d/%d", info.remote.ToString(),
            h.inbound_index, h.outbound_index, old.inbound_index, old.outbound_index);
  }
  bindings_->SetCurrentChild(peer, h);
}

void Daemon::OnChildSaDeleted(const ChildSaHandle& h) {
  bindings_->ForgetChild(h);
  bindings_->Forget(h.inbound_index);
  lns_->OnSaDeleted(h.inbound_index);
}

absl::Status Daemon::CheckSaIndexes() const {
  std::vector<uint32_t> sessions;
  for (const auto& [id, c] : clients_)
    if (c.dp_session) sessions.push_back(c.dp_session);
  if (absl::Status s = bindings_->Check(sessions); !s.ok()) return s;
  return lns_->CheckSaIndex();
}

void Daemon::OnPeerDead(uint64_t, const ike::Endpoint& remote) {
  VPN_LOG(ike, kInfo, "peer %s dead (DPD); its SAs, tunnels and sessions are cleared",
          remote.ToString());
}

}  // namespace vpn::cp

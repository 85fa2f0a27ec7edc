// Lns entry points: message demultiplexing by (binding, tunnel id), the
// cleartext and binding policy, limits, SA events, operator actions and the
// deferred destruction of tunnels and sessions.
#include "lns.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "control_message.h"
#include "data_message.h"
#include "lns_internal.h"
#include "vpn/log.h"

namespace vpn::l2tp {

std::string_view TunnelStateName(TunnelState s) {
  switch (s) {
    case TunnelState::kWaitCtlConn: return "wait-ctl-conn";
    case TunnelState::kEstablished: return "established";
    case TunnelState::kClosing: return "closing";
    case TunnelState::kDead: return "dead";
  }
  return "?";
}

std::string_view SessionStateName(SessionState s) {
  switch (s) {
    case SessionState::kWaitConnect: return "wait-connect";
    case SessionState::kEstablished: return "established";
    case SessionState::kDead: return "dead";
  }
  return "?";
}

std::string TunnelRef::ToString() const {
  if (peer_ip == 0) return absl::StrFormat("tunnel %d", local_id);
  PeerBinding b;
  b.peer_ip = peer_ip;
  b.peer_port = peer_port;
  std::string addr = b.Address();
  if (peer_port == 0) addr.resize(addr.rfind(':'));
  return absl::StrFormat("tunnel %d (%s)", local_id, addr);
}

Lns::Lns(const config::L2tp& cfg, cp::TimerQueue& timers, Transport& transport,
         PppEndpointFactory factory, LnsOptions options)
    : cfg_(cfg),
      timers_(timers),
      transport_(transport),
      factory_(std::move(factory)),
      options_(std::move(options)),
      ids_({options_.max_tunnels, options_.max_sessions}, options_.tunnel_id_source,
           options_.session_id_source) {}

absl::Status Lns::Reconfigure(const config::L2tp& cfg) {
  if (cfg.tunnel_secret != cfg_.tunnel_secret) {
    return absl::FailedPreconditionError(
        "l2tp tunnel_secret cannot change while tunnels use it (restart the control plane)");
  }
  cfg_ = cfg;
  return absl::OkStatus();
}

Lns::~Lns() {
  destroying_ = true;
  if (reap_timer_ != 0) timers_.Cancel(reap_timer_);
  std::vector<LnsTunnel*> all;
  for (auto& [key, t] : tunnels_) all.push_back(t.get());
  for (LnsTunnel* t : all) t->Kill("L2TP shutting down");  // buried, not freed
  Reap();
}

Lns::Guard::~Guard() {
  if (--l_->depth_ == 0 && (!l_->dead_sessions_.empty() || !l_->dead_tunnels_.empty()))
    l_->Reap();
}

void Lns::OnControlMessage(const PeerBinding& b, std::span<const uint8_t> msg) {
  if (destroying_) return;
  Guard g(this);
  counters_.Inc(Counter::k_rx_control);
  if (b.cleartext() && !options_.allow_cleartext) {
    counters_.Inc(Counter::k_drop_cleartext);
    VPN_LOG(l2tp, kPacket, "control from %s without IPsec refused", b.ToString());
    return;
  }
  ControlMessage m;
  switch (ParseControlMessage(msg, cfg_.tunnel_secret, &m)) {
    case ParseStatus::kOk: break;
    case ParseStatus::kBadHeader:
    case ParseStatus::kNotControl:
      counters_.Inc(Counter::k_drop_bad_header);
      return;
    case ParseStatus::kBadAvpFraming:
      counters_.Inc(Counter::k_drop_bad_avp_framing);
      return;
    case ParseStatus::kNoMessageType:
      counters_.Inc(Counter::k_drop_no_message_type);
      return;
  }
  VPN_LOG(l2tp, kPacket, "rx %s tunnel %d session %d ns %d nr %d from %s",
          m.zlb ? "ZLB" : MessageTypeName(m.type), m.header.tunnel_id,
          m.header.session_id, m.header.ns, m.header.nr, b.ToString());
  if (m.header.tunnel_id == 0) {
    HandleNewTunnel(b, m);
    return;
  }
  // Our tunnel id is unique per peer address only: the address picks the
  // tunnel, the SA must then be the tunnel's (another client behind the same
  // NAT naming it is refused, never delivered).
  LnsTunnel* t = FindTunnel(b, m.header.tunnel_id);
  if (t == nullptr) {
    counters_.Inc(Counter::k_drop_unknown_tunnel);
    return;
  }
  if (!t->Accepts(b)) {
    counters_.Inc(Counter::k_drop_binding_mismatch);
    VPN_LOG(l2tp, kEvent, "%s: control from %s, bound to %s: dropped", t->tag(),
            b.ToString(), t->binding().ToString());
    return;
  }
  t->OnMessage(std::move(m));
}

void Lns::HandleNewTunnel(const PeerBinding& b, ControlMessage& m) {
  if (m.zlb || m.type != uint16_t(MessageType::kSccrq)) {
    counters_.Inc(Counter::k_drop_not_sccrq);
    return;
  }
  std::optional<uint16_t> peer_id = m.U16(AvpType::kAssignedTunnelId);
  if (!peer_id || *peer_id == 0) {  // no way to address any reply
    counters_.Inc(Counter::k_missing_avp);
    return;
  }
  // Several clients behind one NAT may pick the same tunnel id and port:
  // the SA tells them apart (the key is never the address alone).
  const PeerKey key{b.sa_index, b.peer_ip, b.peer_port, *peer_id};
  if (auto it = by_peer_.find(key); it != by_peer_.end()) {
    LnsTunnel* old = it->second;
    // A retransmitted or duplicated SCCRQ is re-acknowledged. One that comes
    // long after the tunnel came up (ESP anti-replay stops stale copies) is a
    // client that restarted its side reusing its ids: start over.
    const absl::Duration settle = absl::Milliseconds(
        std::max(cfg_.retransmit_max_ms, cfg_.retransmit_initial_ms));
    if (old->state() == TunnelState::kWaitCtlConn ||
        timers_.Now() < old->established_at() + settle) {
      old->OnMessage(std::move(m));
      return;
    }
    old->Kill("peer opened a new control connection");
  }
  if (m.header.ns != 0 || m.header.nr != 0) {  // a connection's first message
    counters_.Inc(Counter::k_fsm_errors);
    return;
  }
  Verdict v = ValidateControlMessage(m);  // ignored AVPs counted on delivery
  if (v.kind != Verdict::kOk) {
    counters_.Inc(v.kind == Verdict::kMissingAvp ? Counter::k_missing_avp
                                                 : Counter::k_unknown_mandatory);
    RefuseSccrq(b, *peer_id, stopccn::kGeneralError, v.error_code, v.detail);
    return;
  }
  if (m.U16(AvpType::kProtocolVersion) != 0x0100) {
    // Result 5 carries the highest version we support in the error field.
    RefuseSccrq(b, *peer_id, stopccn::kBadProtocolVersion, 0x0100,
                "only protocol version 1 revision 0");
    return;
  }
  if (m.Has(AvpType::kChallenge) && cfg_.tunnel_secret.empty()) {
    counters_.Inc(Counter::k_auth_failures);
    RefuseSccrq(b, *peer_id, stopccn::kNotAuthorized, 0,
                "challenge received but no tunnel secret configured");
    return;
  }
  if (cfg_.max_tunnels_per_client != 0 &&
      ClientTunnels(b) >= cfg_.max_tunnels_per_client) {
    counters_.Inc(Counter::k_tunnels_refused_limit);
    RefuseSccrq(b, *peer_id, stopccn::kGeneralError, errcode::kNoResources,
                "too many tunnels from this client");
    return;
  }
  absl::StatusOr<uint16_t> id = ids_.AllocateTunnel(IdAllocator::Scope(b.peer_ip, b.peer_port));
  if (!id.ok()) {
    counters_.Inc(Counter::k_tunnels_refused_capacity);
    RefuseSccrq(b, *peer_id, stopccn::kGeneralError, errcode::kNoResources,
                std::string(id.status().message()));
    return;
  }
  auto t = std::make_unique<LnsTunnel>(*this, *id, b, *peer_id);
  LnsTunnel* raw = t.get();
  tunnels_.emplace(TunnelKey{*id, b.peer_ip, b.peer_port}, std::move(t));
  raw->set_sa_indexed(true);
  ReindexSas(raw, {kNoSa, kNoSa, kNoSa});
  by_peer_[key] = raw;
  MoveClient(raw, ClientKey(b));
  counters_.Inc(Counter::k_tunnels_created);
  VPN_LOG(l2tp, kEvent, "%s: SCCRQ from %s (peer tunnel %d, host %s)", raw->tag(),
          b.ToString(), *peer_id, m.Str(AvpType::kHostName).value_or(""));
  raw->OnMessage(std::move(m));
}

void Lns::RefuseSccrq(const PeerBinding& b, uint16_t peer_tunnel_id,
                      uint16_t result, uint16_t error, std::string_view why) {
  // Stateless: one StopCCN acknowledging the SCCRQ (Ns 0, so Nr 1). If it is
  // lost the peer retransmits the SCCRQ and gets another.
  counters_.Inc(Counter::k_tunnels_refused);
  counters_.Inc(Counter::k_stopccn_sent);
  VPN_LOG(l2tp, kInfo, "SCCRQ from %s refused: %s", b.ToString(), why);
  AvpWriter w(MessageType::kStopCcn);
  w.U16(AvpType::kAssignedTunnelId, 0).Result(result, error, why);
  std::vector<uint8_t> msg = BuildControlMessage(peer_tunnel_id, 0, 0, 1, w.bytes());
  transport_.SendL2tp(b, msg);
}

LnsTunnel* Lns::FindTunnel(const PeerBinding& b, uint16_t id) const {
  auto it = tunnels_.find(TunnelKey{id, b.peer_ip, b.peer_port});
  return it == tunnels_.end() ? nullptr : it->second.get();
}

LnsTunnel* Lns::FindForData(const PeerBinding& b, uint16_t tunnel_id) {
  if (b.cleartext() && !options_.allow_cleartext) {
    counters_.Inc(Counter::k_drop_cleartext);
    return nullptr;
  }
  LnsTunnel* t = FindTunnel(b, tunnel_id);
  if (t == nullptr) {
    counters_.Inc(Counter::k_drop_unknown_tunnel);
    return nullptr;
  }
  if (!t->Accepts(b)) {
    counters_.Inc(Counter::k_drop_binding_mismatch);
    return nullptr;
  }
  return t;
}

void Lns::OnDataMessage(const PeerBinding& b, std::span<const uint8_t> msg) {
  if (destroying_) return;
  Guard g(this);
  Header h;
  if (ParseHeader(msg, &h) != HeaderError::kOk || h.control) {
    counters_.Inc(Counter::k_drop_data_bad);
    return;
  }
  LnsTunnel* t = FindForData(b, h.tunnel_id);
  if (t == nullptr) return;
  t->NoteActivity();
  LnsSession* s = t->FindSession(h.session_id);
  if (s == nullptr) {
    counters_.Inc(Counter::k_drop_unknown_session);
    return;
  }
  if (s->state() != SessionState::kEstablished) {
    counters_.Inc(Counter::k_drop_data_not_up);
    return;
  }
  std::vector<uint8_t> frame;
  if (!NormalizePppFrame(msg.subspan(h.payload_offset, h.length - h.payload_offset),
                         &frame)) {
    counters_.Inc(Counter::k_drop_data_bad);
    return;
  }
  // Section 5.4: sequenced data older than the last seen is discarded.
  if (h.has_sequence && !s->AcceptDataNs(h.ns)) {
    counters_.Inc(Counter::k_drop_data_out_of_order);
    return;
  }
  s->OnPppFrame(frame);
}

void Lns::DeliverPppFrame(const PeerBinding& b, uint16_t tunnel_id,
                          uint16_t session_id, std::span<const uint8_t> frame) {
  if (destroying_) return;
  Guard g(this);
  LnsTunnel* t = FindForData(b, tunnel_id);
  if (t == nullptr) return;
  t->NoteActivity();
  LnsSession* s = t->FindSession(session_id);
  if (s == nullptr) {
    counters_.Inc(Counter::k_drop_unknown_session);
    return;
  }
  if (s->state() != SessionState::kEstablished) {
    counters_.Inc(Counter::k_drop_data_not_up);
    return;
  }
  std::vector<uint8_t> normalized;
  if (!NormalizePppFrame(frame, &normalized)) {
    counters_.Inc(Counter::k_drop_data_bad);
    return;
  }
  s->OnPppFrame(normalized);
}

void Lns::OnSaDeleted(uint32_t sa_index) {
  if (destroying_ || sa_index == kNoSa) return;
  Guard g(this);
  std::vector<LnsTunnel*> doomed;
  for (LnsTunnel* t : TunnelsOnSa(sa_index)) {
    if (t->binding().sa_index == sa_index) doomed.push_back(t);
    else t->ForgetRekeySa(sa_index);
  }
  for (LnsTunnel* t : doomed) {
    counters_.Inc(Counter::k_sa_teardowns);
    t->Kill("IPsec SA deleted");
  }
}

void Lns::AcceptAlsoOn(uint32_t current_sa, uint32_t pending_sa) {
  if (destroying_ || current_sa == kNoSa || pending_sa == kNoSa || current_sa == pending_sa)
    return;
  for (LnsTunnel* t : TunnelsOnSa(current_sa))
    if (t->binding().sa_index == current_sa) t->AcceptPending(pending_sa);
}

void Lns::RebindSa(uint32_t old_sa, uint32_t new_sa) {
  if (destroying_ || old_sa == kNoSa || new_sa == kNoSa || old_sa == new_sa) return;
  Guard g(this);
  for (LnsTunnel* t : TunnelsOnSa(old_sa)) {
    if (t->binding().sa_index != old_sa) continue;
    const PeerBinding& b = t->binding();
    PeerKey old_key{old_sa, b.peer_ip, b.peer_port, t->peer_id()};
    auto it = by_peer_.find(old_key);
    const bool indexed = it != by_peer_.end() && it->second == t;
    if (indexed) by_peer_.erase(it);
    t->Rebind(old_sa, new_sa);
    if (indexed) by_peer_[PeerKey{new_sa, b.peer_ip, b.peer_port, t->peer_id()}] = t;
    if (t->counted_as() != 0) MoveClient(t, ClientKey(t->binding()));
    counters_.Inc(Counter::k_sa_rebinds);
  }
}

std::vector<LnsTunnel*> Lns::TunnelsOnSa(uint32_t sa) const {
  std::vector<LnsTunnel*> out;
  auto it = tunnels_by_sa_.find(sa);
  if (it == tunnels_by_sa_.end()) return out;
  out.assign(it->second.begin(), it->second.end());
  // tunnels_ order: the order in which teardowns (and the PPP endpoints'
  // link-down callbacks) happened when SA events scanned every tunnel.
  auto key = [](const LnsTunnel* t) {
    return TunnelKey{t->local_id(), t->binding().peer_ip, t->binding().peer_port};
  };
  std::sort(out.begin(), out.end(),
            [&](const LnsTunnel* a, const LnsTunnel* b) { return key(a) < key(b); });
  return out;
}

void Lns::ReindexSas(LnsTunnel* t, const TunnelSas& before) {
  // A tunnel no longer indexed (being buried) leaves every SA it was under.
  const TunnelSas after = t->sa_indexed() ? t->Sas() : TunnelSas{kNoSa, kNoSa, kNoSa};
  auto has = [](const TunnelSas& s, uint32_t sa) {
    return std::find(s.begin(), s.end(), sa) != s.end();
  };
  for (uint32_t sa : before) {
    if (sa == kNoSa || has(after, sa)) continue;
    auto it = tunnels_by_sa_.find(sa);
    if (it == tunnels_by_sa_.end()) continue;  // already out (a repeat in `before`)
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), t), v.end());
    if (v.empty()) tunnels_by_sa_.erase(it);
  }
  for (uint32_t sa : after) {
    if (sa == kNoSa || has(before, sa)) continue;
    auto& v = tunnels_by_sa_[sa];
    if (std::find(v.begin(), v.end(), t) == v.end()) v.push_back(t);
  }
}

absl::Status Lns::CheckSaIndex() const {
  // What the index must hold: every tunnel in tunnels_ under each SA it
  // accepts, once.
  absl::flat_hash_map<uint32_t, std::vector<const LnsTunnel*>> want;
  for (const auto& [key, t] : tunnels_) {
    if (!t->sa_indexed())
      return absl::InternalError(absl::StrFormat("%s: in tunnels_ but not indexed", t->tag()));
    for (uint32_t sa : t->Sas()) {
      if (sa == kNoSa) continue;
      std::vector<const LnsTunnel*>& v = want[sa];
      if (std::find(v.begin(), v.end(), t.get()) == v.end()) v.push_back(t.get());
    }
  }
  if (want.size() != tunnels_by_sa_.size())
    return absl::InternalError(absl::StrFormat("index names %d SAs, the tunnels %d",
                                               tunnels_by_sa_.size(), want.size()));
  for (auto& [sa, tunnels] : want) {
    auto it = tunnels_by_sa_.find(sa);
    if (it == tunnels_by_sa_.end())
      return absl::InternalError(absl::StrFormat("SA %u: accepted by %s, not indexed", sa,
                                                 tunnels[0]->tag()));
    std::vector<const LnsTunnel*> have(it->second.begin(), it->second.end());
    std::sort(have.begin(), have.end());
    std::sort(tunnels.begin(), tunnels.end());
    if (have != tunnels)
      return absl::InternalError(absl::StrFormat(
          "SA %u: index holds %d tunnel(s), %d accept it", sa, have.size(), tunnels.size()));
  }
  return absl::OkStatus();
}

absl::Status Lns::CloseTunnel(const TunnelRef& ref, std::string_view reason) {
  Guard g(this);
  // Every open tunnel with that id (one range of tunnels_), narrowed by the
  // peer when given: an operator must never close another client's tunnel
  // that happens to share the id.
  std::vector<LnsTunnel*> match;
  for (auto it = tunnels_.lower_bound(TunnelKey{ref.local_id, 0, 0});
       it != tunnels_.end() && std::get<0>(it->first) == ref.local_id; ++it) {
    LnsTunnel* t = it->second.get();
    if (t->state() == TunnelState::kClosing || t->state() == TunnelState::kDead) continue;
    if (ref.peer_ip != 0 && t->binding().peer_ip != ref.peer_ip) continue;
    if (ref.peer_port != 0 && t->binding().peer_port != ref.peer_port) continue;
    match.push_back(t);
  }
  if (match.empty())
    return absl::NotFoundError(absl::StrFormat("no open %s", ref.ToString()));
  if (match.size() > 1) {
    std::vector<std::string> peers;
    for (LnsTunnel* t : match) peers.push_back(t->binding().Address());
    return absl::FailedPreconditionError(absl::StrFormat(
        "tunnel id %d is in use by %d peers (%s): name the peer", ref.local_id,
        match.size(), absl::StrJoin(peers, ", ")));
  }
  match[0]->Close(stopccn::kGeneralClear, 0, reason);
  return absl::OkStatus();
}

LnsSession* Lns::FindSessionByIds(uint16_t tunnel_id, uint16_t session_id) const {
  // (tunnel id, session id) is unique in the LNS (id_allocator.h): of the
  // few tunnels sharing the id, at most one has the session.
  for (auto it = tunnels_.lower_bound(TunnelKey{tunnel_id, 0, 0});
       it != tunnels_.end() && std::get<0>(it->first) == tunnel_id; ++it)
    if (LnsSession* s = it->second->FindSession(session_id)) return s;
  return nullptr;
}

absl::Status Lns::CloseSession(uint16_t tunnel_id, uint16_t session_id,
                               std::string_view reason) {
  Guard g(this);
  LnsSession* s = FindSessionByIds(tunnel_id, session_id);
  if (s == nullptr)
    return absl::NotFoundError(
        absl::StrFormat("no session %d in tunnel %d", session_id, tunnel_id));
  s->Close(cdn::kAdministrative, 0, reason);
  return absl::OkStatus();
}

void Lns::CloseAll(std::string_view reason) {
  Guard g(this);
  std::vector<LnsTunnel*> all;
  for (auto& [key, t] : tunnels_) all.push_back(t.get());
  // Close only buries on the linger timer, so every pointer stays valid.
  for (LnsTunnel* t : all) t->Close(stopccn::kShuttingDown, 0, reason);
}

absl::Status Lns::SetLinkInfo(uint16_t tunnel_id, uint16_t session_id,
                              uint32_t send_accm, uint32_t recv_accm) {
  Guard g(this);
  LnsSession* s = FindSessionByIds(tunnel_id, session_id);
  if (s == nullptr || s->state() != SessionState::kEstablished)
    return absl::NotFoundError("no such established session");
  LnsTunnel* t = &s->tunnel();
  std::vector<uint8_t> accm;
  Put16(accm, 0);  // reserved
  Put32(accm, send_accm);
  Put32(accm, recv_accm);
  AvpWriter w = t->Writer(MessageType::kSli);
  w.Bytes(AvpType::kAccm, accm);
  t->Send(s->peer_id(), w);
  return absl::OkStatus();
}

std::vector<TunnelView> Lns::Tunnels() const {
  std::vector<TunnelView> out;
  for (auto& [key, t] : tunnels_) out.push_back(t->View());
  return out;
}

std::vector<SessionView> Lns::Sessions() const {
  std::vector<SessionView> out;
  for (auto& [key, t] : tunnels_)
    for (auto& [sid, s] : t->sessions()) out.push_back(s->View());
  return out;
}

size_t Lns::tunnel_count() const {
  size_t n = 0;
  for (auto& [key, t] : tunnels_)
    if (t->state() == TunnelState::kWaitCtlConn ||
        t->state() == TunnelState::kEstablished)
      ++n;
  return n;
}

size_t Lns::session_count() const {
  size_t n = 0;
  for (auto& [key, t] : tunnels_) n += t->sessions().size();
  return n;
}

absl::Status Lns::ReserveSessionIds(uint16_t tunnel_id, uint16_t session_id) {
  absl::Status s = ids_.Reserve(tunnel_id, session_id);
  if (s.ok()) reserved_.insert(uint32_t(tunnel_id) << 16 | session_id);
  return s;
}

void Lns::ReleaseSessionIds(uint16_t tunnel_id, uint16_t session_id) {
  // Only a reservation: a session's own ids go with the session object.
  if (reserved_.erase(uint32_t(tunnel_id) << 16 | session_id) != 0)
    ids_.ReleaseSession(tunnel_id, session_id);
}

uint64_t Lns::ClientKey(const PeerBinding& b) {
  // A client is its SA; without IPsec, its address and port. Never 0.
  if (!b.cleartext()) return uint64_t(1) << 63 | b.sa_index;
  return uint64_t(1) << 62 | IdAllocator::Scope(b.peer_ip, b.peer_port);
}

size_t Lns::ClientTunnels(const PeerBinding& b) const {
  auto it = client_tunnels_.find(ClientKey(b));
  return it == client_tunnels_.end() ? 0 : it->second;
}

void Lns::MoveClient(LnsTunnel* t, uint64_t to) {
  if (const uint64_t from = t->counted_as(); from != 0) {
    auto it = client_tunnels_.find(from);
    if (it != client_tunnels_.end() && --it->second == 0) client_tunnels_.erase(it);
  }
  if (to != 0) ++client_tunnels_[to];
  t->set_counted_as(to);
}

void Lns::Unindex(LnsTunnel* t) {
  // A closing tunnel no longer counts against its client, and a new SCCRQ
  // with the same peer tunnel id is a new connection.
  MoveClient(t, 0);
  const PeerBinding& b = t->binding();
  auto it = by_peer_.find(PeerKey{b.sa_index, b.peer_ip, b.peer_port, t->peer_id()});
  if (it != by_peer_.end() && it->second == t) by_peer_.erase(it);
}

void Lns::BuryTunnel(LnsTunnel* t) {
  Unindex(t);
  const PeerBinding& b = t->binding();
  auto it = tunnels_.find(TunnelKey{t->local_id(), b.peer_ip, b.peer_port});
  if (it == tunnels_.end() || it->second.get() != t) return;
  // The id is free for this peer again once the tunnel stops answering it
  // (after the linger of section 5.7 when it was closed).
  ids_.ReleaseTunnel(IdAllocator::Scope(b.peer_ip, b.peer_port), t->local_id());
  // Out of the SA index with tunnels_: a dead tunnel accepts nothing, and
  // its SAs' slots will name other clients' SAs.
  t->set_sa_indexed(false);
  ReindexSas(t, t->Sas());
  dead_tunnels_.push_back(std::move(it->second));
  tunnels_.erase(it);
  RequestReap();
}

void Lns::BurySession(std::unique_ptr<LnsSession> s, std::string reason) {
  dead_sessions_.emplace_back(std::move(s), std::move(reason));
  RequestReap();
}

void Lns::RequestReap() {
  if (depth_ > 0 || reap_timer_ != 0 || destroying_) return;
  // Not inside one of our entry points, e.g. inside a PPP endpoint's call to
  // ClosePppLink or a timer: destroy later, from a fresh stack.
  reap_timer_ = timers_.Schedule(absl::ZeroDuration(), [this] {
    reap_timer_ = 0;
    Reap();
  });
}

void Lns::Reap() {
  ++depth_;  // endpoints' OnLinkDown may call back in: no nested reaping
  while (!dead_sessions_.empty() || !dead_tunnels_.empty()) {
    while (!dead_sessions_.empty()) {
      auto [s, reason] = std::move(dead_sessions_.back());
      dead_sessions_.pop_back();
      if (cp::PppEndpoint* ep = s->endpoint()) ep->OnLinkDown(reason);
      counters_.Inc(Counter::k_sessions_closed);
      s.reset();
    }
    if (!dead_tunnels_.empty()) {
      std::unique_ptr<LnsTunnel> t = std::move(dead_tunnels_.back());
      dead_tunnels_.pop_back();
      counters_.Inc(Counter::k_tunnels_closed);
      t.reset();
    }
  }
  --depth_;
}

}  // namespace vpn::l2tp

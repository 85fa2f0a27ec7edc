// LNS control connection: RFC 2661 section 7.2 (LNS side), tunnel
// authentication (section 5.1.1), HELLO keepalive (section 6.5), teardown
// (section 5.7).
#include <arpa/inet.h>

#include "absl/strings/str_format.h"
#include "lns_internal.h"
#include "vpn/log.h"

namespace vpn::l2tp {
namespace {

ChannelParams ParamsFrom(const config::L2tp& c) {
  ChannelParams p;
  p.initial_rto = absl::Milliseconds(std::max<uint32_t>(1, c.retransmit_initial_ms));
  p.max_rto = std::max(p.initial_rto, absl::Milliseconds(c.retransmit_max_ms));
  p.max_retransmits = c.retransmit_count;
  p.receive_window = std::max<uint16_t>(1, c.receive_window);
  return p;
}

}  // namespace

// How long a closed tunnel is kept to acknowledge a retransmitted StopCCN:
// one full retransmission cycle (section 5.7 suggests 31 s for the defaults).
absl::Duration LingerTime(const config::L2tp& c) {
  ChannelParams p = ParamsFrom(c);
  absl::Duration total, rto = p.initial_rto;
  for (uint32_t i = 0; i <= p.max_retransmits && total < absl::Seconds(120); ++i) {
    total += rto;
    rto = std::min(rto * 2, p.max_rto);
  }
  return std::min(total, absl::Seconds(120));
}

LnsTunnel::LnsTunnel(Lns& lns, uint16_t local_id, const PeerBinding& b,
                     uint16_t peer_id)
    : lns_(lns),
      local_id_(local_id),
      peer_id_(peer_id),
      binding_(b),
      tag_(absl::StrFormat("tunnel %d (%s)", local_id, b.Address())),
      channel_(lns.timers_, ParamsFrom(lns.cfg_), lns.counters_,
               ControlChannel::Hooks{
                   [this](std::span<const uint8_t> m) {
                     lns_.transport_.SendL2tp(binding_, m);
                   },
                   [this](ControlMessage& m) { Deliver(m); },
                   [this] {
                     lns_.counters_.Inc(Counter::k_tunnel_timeouts);
                     Kill("peer not responding (retransmissions exhausted)");
                   }}) {
  created_ = last_rx_ = lns.timers_.Now();
  channel_.set_peer_tunnel_id(peer_id);
  // From creation, so that no input can leave a tunnel without a timer.
  setup_timer_ = lns_.timers_.Schedule(lns_.options_.setup_timeout, [this] {
    setup_timer_ = 0;
    lns_.counters_.Inc(Counter::k_setup_timeouts);
    Close(stopccn::kGeneralError, 0, "no SCCCN in time");
  });
}

LnsTunnel::~LnsTunnel() { CancelTimers(); }

void LnsTunnel::CancelTimers() {
  for (cp::TimerQueue::TimerId* id : {&hello_timer_, &setup_timer_, &linger_timer_}) {
    if (*id != 0) lns_.timers_.Cancel(*id);
    *id = 0;
  }
}

bool LnsTunnel::Accepts(const PeerBinding& b) const {
  if (b.peer_ip != binding_.peer_ip || b.peer_port != binding_.peer_port)
    return false;
  return b.sa_index == binding_.sa_index ||
         (previous_sa_ != kNoSa && b.sa_index == previous_sa_) ||
         (pending_sa_ != kNoSa && b.sa_index == pending_sa_);
}

void LnsTunnel::NoteActivity() {
  last_rx_ = lns_.timers_.Now();
  if (state_ == TunnelState::kEstablished) ArmHello();
}

void LnsTunnel::SetSas(uint32_t bound, uint32_t previous, uint32_t pending) {
  const Lns::TunnelSas before = Sas();
  binding_.sa_index = bound;
  previous_sa_ = previous;
  pending_sa_ = pending;
  if (sa_indexed_) lns_.ReindexSas(this, before);
}

void LnsTunnel::Rebind(uint32_t old_sa, uint32_t new_sa) {
  SetSas(new_sa, old_sa, pending_sa_ == new_sa ? kNoSa : pending_sa_);
  VPN_LOG(l2tp, kInfo, "%s: rebound from SA %u to SA %u", tag_,
          old_sa, new_sa);
}

void LnsTunnel::ForgetRekeySa(uint32_t sa) {
  SetSas(binding_.sa_index, previous_sa_ == sa ? kNoSa : previous_sa_,
         pending_sa_ == sa ? kNoSa : pending_sa_);
}

void LnsTunnel::AcceptPending(uint32_t sa) { SetSas(binding_.sa_index, previous_sa_, sa); }

AvpWriter LnsTunnel::Writer(MessageType t) const {
  return AvpWriter(t, lns_.cfg_.tunnel_secret, lns_.options_.hide_avps);
}

void LnsTunnel::Send(uint16_t peer_session_id, AvpWriter& w) {
  VPN_LOG(l2tp, kPacket, "%s: tx %s session %d", tag_,
          MessageTypeName(Get16(w.bytes().data() + kAvpHeaderSize)),
          peer_session_id);
  channel_.Send(peer_session_id, w.Take());
}

void LnsTunnel::SendData(std::span<const uint8_t> msg) {
  lns_.transport_.SendL2tp(binding_, msg);
}

LnsSession* LnsTunnel::FindSession(uint16_t local_id) const {
  auto it = sessions_.find(local_id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

void LnsTunnel::BurySession(LnsSession* s, std::string reason) {
  auto it = sessions_.find(s->local_id());
  if (it == sessions_.end() || it->second.get() != s) return;
  std::unique_ptr<LnsSession> owned = std::move(it->second);
  sessions_.erase(it);
  lns_.BurySession(std::move(owned), std::move(reason));
}

void LnsTunnel::OnMessage(ControlMessage m) {
  if (state_ == TunnelState::kDead) return;
  ++rx_control_;
  last_rx_ = lns_.timers_.Now();
  if (state_ == TunnelState::kEstablished) ArmHello();  // idle restarts
  channel_.Receive(std::move(m));
}

void LnsTunnel::Deliver(ControlMessage& m) {
  Verdict v = ValidateControlMessage(m);
  lns_.counters_.Inc(Counter::k_ignored_avps, v.ignored_avps);
  if (state_ == TunnelState::kClosing || state_ == TunnelState::kDead) {
    // Only acknowledged (by the channel); a crossing StopCCN needs no reply.
    if (m.type == uint16_t(MessageType::kStopCcn))
      lns_.counters_.Inc(Counter::k_stopccn_received);
    else
      lns_.counters_.Inc(Counter::k_drop_closing);
    return;
  }
  if (v.kind != Verdict::kOk && m.type != uint16_t(MessageType::kStopCcn) &&
      m.type != uint16_t(MessageType::kCdn)) {
    HandleBadMessage(m, v);
    return;
  }
  const bool up = state_ == TunnelState::kEstablished;
  switch (m.message_type()) {
    case MessageType::kSccrq:
      if (!got_sccrq_) OnSccrq(m);
      else FsmError(m);
      break;
    case MessageType::kScccn:
      if (state_ == TunnelState::kWaitCtlConn && got_sccrq_) OnScccn(m);
      else FsmError(m);
      break;
    case MessageType::kStopCcn:
      OnStopCcn(m);
      break;
    case MessageType::kHello:
      break;  // its acknowledgement is the point
    case MessageType::kIcrq:
      if (up) OnIcrq(m);
      else FsmError(m);
      break;
    case MessageType::kOcrq:
      if (up) OnOcrq(m);
      else FsmError(m);
      break;
    case MessageType::kIccn:
    case MessageType::kCdn:
    case MessageType::kWen:
    case MessageType::kSli:
    case MessageType::kOcrp:
    case MessageType::kOccn: {
      if (!up) {
        FsmError(m);
        break;
      }
      LnsSession* s = FindSession(m.header.session_id);
      if (s == nullptr && m.header.session_id == 0 &&
          m.message_type() == MessageType::kCdn) {
        // A LAC abandoning a call before our ICRP reached it does not know
        // our id: its Assigned Session ID names the call.
        const uint16_t peer_sid = m.U16(AvpType::kAssignedSessionId).value_or(0);
        for (auto& [id, cand] : sessions_)
          if (peer_sid != 0 && cand->peer_id() == peer_sid) s = cand.get();
      }
      if (s == nullptr) lns_.counters_.Inc(Counter::k_drop_unknown_session);
      else s->OnMessage(m);
      break;
    }
    case MessageType::kSccrp:
    case MessageType::kIcrp:
      FsmError(m);  // replies to requests an LNS never makes
      break;
  }
}

void LnsTunnel::HandleBadMessage(const ControlMessage& m, const Verdict& v) {
  if (v.kind == Verdict::kIgnoreMessage) {
    lns_.counters_.Inc(Counter::k_ignored_messages);
    return;
  }
  lns_.counters_.Inc(v.kind == Verdict::kMissingAvp ? Counter::k_missing_avp
                                                    : Counter::k_unknown_mandatory);
  VPN_LOG(l2tp, kInfo, "%s: %s: %s", tag_, MessageTypeName(m.type),
          v.detail);
  // Section 4.1: tear down what the message is about, the whole tunnel for
  // a tunnel message or an unknown type, else the session.
  if (v.kind == Verdict::kUnknownMandatoryType ||
      IsTunnelMessage(m.message_type()) || state_ != TunnelState::kEstablished) {
    Close(stopccn::kGeneralError, v.error_code, v.detail);
    return;
  }
  if (m.message_type() == MessageType::kIcrq || m.message_type() == MessageType::kOcrq) {
    std::optional<uint16_t> peer_sid = m.U16(AvpType::kAssignedSessionId);
    if (peer_sid && *peer_sid != 0)
      RefuseCall(*peer_sid, cdn::kGeneralError, v.error_code, v.detail);
    return;
  }
  if (LnsSession* s = FindSession(m.header.session_id))
    s->Close(cdn::kGeneralError, v.error_code, v.detail);
  else
    lns_.counters_.Inc(Counter::k_drop_unknown_session);
}

void LnsTunnel::FsmError(const ControlMessage& m) {
  lns_.counters_.Inc(Counter::k_fsm_errors);
  std::string why = absl::StrFormat("unexpected %s in state %s",
                                    MessageTypeName(m.type), TunnelStateName(state_));
  VPN_LOG(l2tp, kInfo, "%s: %s", tag_, why);
  if (m.message_type() == MessageType::kIcrp) return;  // no such call: ignore
  Close(stopccn::kFsmError, 0, why);
}

void LnsTunnel::OnSccrq(const ControlMessage& m) {
  got_sccrq_ = true;
  peer_hostname_ = m.Str(AvpType::kHostName).value_or("");
  peer_vendor_ = m.Str(AvpType::kVendorName).value_or("");
  if (auto w = m.U16(AvpType::kReceiveWindowSize)) channel_.set_peer_window(*w);
  const std::string& secret = lns_.cfg_.tunnel_secret;
  AvpWriter w = Writer(MessageType::kSccrp);
  w.U16(AvpType::kProtocolVersion, 0x0100)
      .U32(AvpType::kFramingCapabilities, 0x3)  // synchronous and asynchronous
      .U16(AvpType::kFirmwareRevision, 0x0100)
      .String(AvpType::kHostName, lns_.cfg_.hostname)
      .String(AvpType::kVendorName, lns_.options_.vendor_name)
      .U16(AvpType::kAssignedTunnelId, local_id_)
      .U16(AvpType::kReceiveWindowSize, std::max<uint16_t>(1, lns_.cfg_.receive_window));
  if (!secret.empty()) {  // section 5.1.1: we authenticate the LAC
    our_challenge_.resize(16);
    RandomBytes(our_challenge_);
    w.Bytes(AvpType::kChallenge, our_challenge_);
  }
  if (const Avp* c = m.Find(AvpType::kChallenge))
    w.Bytes(AvpType::kChallengeResponse,
            ChallengeResponse(MessageType::kSccrp, secret, c->value));
  Send(0, w);
}

void LnsTunnel::OnScccn(const ControlMessage& m) {
  if (!our_challenge_.empty()) {
    const Avp* r = m.Find(AvpType::kChallengeResponse);
    std::vector<uint8_t> want = ChallengeResponse(
        MessageType::kScccn, lns_.cfg_.tunnel_secret, our_challenge_);
    if (r == nullptr || r->value != want) {
      lns_.counters_.Inc(Counter::k_auth_failures);
      VPN_LOG(l2tp, kWarn, "%s, %s: tunnel authentication failed", tag_,
              binding_.ToString());
      Close(stopccn::kNotAuthorized, 0, "tunnel authentication failed");
      return;
    }
    authenticated_ = true;
  }
  state_ = TunnelState::kEstablished;
  established_ = lns_.timers_.Now();
  if (setup_timer_ != 0) lns_.timers_.Cancel(setup_timer_);
  setup_timer_ = 0;
  lns_.counters_.Inc(Counter::k_tunnels_established);
  VPN_LOG(l2tp, kEvent, "%s established with %s (%s)", tag_, peer_hostname_,
          binding_.ToString());
  ArmHello();
}

void LnsTunnel::OnStopCcn(const ControlMessage& m) {
  lns_.counters_.Inc(Counter::k_stopccn_received);
  if (const Avp* r = m.Find(AvpType::kResultCode)) {
    last_result_ = Get16(r->value.data());
    if (r->value.size() >= 4) last_error_ = Get16(r->value.data() + 2);
  }
  VPN_LOG(l2tp, kEvent, "%s: StopCCN received (result %d error %d)", tag_,
          last_result_, last_error_);
  DropSessions("tunnel closed by peer (StopCCN)");
  EnterClosing();
}

void LnsTunnel::Close(uint16_t result, uint16_t error, std::string_view message) {
  if (state_ == TunnelState::kClosing || state_ == TunnelState::kDead) return;
  VPN_LOG(l2tp, kEvent, "%s: sending StopCCN (result %d error %d: %s)", tag_,
          result, error, message);
  DropSessions(message);
  AvpWriter w = Writer(MessageType::kStopCcn);
  w.U16(AvpType::kAssignedTunnelId, local_id_).Result(result, error, message);
  Send(0, w);
  lns_.counters_.Inc(Counter::k_stopccn_sent);
  EnterClosing();
}

void LnsTunnel::EnterClosing() {
  state_ = TunnelState::kClosing;
  CancelTimers();
  lns_.Unindex(this);
  linger_timer_ = lns_.timers_.Schedule(LingerTime(lns_.cfg_), [this] {
    linger_timer_ = 0;
    Kill("closed");
  });
}

void LnsTunnel::Kill(std::string_view reason) {
  if (state_ == TunnelState::kDead) return;
  VPN_LOG(l2tp, kEvent, "%s removed: %s", tag_, reason);
  DropSessions(reason);
  channel_.Stop();
  CancelTimers();
  state_ = TunnelState::kDead;
  lns_.BuryTunnel(this);  // `this` lives until the reap
}

void LnsTunnel::DropSessions(std::string_view reason) {
  while (!sessions_.empty()) sessions_.begin()->second->Drop(reason);
}

void LnsTunnel::ArmHello() {
  if (hello_timer_ != 0) lns_.timers_.Cancel(hello_timer_);
  hello_timer_ = 0;
  if (lns_.cfg_.hello_interval_s == 0) return;
  hello_timer_ = lns_.timers_.Schedule(
      absl::Seconds(lns_.cfg_.hello_interval_s), [this] {
        hello_timer_ = 0;
        if (state_ != TunnelState::kEstablished) return;
        AvpWriter w = Writer(MessageType::kHello);
        Send(0, w);
        lns_.counters_.Inc(Counter::k_hellos_sent);
        ArmHello();
      });
}

void LnsTunnel::OnIcrq(const ControlMessage& m) {
  const uint16_t peer_sid = m.U16(AvpType::kAssignedSessionId).value_or(0);
  if (peer_sid == 0) {  // cannot be addressed: nothing to answer
    lns_.counters_.Inc(Counter::k_fsm_errors);
    return;
  }
  for (auto& [id, s] : sessions_) {
    if (s->peer_id() == peer_sid) {  // a second call with a live call's id
      lns_.counters_.Inc(Counter::k_fsm_errors);
      return;
    }
  }
  const uint32_t max = lns_.cfg_.max_sessions_per_tunnel;
  if (max != 0 && sessions_.size() >= max) {
    lns_.counters_.Inc(Counter::k_sessions_refused_limit);
    RefuseCall(peer_sid, cdn::kNoFacilitiesTemporary, errcode::kNoResources,
               "too many sessions in this tunnel");
    return;
  }
  // (our tunnel id, session id) must be unique across the LNS, not just in
  // this tunnel: other peers' tunnels may share our tunnel id, and the
  // dataplane finds sessions by the pair (id_allocator.h).
  absl::StatusOr<uint16_t> id = lns_.ids_.AllocateSession(local_id_);
  if (!id.ok()) {
    lns_.counters_.Inc(Counter::k_sessions_refused_capacity);
    RefuseCall(peer_sid, cdn::kNoFacilitiesTemporary, errcode::kNoResources,
               std::string(id.status().message()));
    return;
  }
  const uint16_t local = *id;
  const uint32_t serial = m.U32(AvpType::kCallSerialNumber).value_or(0);
  sessions_.emplace(local, std::make_unique<LnsSession>(*this, local, peer_sid, serial));
  lns_.counters_.Inc(Counter::k_sessions_created);
  VPN_LOG(l2tp, kEvent, "%s: ICRQ, session %d (peer %d, serial %u)", tag_,
          local, peer_sid, serial);
  AvpWriter w = Writer(MessageType::kIcrp);
  w.U16(AvpType::kAssignedSessionId, local);
  Send(peer_sid, w);
}

void LnsTunnel::OnOcrq(const ControlMessage& m) {
  // We are an LNS for dial-in clients and place no outgoing calls: refuse
  // with a permanent "no facilities" result (section 4.4.2).
  const uint16_t peer_sid = m.U16(AvpType::kAssignedSessionId).value_or(0);
  if (peer_sid == 0) {
    lns_.counters_.Inc(Counter::k_fsm_errors);
    return;
  }
  RefuseCall(peer_sid, cdn::kNoFacilitiesPermanent, 0,
             "outgoing calls are not supported");
}

void LnsTunnel::RefuseCall(uint16_t peer_session_id, uint16_t result,
                           uint16_t error, std::string_view why) {
  lns_.counters_.Inc(Counter::k_sessions_refused);
  lns_.counters_.Inc(Counter::k_cdn_sent);
  VPN_LOG(l2tp, kInfo, "%s: call %d refused: %s", tag_, peer_session_id,
          why);
  AvpWriter w = Writer(MessageType::kCdn);
  w.Result(result, error, why).U16(AvpType::kAssignedSessionId, 0);
  Send(peer_session_id, w);
}

TunnelView LnsTunnel::View() const {
  TunnelView v;
  v.local_id = local_id_;
  v.peer_id = peer_id_;
  v.binding = binding_;
  v.previous_sa = previous_sa_;
  v.pending_sa = pending_sa_;
  v.state = state_;
  v.peer_hostname = peer_hostname_;
  v.peer_vendor = peer_vendor_;
  v.peer_window = channel_.peer_window();
  v.authenticated = authenticated_;
  v.sessions = sessions_.size();
  v.created = created_;
  v.established = established_;
  v.last_rx = last_rx_;
  v.rx_control = rx_control_;
  v.tx_control = channel_.next_ns();
  v.retransmits = channel_.retransmits();
  v.last_result = last_result_;
  v.last_error = last_error_;
  return v;
}

}  // namespace vpn::l2tp

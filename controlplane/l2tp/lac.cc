// LAC control connection (RFC 2661 section 7.2, initiator side) and incoming
// calls (section 7.4.1): SCCRQ -> SCCRP -> SCCCN, ICRQ -> ICRP -> ICCN.
#include "lac.h"

#include <arpa/inet.h>

#include "absl/strings/str_format.h"
#include "control_channel.h"
#include "data_message.h"
#include "lns_internal.h"  // LingerTime
#include "vpn/log.h"

namespace vpn::l2tp {

class LacSession : public cp::PppLink {
 public:
  LacSession(Lac& lac, uint16_t local_id, PppEndpointFactory factory,
             LacCallOptions options)
      : lac_(lac), local_id_(local_id), factory_(std::move(factory)),
        options_(std::move(options)) {}

  void SendPppFrame(std::span<const uint8_t> frame) override {
    if (state_ != LacSessionState::kEstablished) {
      lac_.counters_.Inc(Counter::k_drop_data_not_up);
      return;
    }
    std::optional<uint16_t> ns;
    if (options_.sequencing_required) ns = tx_ns_++;
    lac_.counters_.Inc(Counter::k_tx_data);
    lac_.counters_.Inc(Counter::k_tx_data_bytes, frame.size());
    lac_.SendData(BuildDataMessage(lac_.peer_id_, peer_id_, ns, frame));
  }
  void ClosePppLink(std::string_view reason) override {
    Close(cdn::kAdministrative, reason);
  }

  void OnIcrp(const ControlMessage& m) {
    peer_id_ = m.U16(AvpType::kAssignedSessionId).value_or(0);
    if (peer_id_ == 0) {
      lac_.counters_.Inc(Counter::k_fsm_errors);
      Drop("ICRP without a session id");
      return;
    }
    AvpWriter w = lac_.Writer(MessageType::kIccn);
    w.U32(AvpType::kTxConnectSpeed, options_.tx_connect_bps)
        .U32(AvpType::kFramingType, 0x1);  // synchronous framing
    if (options_.sequencing_required) w.Empty(AvpType::kSequencingRequired);
    for (const ExtraAvp& a : options_.extra_iccn_avps)
      w.Raw(a.mandatory, false, a.vendor, a.type, a.value);
    lac_.Send(peer_id_, w.Take());
    state_ = LacSessionState::kEstablished;
    lac_.counters_.Inc(Counter::k_sessions_established);
    cp::L2tpSessionInfo info;
    info.local_tunnel_id = lac_.local_id_;
    info.local_session_id = local_id_;
    info.peer_tunnel_id = lac_.peer_id_;
    info.peer_session_id = peer_id_;
    info.inbound_sa = lac_.lns_.sa_index;
    info.peer_ip = lac_.lns_.peer_ip;
    info.peer_port = htons(lac_.lns_.peer_port);
    info.sequencing = options_.sequencing_required;
    std::unique_ptr<cp::PppEndpoint> ep;
    if (factory_) ep = factory_(*this, info);
    endpoint_ = std::move(ep);
  }

  void OnPppFrame(std::span<const uint8_t> frame) {
    lac_.counters_.Inc(Counter::k_rx_data);
    lac_.counters_.Inc(Counter::k_rx_data_bytes, frame.size());
    if (endpoint_) endpoint_->OnPppFrame(frame);
  }

  void Close(uint16_t result, std::string_view reason) {
    if (state_ == LacSessionState::kDead) return;
    AvpWriter w = lac_.Writer(MessageType::kCdn);
    w.Result(result, 0, reason).U16(AvpType::kAssignedSessionId, local_id_);
    // Before ICRP we do not know the peer's id; 0 addresses the tunnel.
    lac_.Send(peer_id_, w.Take());
    lac_.counters_.Inc(Counter::k_cdn_sent);
    Drop(reason);
  }
  void Drop(std::string_view reason) {
    if (state_ == LacSessionState::kDead) return;
    state_ = LacSessionState::kDead;
    lac_.BurySession(this, std::string(reason));
  }

  uint16_t local_id() const { return local_id_; }
  uint16_t peer_id() const { return peer_id_; }
  LacSessionState state() const { return state_; }
  cp::PppEndpoint* endpoint() const { return endpoint_.get(); }
  uint32_t send_accm = 0;

 private:
  Lac& lac_;
  const uint16_t local_id_;
  uint16_t peer_id_ = 0;
  PppEndpointFactory factory_;
  LacCallOptions options_;
  LacSessionState state_ = LacSessionState::kWaitReply;
  uint16_t tx_ns_ = 0;
  std::unique_ptr<cp::PppEndpoint> endpoint_;
};

Lac::Lac(const config::L2tp& cfg, cp::TimerQueue& timers, Transport& transport,
         const PeerBinding& lns, LacOptions options)
    : cfg_(cfg), timers_(timers), transport_(transport), lns_(lns),
      options_(std::move(options)) {}

Lac::~Lac() {
  destroying_ = true;
  CancelTimers();
  if (reap_timer_ != 0) timers_.Cancel(reap_timer_);
  DropSessions("LAC destroyed");
  Reap();
}

Lac::Guard::~Guard() {
  if (--l_->depth_ == 0) l_->Reap();
}

AvpWriter Lac::Writer(MessageType t) const {
  return AvpWriter(t, cfg_.tunnel_secret, options_.hide_avps);
}

absl::Status Lac::OpenTunnel() {
  Guard g(this);
  if (state_ != LacTunnelState::kIdle && state_ != LacTunnelState::kDead)
    return absl::FailedPreconditionError("tunnel already open");
  if (channel_) {
    // We may be inside that channel's give-up hook (on_tunnel_down): it is
    // destroyed later, from the reap timer.
    dead_channels_.push_back(std::move(channel_));
    RequestReap();
  }
  ChannelParams p;
  p.initial_rto = absl::Milliseconds(std::max<uint32_t>(1, cfg_.retransmit_initial_ms));
  p.max_rto = std::max(p.initial_rto, absl::Milliseconds(cfg_.retransmit_max_ms));
  p.max_retransmits = cfg_.retransmit_count;
  p.receive_window = std::max<uint16_t>(1, cfg_.receive_window);
  channel_ = std::make_unique<ControlChannel>(
      timers_, p, counters_,
      ControlChannel::Hooks{
          [this](std::span<const uint8_t> m) { transport_.SendL2tp(lns_, m); },
          [this](ControlMessage& m) { Deliver(m); },
          [this] {
            counters_.Inc(Counter::k_tunnel_timeouts);
            Kill("LNS not responding");
          }});
  uint8_t r[2];
  do RandomBytes(r); while (Get16(r) == 0);
  local_id_ = options_.tunnel_id != 0 ? options_.tunnel_id : Get16(r);
  peer_id_ = 0;
  authenticated_ = false;
  stop_result_ = stop_error_ = 0;
  stop_received_ = false;
  AvpWriter w = Writer(MessageType::kSccrq);
  w.U16(AvpType::kProtocolVersion, 0x0100)
      .U32(AvpType::kFramingCapabilities, 0x3)
      .U32(AvpType::kBearerCapabilities, 0x0)
      .U16(AvpType::kFirmwareRevision, 0x0100)
      .String(AvpType::kHostName, cfg_.hostname)
      .String(AvpType::kVendorName, options_.vendor_name)
      .U16(AvpType::kAssignedTunnelId, local_id_)
      .U16(AvpType::kReceiveWindowSize, p.receive_window);
  our_challenge_.clear();
  if (!cfg_.tunnel_secret.empty()) {
    our_challenge_.resize(16);
    RandomBytes(our_challenge_);
    w.Bytes(AvpType::kChallenge, our_challenge_);
  }
  for (const ExtraAvp& a : options_.extra_sccrq_avps)
    w.Raw(a.mandatory, false, a.vendor, a.type, a.value);
  state_ = LacTunnelState::kWaitCtlReply;
  counters_.Inc(Counter::k_tunnels_created);
  Send(0, w.Take());
  return absl::OkStatus();
}

absl::StatusOr<uint16_t> Lac::OpenSession(PppEndpointFactory factory,
                                          LacCallOptions options) {
  Guard g(this);
  if (state_ != LacTunnelState::kEstablished)
    return absl::FailedPreconditionError("tunnel not established");
  uint16_t id = 0;
  for (int i = 0; i < 1000 && (id == 0 || sessions_.contains(id)); ++i) {
    uint8_t r[2];
    RandomBytes(r);
    id = Get16(r);
  }
  if (id == 0 || sessions_.contains(id))
    return absl::ResourceExhaustedError("no session id free");
  AvpWriter w = Writer(MessageType::kIcrq);
  w.U16(AvpType::kAssignedSessionId, id)
      .U32(AvpType::kCallSerialNumber, next_serial_++)
      .U32(AvpType::kBearerType, 0x2);  // analog
  for (const ExtraAvp& a : options.extra_icrq_avps)
    w.Raw(a.mandatory, false, a.vendor, a.type, a.value);
  sessions_.emplace(id, std::make_unique<LacSession>(*this, id, std::move(factory),
                                                     std::move(options)));
  ended_.erase(id);
  counters_.Inc(Counter::k_sessions_created);
  Send(0, w.Take());
  return id;
}

absl::Status Lac::CloseSession(uint16_t session_id, std::string_view reason) {
  Guard g(this);
  LacSession* s = FindSession(session_id);
  if (s == nullptr) return absl::NotFoundError("no such session");
  s->Close(cdn::kAdministrative, reason);
  return absl::OkStatus();
}

void Lac::CloseTunnel(std::string_view reason) {
  Guard g(this);
  if (state_ == LacTunnelState::kIdle || state_ == LacTunnelState::kDead) return;
  Close(stopccn::kGeneralClear, 0, reason);
}

absl::Status Lac::SendWanErrorNotify(uint16_t session_id, const uint32_t errors[6]) {
  Guard g(this);
  LacSession* s = FindSession(session_id);
  if (s == nullptr || s->state() != LacSessionState::kEstablished)
    return absl::NotFoundError("no such established session");
  std::vector<uint8_t> v;
  Put16(v, 0);
  for (int i = 0; i < 6; ++i) Put32(v, errors[i]);
  AvpWriter w = Writer(MessageType::kWen);
  w.Bytes(AvpType::kCallErrors, v);
  Send(s->peer_id(), w.Take());
  return absl::OkStatus();
}

absl::Status Lac::SendCustom(uint16_t message_type, bool type_mandatory,
                             uint16_t header_session_id,
                             const std::vector<ExtraAvp>& avps) {
  Guard g(this);
  if (!channel_ || channel_->stopped())
    return absl::FailedPreconditionError("no control connection");
  AvpWriter w(MessageType::kHello);  // Message Type rewritten below
  std::vector<uint8_t> bytes = w.Take();
  Set16(&bytes[0], uint16_t((type_mandatory ? kAvpFlagMandatory : 0) | 8));
  Set16(&bytes[6], message_type);
  AvpWriter rest(MessageType::kHello);
  for (const ExtraAvp& a : avps) rest.Raw(a.mandatory, false, a.vendor, a.type, a.value);
  std::vector<uint8_t> tail = rest.Take();
  bytes.insert(bytes.end(), tail.begin() + 8, tail.end());  // skip its type AVP
  Send(header_session_id, std::move(bytes));
  return absl::OkStatus();
}

void Lac::OnControlMessage(std::span<const uint8_t> msg) {
  if (destroying_) return;
  Guard g(this);
  counters_.Inc(Counter::k_rx_control);
  ControlMessage m;
  if (ParseControlMessage(msg, cfg_.tunnel_secret, &m) != ParseStatus::kOk) {
    counters_.Inc(Counter::k_drop_bad_header);
    return;
  }
  if (!channel_ || state_ == LacTunnelState::kIdle || state_ == LacTunnelState::kDead) {
    counters_.Inc(Counter::k_drop_unknown_tunnel);
    return;
  }
  if (m.header.tunnel_id != local_id_) {
    counters_.Inc(Counter::k_drop_unknown_tunnel);
    return;
  }
  if (state_ == LacTunnelState::kEstablished) ArmHello();
  channel_->Receive(std::move(m));
}

void Lac::OnDataMessage(std::span<const uint8_t> msg) {
  if (destroying_) return;
  Guard g(this);
  Header h;
  std::vector<uint8_t> frame;
  if (ParseHeader(msg, &h) != HeaderError::kOk || h.control ||
      !NormalizePppFrame(msg.subspan(h.payload_offset, h.length - h.payload_offset),
                         &frame)) {
    counters_.Inc(Counter::k_drop_data_bad);
    return;
  }
  if (h.tunnel_id != local_id_ || state_ != LacTunnelState::kEstablished) {
    counters_.Inc(Counter::k_drop_unknown_tunnel);
    return;
  }
  LacSession* s = FindSession(h.session_id);
  if (s == nullptr || s->state() != LacSessionState::kEstablished) {
    counters_.Inc(Counter::k_drop_unknown_session);
    return;
  }
  s->OnPppFrame(frame);
}

void Lac::Deliver(ControlMessage& m) {
  Verdict v = ValidateControlMessage(m);
  counters_.Inc(Counter::k_ignored_avps, v.ignored_avps);
  if (state_ == LacTunnelState::kClosing || state_ == LacTunnelState::kDead) {
    counters_.Inc(m.type == uint16_t(MessageType::kStopCcn) ? Counter::k_stopccn_received
                                                           : Counter::k_drop_closing);
    return;
  }
  if (v.kind != Verdict::kOk && m.type != uint16_t(MessageType::kStopCcn) &&
      m.type != uint16_t(MessageType::kCdn)) {
    HandleBadMessage(m, v);
    return;
  }
  const bool up = state_ == LacTunnelState::kEstablished;
  switch (m.message_type()) {
    case MessageType::kSccrp:
      if (state_ == LacTunnelState::kWaitCtlReply) {
        OnSccrp(m);
      } else {
        counters_.Inc(Counter::k_fsm_errors);
        Close(stopccn::kFsmError, 0, "unexpected SCCRP");
      }
      break;
    case MessageType::kStopCcn:
      OnStopCcn(m);
      break;
    case MessageType::kHello:
      break;
    case MessageType::kIcrp:
    case MessageType::kCdn:
    case MessageType::kSli: {
      LacSession* s = up ? FindSession(m.header.session_id) : nullptr;
      if (s == nullptr) {
        counters_.Inc(Counter::k_drop_unknown_session);
      } else if (m.message_type() == MessageType::kIcrp) {
        if (s->state() == LacSessionState::kWaitReply) s->OnIcrp(m);
        else counters_.Inc(Counter::k_fsm_errors);
      } else if (m.message_type() == MessageType::kCdn) {
        counters_.Inc(Counter::k_cdn_received);
        if (const Avp* r = m.Find(AvpType::kResultCode))
          ended_[s->local_id()].cdn_result = Get16(r->value.data());
        s->Drop("CDN received");
      } else {
        counters_.Inc(Counter::k_sli_received);
        if (const Avp* a = m.Find(AvpType::kAccm)) s->send_accm = Get32(a->value.data() + 2);
      }
      break;
    }
    default:
      counters_.Inc(Counter::k_fsm_errors);
      if (IsTunnelMessage(m.message_type()))
        Close(stopccn::kFsmError, 0, "unexpected message");
      break;
  }
}

void Lac::HandleBadMessage(const ControlMessage& m, const Verdict& v) {
  if (v.kind == Verdict::kIgnoreMessage) {
    counters_.Inc(Counter::k_ignored_messages);
    return;
  }
  counters_.Inc(v.kind == Verdict::kMissingAvp ? Counter::k_missing_avp
                                               : Counter::k_unknown_mandatory);
  if (v.kind == Verdict::kUnknownMandatoryType || IsTunnelMessage(m.message_type()) ||
      state_ != LacTunnelState::kEstablished) {
    Close(stopccn::kGeneralError, v.error_code, v.detail);
  } else if (LacSession* s = FindSession(m.header.session_id)) {
    s->Close(cdn::kGeneralError, v.detail);
  }
}

void Lac::OnSccrp(const ControlMessage& m) {
  peer_id_ = m.U16(AvpType::kAssignedTunnelId).value_or(0);
  if (peer_id_ == 0) {
    Close(stopccn::kGeneralError, errcode::kBadValue, "SCCRP without tunnel id");
    return;
  }
  channel_->set_peer_tunnel_id(peer_id_);
  if (auto w = m.U16(AvpType::kReceiveWindowSize)) channel_->set_peer_window(*w);
  if (!our_challenge_.empty()) {
    const Avp* r = m.Find(AvpType::kChallengeResponse);
    std::vector<uint8_t> want =
        ChallengeResponse(MessageType::kSccrp, cfg_.tunnel_secret, our_challenge_);
    if ((r == nullptr || r->value != want) && !options_.skip_auth_check) {
      counters_.Inc(Counter::k_auth_failures);
      Close(stopccn::kNotAuthorized, 0, "LNS failed tunnel authentication");
      return;
    }
    authenticated_ = r != nullptr && r->value == want;
  }
  AvpWriter w = Writer(MessageType::kScccn);
  if (const Avp* c = m.Find(AvpType::kChallenge)) {
    if (cfg_.tunnel_secret.empty()) {
      counters_.Inc(Counter::k_auth_failures);
      Close(stopccn::kNotAuthorized, 0, "challenged but no secret configured");
      return;
    }
    w.Bytes(AvpType::kChallengeResponse,
            ChallengeResponse(MessageType::kScccn, cfg_.tunnel_secret, c->value));
  }
  for (const ExtraAvp& a : options_.extra_scccn_avps)
    w.Raw(a.mandatory, false, a.vendor, a.type, a.value);
  Send(0, w.Take());
  state_ = LacTunnelState::kEstablished;
  counters_.Inc(Counter::k_tunnels_established);
  ArmHello();
  if (on_tunnel_up) on_tunnel_up();
}

void Lac::OnStopCcn(const ControlMessage& m) {
  counters_.Inc(Counter::k_stopccn_received);
  stop_received_ = true;
  if (const Avp* r = m.Find(AvpType::kResultCode)) {
    stop_result_ = Get16(r->value.data());
    if (r->value.size() >= 4) stop_error_ = Get16(r->value.data() + 2);
  }
  EnterClosing("StopCCN received");
}

void Lac::Close(uint16_t result, uint16_t error, std::string_view message) {
  if (state_ == LacTunnelState::kClosing || state_ == LacTunnelState::kDead) return;
  stop_result_ = result;
  stop_error_ = error;
  AvpWriter w = Writer(MessageType::kStopCcn);
  w.U16(AvpType::kAssignedTunnelId, local_id_).Result(result, error, message);
  DropSessions(message);
  Send(0, w.Take());
  counters_.Inc(Counter::k_stopccn_sent);
  EnterClosing(message);
}

void Lac::EnterClosing(std::string_view reason) {
  DropSessions(reason);
  state_ = LacTunnelState::kClosing;
  CancelTimers();
  linger_timer_ = timers_.Schedule(LingerTime(cfg_), [this] {
    linger_timer_ = 0;
    Kill("closed");
  });
  if (on_tunnel_down) on_tunnel_down(reason);
}

void Lac::Kill(std::string_view reason) {
  if (state_ == LacTunnelState::kDead) return;
  const bool was_closing = state_ == LacTunnelState::kClosing;
  DropSessions(reason);
  if (channel_) channel_->Stop();
  CancelTimers();
  state_ = LacTunnelState::kDead;
  counters_.Inc(Counter::k_tunnels_closed);
  RequestReap();
  if (!was_closing && on_tunnel_down) on_tunnel_down(reason);
}

void Lac::CancelTimers() {
  for (cp::TimerQueue::TimerId* id : {&hello_timer_, &linger_timer_}) {
    if (*id != 0) timers_.Cancel(*id);
    *id = 0;
  }
}

void Lac::ArmHello() {
  if (hello_timer_ != 0) timers_.Cancel(hello_timer_);
  hello_timer_ = 0;
  if (cfg_.hello_interval_s == 0) return;
  hello_timer_ = timers_.Schedule(absl::Seconds(cfg_.hello_interval_s), [this] {
    hello_timer_ = 0;
    if (state_ != LacTunnelState::kEstablished) return;
    Send(0, Writer(MessageType::kHello).Take());
    counters_.Inc(Counter::k_hellos_sent);
    ArmHello();
  });
}

void Lac::DropSessions(std::string_view reason) {
  while (!sessions_.empty()) sessions_.begin()->second->Drop(reason);
}

void Lac::Send(uint16_t peer_session_id, std::vector<uint8_t> avps) {
  if (channel_) channel_->Send(peer_session_id, std::move(avps));
}

void Lac::SendData(std::span<const uint8_t> msg) { transport_.SendL2tp(lns_, msg); }

void Lac::BurySession(LacSession* s, std::string reason) {
  auto it = sessions_.find(s->local_id());
  if (it == sessions_.end() || it->second.get() != s) return;
  ended_[s->local_id()];  // remember it ended (CDN result filled by caller)
  dead_sessions_.emplace_back(std::move(it->second), std::move(reason));
  sessions_.erase(it);
  counters_.Inc(Counter::k_sessions_closed);
  RequestReap();
}

LacSession* Lac::FindSession(uint16_t id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

void Lac::RequestReap() {
  if (reap_timer_ != 0 || destroying_) return;
  if (depth_ > 0 && dead_channels_.empty()) return;  // the Guard reaps
  reap_timer_ = timers_.Schedule(absl::ZeroDuration(), [this] {
    reap_timer_ = 0;
    Reap();
    dead_channels_.clear();  // never from inside a channel's own call
  });
}

void Lac::Reap() {
  ++depth_;
  while (!dead_sessions_.empty()) {
    auto [s, reason] = std::move(dead_sessions_.back());
    dead_sessions_.pop_back();
    if (cp::PppEndpoint* ep = s->endpoint()) ep->OnLinkDown(reason);
  }
  --depth_;
}

LacSessionState Lac::session_state(uint16_t id) const {
  LacSession* s = FindSession(id);
  return s ? s->state() : LacSessionState::kDead;
}

uint16_t Lac::session_peer_id(uint16_t id) const {
  LacSession* s = FindSession(id);
  return s ? s->peer_id() : 0;
}

uint16_t Lac::cdn_result(uint16_t id) const {
  auto it = ended_.find(id);
  return it == ended_.end() ? 0 : it->second.cdn_result;
}

uint32_t Lac::sli_send_accm(uint16_t id) const {
  LacSession* s = FindSession(id);
  return s ? s->send_accm : 0;
}

size_t Lac::session_count() const { return sessions_.size(); }

}  // namespace vpn::l2tp

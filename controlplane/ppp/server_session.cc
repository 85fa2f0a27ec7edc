#include "server_session.h"

#include <algorithm>

#include "vpn/log.h"

namespace vpn::ppp {

using config::AuthMethod;

std::string_view PhaseName(PppPhase p) {
  switch (p) {
    case PppPhase::kDead: return "dead";
    case PppPhase::kEstablish: return "establish";
    case PppPhase::kAuthenticate: return "authenticate";
    case PppPhase::kNetwork: return "network";
    case PppPhase::kTerminate: return "terminate";
  }
  return "?";
}

namespace {

FsmConfig FsmConfigFrom(const config::Ppp& p) {
  FsmConfig c;
  c.restart = absl::Milliseconds(p.restart_timer_ms);
  c.max_configure = p.max_configure;
  c.max_terminate = p.max_terminate;
  c.max_failure = p.max_failure;
  return c;
}

// LCP is negotiated before we know the user's group, so we offer the default
// group's methods first, then any other group's; Authorize() later checks
// the method against the user's own group.
std::vector<AuthMethod> OfferedMethods(const config::Config& c) {
  std::vector<AuthMethod> out = DefaultGroup(c).auth;
  for (const config::Group& g : c.groups)
    for (AuthMethod m : g.auth)
      if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
  return out;
}

LcpSettings ServerLcpSettings(const config::Config& c,
                              std::vector<AuthMethod> offered) {
  LcpSettings s;
  s.server = true;
  s.mru = c.ppp.mtu;
  s.request_auth = std::move(offered);
  s.echo_interval_s = c.ppp.lcp_echo_interval_s;
  s.echo_failures = c.ppp.lcp_echo_failures;
  return s;
}

}  // namespace

ServerSession::ServerSession(cp::PppLink& link, cp::TimerQueue& timers,
                             const config::Config& config, PoolRegistry& pools,
                             Authenticator& auth, std::string peer,
                             ServerCallbacks cb)
    : SessionBase(link, timers, std::move(peer)),
      config_(config),
      pools_(pools),
      auth_(auth),
      cb_(std::move(cb)),
      fsm_config_(FsmConfigFrom(config.ppp)),
      offered_(OfferedMethods(config)),
      lcp_(ServerLcpSettings(config, offered_), fsm_config_, timers_,
           [this](const Bytes& f) { SendFrame(f); }, *this) {}

ServerSession::~ServerSession() {
  alive_.reset();
  CancelSessionTimers();
}

void ServerSession::Start() {
  Guarded([&] {
    if (phase_ != PppPhase::kDead || finished()) return;
    ++pools_.counters().sessions_started;
    phase_ = PppPhase::kEstablish;
    VPN_LOG(ppp, kEvent, "%s: PPP starting", peer_);
    lcp_.fsm().Open();
    lcp_.fsm().Up();
  });
}

std::optional<FsmState> ServerSession::ipcp_state() const {
  if (!ipcp_) return std::nullopt;
  return ipcp_->fsm().state();
}

void ServerSession::OnPppFrame(std::span<const uint8_t> frame) {
  Guarded([&] {
    if (finished()) return;
    // The owner may defer Start() (the daemon does, until the L2TP session
    // has its endpoint), yet a client's first Configure-Request can already
    // be here: LCP in Initial would ignore it (RFC 1661 4.1, RCR in
    // Initial) and cost the client a 3 s retransmission. A frame proves the
    // link is up, so start now; Start() does nothing the second time.
    if (phase_ == PppPhase::kDead) Start();
    PppCounters& n = pools_.counters();
    const auto proto = ParseProtocol(frame);
    if (!proto) {
      ++n.bad_frames;
      return;
    }
    const ByteSpan payload = frame.subspan(2);
    const bool lcp_open = lcp_.fsm().state() == FsmState::kOpened;
    if (*proto == kProtoLcp) {
      lcp_.fsm().Input(payload);
      return;
    }
    if (!lcp_open) {
      ++n.discarded_frames;  // RFC 1661 3.4: only LCP before Opened
      return;
    }
    if (*proto == kProtoPap || *proto == kProtoChap || *proto == kProtoEap) {
      if (auth_method_ && auth_method_->protocol() == *proto) {
        auth_method_->Input(payload);
      } else {
        ++n.discarded_frames;
      }
      return;
    }
    if (*proto == kProtoIpcp) {
      // RFC 1661 3.5: NCP packets before the Network phase are discarded.
      if (phase_ == PppPhase::kNetwork && ipcp_) {
        ipcp_->fsm().Input(payload);
      } else {
        ++n.discarded_frames;
      }
      return;
    }
    if (*proto == kProtoIpv4 || *proto == kProtoIpv6) {
      ++n.discarded_frames;  // data belongs to the dataplane
      return;
    }
    // IPV6CP (Debian pppd asks), CCP, anything else: RFC 1661 5.7.
    if (lcp_.SendProtocolReject(*proto, payload)) ++n.protocol_rejects_sent;
    VPN_LOG(ppp, kEvent, "%s: Protocol-Reject %s (0x%04x)", peer_,
            ProtocolName(*proto), *proto);
  });
}

void ServerSession::LcpUp() {
  const auto method = lcp_.result().auth;
  if (!method) {
    LcpFatal("no authentication method agreed");
    return;
  }
  phase_ = PppPhase::kAuthenticate;
  method_ = *method;
  VPN_LOG(ppp, kEvent, "%s: LCP opened (mru %u peer-mru %u), authenticating with %s",
          peer_, lcp_.result().our_mru, lcp_.result().peer_mru,
          AuthMethodName(*method));
  if (!auth_method_) {
    auth_method_ = MakeServerMethod(*method, *this);
    auth_method_->Start();
  }
}

void ServerSession::LcpDown() {
  if (ipcp_) ipcp_->fsm().Down();
  phase_ = PppPhase::kTerminate;
  if (lcp_.peer_terminated()) {
    const std::string& why = lcp_.peer_terminate_reason();
    RequestClose(why.empty() ? "peer terminated" : "peer terminated: " + why);
    return;
  }
  if (network_phase_entered_) {
    // We do not re-authenticate a running session (RFC 1661 3.2 would): the
    // session ends and the client dials again.
    RequestClose("LCP renegotiation");
    return;
  }
  // Before the Network phase a renegotiation is ordinary (a lost
  // Configure-Ack makes the peer repeat its request after we opened): start
  // authentication afresh when LCP reopens. A verification in flight is
  // disowned by bumping the attempt number.
  phase_ = PppPhase::kEstablish;
  if (auth_method_) {
    auth_method_->Stop();
    retired_methods_.push_back(std::move(auth_method_));
  }
  ++auth_attempt_;
  if (auth_delay_timer_) timers_.Cancel(auth_delay_timer_);
  auth_delay_timer_ = 0;
}

void ServerSession::LcpFinished() {
  // Without an earlier reason: Max-Configure ran out (no answer) or the peer
  // Code-Rejected something LCP cannot do without.
  Finish(phase_ == PppPhase::kEstablish ? "LCP negotiation failed"
                                        : "LCP finished");
}

void ServerSession::LcpFatal(std::string reason) {
  VPN_LOG(ppp, kWarn, "%s: %s", peer_, reason);
  RequestClose(std::move(reason));
}

void ServerSession::LcpProtocolRejected(uint16_t protocol) {
  VPN_LOG(ppp, kEvent, "%s: peer rejects %s (0x%04x)", peer_,
          ProtocolName(protocol), protocol);
  if (protocol == kProtoIpcp ||
      (auth_method_ && protocol == auth_method_->protocol())) {
    RequestClose(std::string("peer rejected ") +
                 std::string(ProtocolName(protocol)));
  }
}

void ServerSession::LcpEchoTimeout() {
  ++pools_.counters().echo_timeouts;
  VPN_LOG(ppp, kInfo, "%s: user '%s' peer not responding to LCP echo", peer_,
          user_);
  // A dead peer will not answer a Terminate-Request either.
  Finish("peer not responding (LCP echo)");
}

NetworkUp ServerSession::MakeNetworkUp() const {
  NetworkUp up;
  up.ip = lease_.address();
  up.local_ip = config_.ppp.local_ip;
  up.user = user_;
  up.user_name_as_sent = user_name_as_sent_;
  up.group = group_ ? group_->name : "";
  up.method = method_;
  up.mru = lcp_.result().our_mru;
  up.peer_mru = lcp_.result().peer_mru;
  up.peer_acfc = lcp_.result().peer_acfc;
  up.peer_pfc = lcp_.result().peer_pfc;
  up.dns = ipcp_->settings().dns;
  up.wins = ipcp_->settings().wins;
  return up;
}

void ServerSession::IpcpPeerAddressAcked() {
  if (address_commit_reported_ || network_up_reported_ || !lease_.held()) return;
  address_commit_reported_ = true;
  VPN_LOG(ppp, kEvent, "%s: address %s acked to the client", peer_, FormatIp(lease_.address()));
  if (cb_.on_address_committed) cb_.on_address_committed(MakeNetworkUp());
}

void ServerSession::IpcpUp() {
  if (network_up_reported_) {
    VPN_LOG(ppp, kEvent, "%s: IPCP renegotiated", peer_);
    return;
  }
  network_up_reported_ = true;
  ++pools_.counters().sessions_up;
  NetworkUp up = MakeNetworkUp();
  VPN_LOG(ppp, kInfo, "%s: user '%s' group '%s' up, address %s (%s)", peer_,
          user_, up.group, FormatIp(up.ip), AuthMethodName(method_));
  StartTimeouts();
  if (cb_.on_network_up) cb_.on_network_up(up);
}

void ServerSession::IpcpDown() {
  VPN_LOG(ppp, kEvent, "%s: IPCP down", peer_);
}

void ServerSession::IpcpFinished() { RequestClose("IPCP negotiation failed"); }

void ServerSession::SendAuthPacket(uint16_t protocol, uint8_t code, uint8_t id,
                                   ByteSpan data) {
  SendFrame(BuildControlFrame(protocol, code, id, data));
}

void ServerSession::VerifyCredentials(
    AuthRequest request, std::function<void(const AuthOutcome&)> done) {
  request.peer = peer_;
  user_name_as_sent_ = request.user_name;
  std::weak_ptr<char> alive = alive_;
  // Copy what the callback needs: the request may be gone by then.
  auto req = std::make_shared<AuthRequest>(request);
  const uint64_t attempt = auth_attempt_;
  auth_.Authenticate(request, [this, alive, req, done, attempt](AuthResult r) {
    if (alive.expired()) return;
    Guarded([&] {
      if (attempt == auth_attempt_) OnAuthResult(r, *req, done);
    });
  });
}

void ServerSession::OnAuthResult(
    const AuthResult& r, const AuthRequest& req,
    const std::function<void(const AuthOutcome&)>& done) {
  if (finished()) return;
  PppCounters& n = pools_.counters();
  AuthOutcome out;
  std::string why;
  if (r.status == AuthStatus::kChallenge) {
    // EAP pass-through round trip (RFC 3579 2.1): nothing decided yet.
    out.challenge = true;
    out.eap_request = r.eap_message;
    out.aaa_state = r.aaa_state;
    done(out);
    return;
  }
  if (r.status == AuthStatus::kSuccess) {
    why = Authorize(r, req.method);
    if (why.empty()) {
      ++n.auth_success;
      VPN_LOG(auth, kInfo, "%s: user '%s' group '%s' authenticated (%s)", peer_,
              user_, group_->name, AuthMethodName(req.method));
      out.success = true;
      out.mschap2_authenticator_response = r.mschap2_authenticator_response;
      done(out);
      return;
    }
    ++n.auth_other_failure;
    out.message = why;
  } else {
    why = r.message;
    if (r.status == AuthStatus::kBadCredentials) {
      ++n.auth_bad_credentials;
    } else {
      ++n.auth_other_failure;
    }
    out.message = "Authentication failure";
  }
  VPN_LOG(auth, kWarn, "%s: authentication of user '%s' (%s) failed: %s", peer_,
          Printable(AsBytes(req.user_name)), AuthMethodName(req.method), why);
  // The delay slows password guessing (RFC 2759 section 10) and is applied
  // to every failure so that the reason cannot be told by timing.
  const uint64_t attempt = auth_attempt_;
  auth_delay_timer_ = timers_.Schedule(
      absl::Milliseconds(config_.ppp.auth_failure_delay_ms),
      [this, done, out, attempt] {
        auth_delay_timer_ = 0;
        if (!finished() && attempt == auth_attempt_) done(out);
      });
}

std::string ServerSession::Authorize(const AuthResult& r, AuthMethod method) {
  const config::Group* group = FindGroupNamed(config_, r.group);
  if (!group) return "group '" + r.group + "' not configured";
  if (std::find(group->auth.begin(), group->auth.end(), method) ==
      group->auth.end()) {
    return std::string(AuthMethodName(method)) + " not allowed in group '" +
           group->name + "'";
  }
  auto slot = pools_.AcquireUserSlot(r.user, group->max_sessions_per_user);
  if (!slot.ok()) {
    ++pools_.counters().too_many_sessions;
    return std::string(slot.status().message());
  }
  absl::StatusOr<AddressLease> lease;
  if (r.static_ip) {
    lease = pools_.AcquireStatic(r.static_ip);
    if (!lease.ok()) ++pools_.counters().static_address_busy;
  } else if (!r.pool.empty()) {
    lease = pools_.AllocateFromPool(r.pool);
    if (absl::IsResourceExhausted(lease.status())) ++pools_.counters().pool_exhausted;
  } else if (group->pool.empty()) {
    return "group '" + group->name + "' has no address pool";
  } else {
    lease = pools_.AllocateFromPool(group->pool);
    if (!lease.ok()) ++pools_.counters().pool_exhausted;
  }
  if (!lease.ok()) return std::string(lease.status().message());
  user_ = r.user;
  group_ = group;
  session_timeout_s_ = r.session_timeout_s.value_or(group->session_timeout_s);
  idle_timeout_s_ = r.idle_timeout_s.value_or(group->idle_timeout_s);
  slot_ = *std::move(slot);
  lease_ = *std::move(lease);
  return "";
}

void ServerSession::AuthFinished(bool success, std::string_view reason,
                                 bool timed_out) {
  if (finished()) return;
  if (!success) {
    if (timed_out) ++pools_.counters().auth_timeout;
    RequestClose("authentication failed" +
                 (reason.empty() ? std::string() : ": " + std::string(reason)));
    return;
  }
  if (phase_ != PppPhase::kAuthenticate || ipcp_) return;
  phase_ = PppPhase::kNetwork;
  network_phase_entered_ = true;
  IpcpServerSettings s;
  s.local_ip = config_.ppp.local_ip;
  s.peer_ip = lease_.address();
  for (size_t i = 0; i < 2; ++i) {
    if (i < group_->dns.size()) s.dns[i] = group_->dns[i];
    if (i < group_->wins.size()) s.wins[i] = group_->wins[i];
  }
  ipcp_ = std::make_unique<IpcpServer>(
      s, fsm_config_, timers_, [this](const Bytes& f) { SendFrame(f); },
      static_cast<IpcpEvents&>(*this));
  ipcp_->fsm().Open();
  ipcp_->fsm().Up();
}

void ServerSession::StartTimeouts() {
  if (!group_) return;
  if (session_timeout_s_) {
    session_timer_ = timers_.Schedule(
        absl::Seconds(session_timeout_s_), [this] {
          session_timer_ = 0;
          ++pools_.counters().session_timeouts;
          VPN_LOG(ppp, kInfo, "%s: user '%s' session timeout", peer_, user_);
          RequestClose("session timeout");
        });
  }
  if (idle_timeout_s_) {
    if (!cb_.traffic_counter) {
      VPN_LOG(ppp, kWarn, "%s: idle timeout configured but no traffic counter",
              peer_);
      return;
    }
    last_traffic_ = cb_.traffic_counter();
    last_activity_ = timers_.Now();
    IdleTick();
  }
}

void ServerSession::IdleTick() {
  const absl::Duration idle = absl::Seconds(idle_timeout_s_);
  const uint64_t now_count = cb_.traffic_counter();
  if (now_count != last_traffic_) {
    last_traffic_ = now_count;
    last_activity_ = timers_.Now();
  }
  const absl::Duration quiet = timers_.Now() - last_activity_;
  if (quiet >= idle) {
    ++pools_.counters().idle_timeouts;
    VPN_LOG(ppp, kInfo, "%s: user '%s' idle for %s", peer_, user_,
            absl::FormatDuration(quiet));
    RequestClose("idle timeout");
    return;
  }
  // Poll often enough to end within a quarter of the timeout of the limit.
  const absl::Duration poll = std::clamp(idle / 4, absl::Seconds(1), absl::Seconds(30));
  idle_timer_ = timers_.Schedule(std::min(poll, idle - quiet), [this] {
    idle_timer_ = 0;
    IdleTick();
  });
}

void ServerSession::CancelSessionTimers() {
  for (auto* t : {&auth_delay_timer_, &session_timer_, &idle_timer_}) {
    if (*t) timers_.Cancel(*t);
    *t = 0;
  }
}

void ServerSession::ReleaseResources() {
  CancelSessionTimers();
  lcp_.Abort();
  if (auth_method_) auth_method_->Stop();
  if (ipcp_) ipcp_->fsm().Abort();
  phase_ = PppPhase::kDead;
  lease_.Release();
  slot_.Release();
}

void ServerSession::NotifyDown(const std::string& reason) {
  ++pools_.counters().sessions_ended;
  // Before authentication succeeds user_ is empty: name who tried instead.
  const std::string who =
      !user_.empty() ? user_ : std::string(Printable(AsBytes(user_name_as_sent_)));
  VPN_LOG(ppp, kInfo, "%s: PPP session of user '%s' ended: %s", peer_, who, reason);
  if (cb_.on_down) cb_.on_down(reason);
}

}  // namespace vpn::ppp

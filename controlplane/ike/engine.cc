#include "engine.h"

#include <arpa/inet.h>

#include <algorithm>

#include "exchanges.h"
#include "vpn/log.h"

namespace vpn::ike {

std::string FormatIp(uint32_t ip_net) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &ip_net, buf, sizeof buf);
  return buf;
}

std::string Endpoint::ToString() const { return FormatIp(ip) + ":" + std::to_string(port); }

std::string_view SaStateName(SaState s) {
  switch (s) {
    case SaState::kMmI1Sent: return "MM_I1";
    case SaState::kMmI3Sent: return "MM_I3";
    case SaState::kMmI5Sent: return "MM_I5";
    case SaState::kMmR2Sent: return "MM_R2";
    case SaState::kMmR4Sent: return "MM_R4";
    case SaState::kAmI1Sent: return "AM_I1";
    case SaState::kAmR2Sent: return "AM_R2";
    case SaState::kEstablished: return "ESTABLISHED";
  }
  return "?";
}

std::string IkeSa::PeerName() const {
  std::string s = remote.ToString();
  if (peer_id) s += " (" + peer_id->ToString() + ")";
  return s;
}

std::string IkeSa::IdentityKey() const {
  return remote.ToString() + "/" + (peer_id ? peer_id->ToString() : std::string("?"));
}

Engine::Engine(const config::Ike& cfg, cp::TimerQueue& timers, cp::SaSink& sink,
               Transport& transport, Events& events, bool responder, InitiatorOptions opts)
    : cfg_(cfg),
      opts_(std::move(opts)),
      responder_(responder),
      timers_(timers),
      sink_(sink),
      transport_(transport),
      events_(events),
      mm_responder_(std::make_unique<MainModeResponder>(*this)),
      mm_initiator_(std::make_unique<MainModeInitiator>(*this)),
      qm_responder_(std::make_unique<QuickModeResponder>(*this)),
      qm_initiator_(std::make_unique<QuickModeInitiator>(*this)),
      informational_(std::make_unique<Informational>(*this)),
      am_responder_(std::make_unique<AggressiveModeResponder>(*this)),
      am_initiator_(std::make_unique<AggressiveModeInitiator>(*this)) {
  auto ike = ParseIkeSuites(cfg.proposals);
  auto esp = ParseEspSuites(cfg.esp_proposals);
  if (!ike.ok()) init_status_ = ike.status();
  else ike_suites_ = std::move(*ike);
  if (!esp.ok()) init_status_ = esp.status();
  else esp_suites_ = std::move(*esp);
  if (!responder_) {
    for (IkeSuite& s : ike_suites_) s.auth = opts_.auth;
  }
  if (!cfg.ca_file.empty() || !cfg.cert_file.empty() || !cfg.key_file.empty()) {
    auto certs = CertStore::Load(cfg.ca_file, cfg.cert_file, cfg.key_file);
    if (!certs.ok()) init_status_ = certs.status();
    else certs_ = std::move(*certs);
  }
  if (!responder_ && opts_.auth == AuthMethod::kRsaSig && !certs_ && init_status_.ok())
    init_status_ = absl::FailedPreconditionError("certificate authentication without certificates");
  log_window_start_ = timers_.Now();
}

absl::Status Engine::Reconfigure(const config::Ike& cfg) {
  auto ike = ParseIkeSuites(cfg.proposals);
  if (!ike.ok()) return ike.status();
  auto esp = ParseEspSuites(cfg.esp_proposals);
  if (!esp.ok()) return esp.status();
  cfg_ = cfg;  // certificate files are restart-only (config_reload.cc)
  ike_suites_ = std::move(*ike);
  if (!responder_) {
    for (IkeSuite& s : ike_suites_) s.auth = opts_.auth;
  }
  esp_suites_ = std::move(*esp);
  return absl::OkStatus();
}

Engine::~Engine() {
  for (auto& [id, sa] : sas_) {
    CancelTimers(*sa);
    // No events: the listeners may be gone already.
    for (auto& [mid, qm] : sa->quick_modes) DropQuickMode(*sa, *qm, false, "shutting down");
  }
}

const IkeSa* Engine::FindSa(uint64_t id) const {
  auto it = sas_.find(id);
  return it == sas_.end() ? nullptr : it->second.get();
}

IkeSa* Engine::Find(uint64_t id) {
  auto it = sas_.find(id);
  return it == sas_.end() ? nullptr : it->second.get();
}

IkeSa& Engine::CreateSa(bool initiator, const Endpoint& local, const Endpoint& remote,
                        uint64_t icookie) {
  auto sa = std::make_unique<IkeSa>();
  uint64_t ours;
  do {
    ours = RandomU64NonZero();
  } while (sas_.count(ours));
  sa->initiator = initiator;
  sa->icookie = initiator ? ours : icookie;
  sa->rcookie = initiator ? 0 : ours;
  sa->local = local;
  sa->remote = remote;
  sa->created = timers_.Now();
  sa->last_heard = sa->created;
  sa->state = initiator ? SaState::kMmI1Sent : SaState::kMmR2Sent;
  IkeSa& ref = *sa;
  sas_[ours] = std::move(sa);
  if (!initiator) {
    half_open_by_icookie_[icookie] = ours;
    ++half_open_by_ip_[remote.ip];
    ++half_open_total_;
  }
  // Half-open SAs die unless phase 1 completes in time.
  ref.half_open_timer = ScheduleOn(ref, absl::Seconds(cfg_.half_open_timeout_s), [this](IkeSa& s) {
    s.half_open_timer = 0;
    ++counters_.half_open_timeouts;
    VPN_LOG(ike, kInfo, "%s: half-open IKE SA timed out in %s", s.PeerName(),
            SaStateName(s.state));
    DeleteIkeSa(s, "half-open timeout", false);
  });
  return ref;
}

bool Engine::AdmitHalfOpen(const Endpoint& remote, uint64_t icookie, ByteSpan) {
  auto it = half_open_by_ip_.find(remote.ip);
  uint32_t from_source = it == half_open_by_ip_.end() ? 0 : it->second;
  if (from_source >= cfg_.half_open_per_source) {
    Refuse(nullptr, {}, remote, icookie, 0, std::nullopt, &Counters::half_open_limit_source,
           "per-source half-open limit reached");
    return false;
  }
  if (half_open_total_ >= cfg_.half_open_total) {
    Refuse(nullptr, {}, remote, icookie, 0, std::nullopt, &Counters::half_open_limit_total,
           "global half-open limit reached");
    return false;
  }
  return true;
}

void Engine::ReleaseHalfOpen(IkeSa& sa) {
  if (sa.initiator) return;
  auto it = half_open_by_icookie_.find(sa.icookie);
  if (it == half_open_by_icookie_.end() || it->second != sa.rcookie) return;
  half_open_by_icookie_.erase(it);
  auto ip = half_open_by_ip_.find(sa.remote.ip);
  if (ip != half_open_by_ip_.end() && --ip->second == 0) half_open_by_ip_.erase(ip);
  --half_open_total_;
}

void Engine::SendRaw(const Endpoint& local, const Endpoint& remote, ByteSpan msg) {
  ++counters_.tx_datagrams;
  transport_.SendIke(local, remote, msg);
}

void Engine::Answer(IkeSa& sa, ByteSpan request, Bytes reply) {
  if (!reply.empty()) Send(sa, reply);
  sa.answered.emplace_back(Hash(HashAlg::kSha256, request), std::move(reply));
  if (sa.answered.size() > 4) sa.answered.pop_front();
}

bool Engine::IsAnsweredDuplicate(IkeSa& sa, ByteSpan msg) {
  if (sa.answered.empty()) return false;
  Bytes digest = Hash(HashAlg::kSha256, msg);
  for (const auto& [req, reply] : sa.answered) {
    if (req == digest) {
      ++counters_.duplicates_retransmitted;
      VPN_LOG(ike, kEvent, "%s: duplicate request, %s", sa.PeerName(),
              reply.empty() ? "already refused" : "retransmitting our reply");
      if (!reply.empty()) Send(sa, reply);
      return true;
    }
  }
  return false;
}

void Engine::SendPlainNotify(const Endpoint& local, const Endpoint& remote, uint64_t icookie,
                             uint64_t rcookie, NotifyType type, Bytes data) {
  NotifyPayload n;
  n.protocol = static_cast<uint8_t>(ProtocolId::kIsakmp);
  n.type = type;
  n.spi = Concat({U64Bytes(icookie), U64Bytes(rcookie)});
  n.data = std::move(data);
  Header h;
  h.icookie = icookie;
  h.rcookie = rcookie;
  h.exchange = ExchangeType::kInformational;
  Bytes msg = BuildPlainMessage(h, {Payload(PayloadType::kNotify, EncodeNotify(n))});
  ++counters_.notifies_sent;
  SendRaw(local, remote, msg);
}

Bytes Engine::Phase2Iv(const IkeSa& sa, uint32_t mid) const {
  return ike::Phase2Iv(sa.suite.hash, sa.last_p1_block, mid, BlockSize(sa.cipher.alg));
}

absl::Status Engine::SendInformational(IkeSa& sa, const std::vector<RawPayload>& payloads) {
  if (!sa.established()) return absl::FailedPreconditionError("IKE SA not established");
  uint32_t mid = NewMessageId(sa);
  HashedChain hc = BuildHashedChain(payloads, [&](ByteSpan rest) {
    return Prf(sa.suite.hash, sa.keys.skeyid_a, Concat({U32Bytes(mid), rest}));
  });
  Header h;
  h.icookie = sa.icookie;
  h.rcookie = sa.rcookie;
  h.exchange = ExchangeType::kInformational;
  h.message_id = mid;
  auto sealed = Seal(h, hc.first, hc.chain, sa.cipher, Phase2Iv(sa, mid));
  if (!sealed.ok()) return sealed.status();
  FinishMessageId(sa, mid);
  Send(sa, sealed->msg);
  return absl::OkStatus();
}

void Engine::Refuse(IkeSa* sa, const Endpoint& local, const Endpoint& remote, uint64_t icookie,
                    uint64_t rcookie, std::optional<NotifyType> notify,
                    uint64_t Counters::*counter, const std::string& reason) {
  ++(counters_.*counter);
  // One line per refusal, but a flood cannot fill the log: 20 lines/second.
  absl::Time now = timers_.Now();
  if (now - log_window_start_ >= absl::Seconds(1)) {
    if (log_lines_in_window_ > 20)
      VPN_LOG(ike, kWarn, "%d refusal log lines suppressed", log_lines_in_window_ - 20);
    log_window_start_ = now;
    log_lines_in_window_ = 0;
  }
  if (++log_lines_in_window_ <= 20) {
    VPN_LOG(ike, kWarn, "refused %s: %s%s", sa ? sa->PeerName() : remote.ToString(), reason,
            notify ? " (" + std::string(NotifyName(*notify)) + ")" : std::string());
  }
  if (!notify) return;
  if (sa && sa->established()) {
    NotifyPayload n;
    n.protocol = static_cast<uint8_t>(ProtocolId::kIsakmp);
    n.type = *notify;
    n.spi = CookieSpi(*sa);
    ++counters_.notifies_sent;
    (void)SendInformational(*sa, {Payload(PayloadType::kNotify, EncodeNotify(n))});
  } else if (sa) {
    SendPlainNotify(sa->local, sa->remote, sa->icookie, sa->rcookie, *notify);
  } else {
    SendPlainNotify(local, remote, icookie, rcookie, *notify);
  }
}

cp::TimerQueue::TimerId Engine::ScheduleOn(IkeSa& sa, absl::Duration after,
                                           std::function<void(IkeSa&)> fn) {
  uint64_t id = sa.id();
  return timers_.Schedule(after, [this, id, fn = std::move(fn)] {
    if (IkeSa* s = Find(id)) fn(*s);
  });
}

void Engine::CancelTimers(IkeSa& sa) {
  for (auto* t : {&sa.half_open_timer, &sa.lifetime_timer, &sa.dpd_timer, &sa.retransmit_timer,
                  &sa.keepalive_timer}) {
    if (*t) timers_.Cancel(*t);
    *t = 0;
  }
  for (auto& c : sa.children) {
    if (c.expiry_timer) timers_.Cancel(c.expiry_timer);
    if (c.rekey_timer) timers_.Cancel(c.rekey_timer);
    c.expiry_timer = c.rekey_timer = 0;
  }
}

uint32_t Engine::NewMessageId(IkeSa& sa) {
  uint32_t mid;
  do {
    mid = RandomU32NonZero();
  } while (MessageIdUsed(sa, mid) || sa.quick_modes.count(mid));
  return mid;
}

bool Engine::MessageIdUsed(const IkeSa& sa, uint32_t mid) const {
  return std::find(sa.finished_message_ids.begin(), sa.finished_message_ids.end(), mid) !=
         sa.finished_message_ids.end();
}

void Engine::FinishMessageId(IkeSa& sa, uint32_t mid) {
  sa.finished_message_ids.push_back(mid);
  if (sa.finished_message_ids.size() > 64) sa.finished_message_ids.pop_front();
}

void Engine::NoteHeardFrom(IkeSa& sa) {
  sa.last_heard = timers_.Now();
  sa.dpd_in_flight = false;
}

bool Engine::HasOtherEstablishedSa(const IkeSa& sa) const {
  for (const auto& [id, other] : sas_)
    if (other.get() != &sa && other->established() && other->remote == sa.remote) return true;
  return false;
}

void Engine::ArmRetransmit(IkeSa& sa, std::optional<uint32_t> qm_mid) {
  if (qm_mid) {
    auto it = sa.quick_modes.find(*qm_mid);
    if (it == sa.quick_modes.end()) return;
    QuickMode& qm = *it->second;
    if (qm.timer) timers_.Cancel(qm.timer);
    uint32_t mid = *qm_mid;
    qm.timer = ScheduleOn(sa, opts_.retransmit_base * (1 << std::min(qm.retransmits, 6)),
                          [this, mid](IkeSa& s) {
                            auto q = s.quick_modes.find(mid);
                            if (q == s.quick_modes.end()) return;
                            q->second->timer = 0;
                            if (q->second->retransmits >= opts_.max_retransmits) {
                              ++counters_.exchange_timeouts;
                              qm_initiator_->Abandon(s, mid, "no reply to Quick Mode");
                              return;
                            }
                            ++q->second->retransmits;
                            ++counters_.retransmits;
                            Send(s, q->second->last_sent);
                            ArmRetransmit(s, mid);
                          });
    return;
  }
  if (sa.retransmit_timer) timers_.Cancel(sa.retransmit_timer);
  sa.retransmit_timer =
      ScheduleOn(sa, opts_.retransmit_base * (1 << std::min(sa.retransmits, 6)), [this](IkeSa& s) {
        s.retransmit_timer = 0;
        if (s.established() || s.last_request.empty()) return;
        if (s.retransmits >= opts_.max_retransmits) {
          ++counters_.exchange_timeouts;
          VPN_LOG(ike, kWarn, "%s: Main Mode timed out in %s", s.PeerName(), SaStateName(s.state));
          DeleteIkeSa(s, "Main Mode timeout", false);
          return;
        }
        ++s.retransmits;
        ++counters_.retransmits;
        Send(s, s.last_request);
        ArmRetransmit(s, std::nullopt);
      });
}

IkeSa* Engine::LookupForMessage(const Header& h) {
  // Responder SAs are keyed by our (responder) cookie, initiator SAs by our
  // initiator cookie; both cookies must match what we know.
  if (h.rcookie) {
    IkeSa* sa = Find(h.rcookie);
    if (sa && !sa->initiator && sa->icookie == h.icookie) return sa;
  }
  IkeSa* sa = Find(h.icookie);
  if (sa && sa->initiator) {
    if (sa->rcookie == h.rcookie) return sa;
    if (sa->rcookie == 0 && h.rcookie &&
        (sa->state == SaState::kMmI1Sent || sa->state == SaState::kAmI1Sent))
      return sa;
  }
  return nullptr;
}

void Engine::OnDatagram(const Endpoint& local, const Endpoint& remote, ByteSpan msg) {
  ++counters_.rx_datagrams;
  auto h = ParseHeader(msg);
  if (!h.ok()) {
    ++counters_.rx_malformed;
    VPN_LOG(ike, kPacket, "%s: dropped malformed datagram: %s", remote.ToString(),
            std::string(h.status().message()));
    return;
  }
  if ((h->version >> 4) != 1) {
    ++counters_.rx_bad_version;
    VPN_LOG(ike, kPacket, "%s: dropped ISAKMP version 0x%02x", remote.ToString(), h->version);
    return;
  }
  if (h->next == PayloadType::kFragment) return OnFragment(local, remote, msg);
  Dispatch(local, remote, msg, *h);
}

void Engine::Dispatch(const Endpoint& local, const Endpoint& remote, ByteSpan msg,
                      const Header& h) {
  if (h.rcookie == 0) {
    // A refusal of our message 1 (the responder had no cookie to give).
    if (h.exchange == ExchangeType::kInformational) {
      IkeSa* sa = Find(h.icookie);
      if (sa && sa->initiator &&
          (sa->state == SaState::kMmI1Sent || sa->state == SaState::kAmI1Sent))
        informational_->OnMessage(sa, local, remote, msg, h);
      else
        ++counters_.rx_unexpected;
      return;
    }
    // Main Mode message 1, or a retransmission of it.
    if (h.exchange != ExchangeType::kIdentityProtection &&
        h.exchange != ExchangeType::kAggressive) {
      ++counters_.rx_unexpected;
      return;
    }
    if (!responder_) {
      ++counters_.rx_unexpected;
      return;
    }
    auto it = half_open_by_icookie_.find(h.icookie);
    if (it != half_open_by_icookie_.end()) {
      IkeSa* sa = Find(it->second);
      if (sa && sa->remote.ip == remote.ip) {
        if (!IsAnsweredDuplicate(*sa, msg)) ++counters_.rx_unexpected;
        return;
      }
    }
    if (h.exchange == ExchangeType::kAggressive && !cfg_.allow_aggressive) {
      Refuse(nullptr, local, remote, h.icookie, 0, NotifyType::kNoProposalChosen,
             &Counters::aggressive_refused, "Aggressive Mode is not allowed");
      return;
    }
    if (h.exchange == ExchangeType::kAggressive) {
      am_responder_->OnFirstMessage(local, remote, msg, h);
      return;
    }
    mm_responder_->OnFirstMessage(local, remote, msg, h);
    return;
  }

  IkeSa* sa = LookupForMessage(h);
  if (!sa) {
    // Never answer an Informational with a notify (no notify loops).
    std::optional<NotifyType> n;
    if (h.exchange != ExchangeType::kInformational) n = NotifyType::kInvalidCookie;
    Refuse(nullptr, local, remote, h.icookie, h.rcookie, n, &Counters::rx_invalid_cookie,
           "no IKE SA for these cookies");
    return;
  }
  if (IsAnsweredDuplicate(*sa, msg)) return;

  switch (h.exchange) {
    case ExchangeType::kAggressive:
      if (sa->established() || (!sa->initiator && !cfg_.allow_aggressive)) {
        ++counters_.rx_unexpected;
        return;
      }
      if (sa->initiator) am_initiator_->OnMessage2(*sa, msg);
      else am_responder_->OnMessage3(*sa, local, remote, msg);
      return;
    case ExchangeType::kIdentityProtection:
      if (sa->established()) {
        ++counters_.rx_unexpected;
        return;
      }
      if (sa->initiator) mm_initiator_->OnMessage(*sa, msg, h);
      else mm_responder_->OnMessage(*sa, local, remote, msg, h);
      return;
    case ExchangeType::kInformational:
      informational_->OnMessage(sa, local, remote, msg, h);
      return;
    case ExchangeType::kQuickMode: {
      if (!sa->established() || !(h.flags & flags::kEncryption) || h.message_id == 0) {
        ++counters_.rx_unexpected;
        return;
      }
      auto it = sa->quick_modes.find(h.message_id);
      if (it != sa->quick_modes.end()) {
        if (it->second->initiator) qm_initiator_->OnMessage2(*sa, *it->second, msg, h);
        else qm_responder_->OnMessage3(*sa, *it->second, msg, h);
        return;
      }
      if (MessageIdUsed(*sa, h.message_id)) {
        ++counters_.rx_invalid_message_id;
        return;
      }
      qm_responder_->OnMessage1(*sa, msg, h);
      return;
    }
    default:
      Refuse(sa, local, remote, h.icookie, h.rcookie, NotifyType::kUnsupportedExchangeType,
             &Counters::unsupported_exchange,
             "exchange type " + std::to_string(static_cast<int>(h.exchange)));
      return;
  }
}

void Engine::OnEstablished(IkeSa& sa) {
  sa.state = SaState::kEstablished;
  sa.established_at = timers_.Now();
  sa.last_heard = sa.established_at;
  sa.retransmits = 0;
  sa.last_request.clear();
  if (sa.half_open_timer) timers_.Cancel(sa.half_open_timer);
  if (sa.retransmit_timer) timers_.Cancel(sa.retransmit_timer);
  sa.half_open_timer = sa.retransmit_timer = 0;
  ReleaseHalfOpen(sa);
  ++counters_.ike_sa_established;
  if (sa.peer_behind_nat || sa.local_behind_nat) ++counters_.nat_detected;
  VPN_LOG(ike, kInfo, "%s: IKE SA %016x established (%s, %s, NAT-T %s%s), key %s",
          sa.PeerName(), sa.id(), sa.suite.ToString(), sa.initiator ? "initiator" : "responder",
          sa.nat_t == NatT::kNone ? "off" : sa.nat_t == NatT::kDraft ? "draft" : "RFC 3947",
          sa.peer_behind_nat ? ", peer behind NAT" : "", sa.psk_source);
  sa.lifetime_timer = ScheduleOn(sa, absl::Seconds(sa.lifetime_s), [this](IkeSa& s) {
    s.lifetime_timer = 0;
    ++counters_.ike_sa_expired;
    DeleteIkeSa(s, "lifetime expired", true);
  });

  // Other IKE SAs of the same identity: INITIAL-CONTACT says the peer has no
  // state (RFC 2407 4.6.3.3), so theirs is stale; otherwise this is a
  // phase 1 rekey and the ESP SAs move here (they outlive the IKE SA).
  std::string key = sa.IdentityKey();
  std::vector<uint64_t> stale;
  for (auto& [id, other] : sas_) {
    if (other.get() == &sa || !other->established() || other->initiator != sa.initiator ||
        other->IdentityKey() != key)
      continue;
    if (sa.peer_initial_contact) {
      stale.push_back(id);
    } else {
      MoveChildren(*other, sa);
      // The new SA probes the peer from now on: a dead old SA (the peer
      // forgot it) must not declare a live peer dead.
      for (auto* t : {&other->dpd_timer, &other->keepalive_timer}) {
        if (*t) timers_.Cancel(*t);
        *t = 0;
      }
      other->superseded = true;
    }
  }
  for (uint64_t id : stale) {
    if (IkeSa* s = Find(id)) {
      ++counters_.initial_contact_cleared;
      VPN_LOG(ike, kInfo, "%s: INITIAL-CONTACT clears stale IKE SA %016x", sa.PeerName(), id);
      DeleteIkeSa(*s, "INITIAL-CONTACT", false);
    }
  }
  events_.OnIkeSaEstablished(sa.id(), sa.remote, sa.peer_id ? sa.peer_id->ToString() : "");
  StartDpd(sa);
  StartNatKeepalive(sa);
}

void Engine::StartDpd(IkeSa& sa) {
  if (cfg_.dpd_interval_s == 0 || !sa.peer_dpd || sa.superseded) return;
  sa.dpd_timer = ScheduleOn(sa, absl::Seconds(cfg_.dpd_interval_s), [this](IkeSa& s) {
    s.dpd_timer = 0;
    DpdTick(s);
  });
}

// RFC 3706 5: probe only when idle; declare the peer dead when probes go
// unanswered for dpd_timeout_s.
void Engine::DpdTick(IkeSa& sa) {
  if (sa.superseded) return;
  absl::Time now = timers_.Now();
  if (sa.dpd_in_flight && now - sa.dpd_probe_started >= absl::Seconds(cfg_.dpd_timeout_s)) {
    ++counters_.dpd_dead;
    VPN_LOG(ike, kWarn, "%s: peer dead (no R-U-THERE-ACK for %ds)", sa.PeerName(),
            cfg_.dpd_timeout_s);
    uint64_t id = sa.id();
    Endpoint remote = sa.remote;
    events_.OnPeerDead(id, remote);
    if (IkeSa* s = Find(id)) DeleteIkeSa(*s, "dead peer", false);
    return;
  }
  if (sa.dpd_in_flight || now - sa.last_heard >= absl::Seconds(cfg_.dpd_interval_s)) {
    if (!sa.dpd_in_flight) sa.dpd_probe_started = now;
    (void)informational_->SendDpd(sa);
    sa.dpd_in_flight = true;
  }
  StartDpd(sa);
}

absl::Status Engine::SendDpd(uint64_t ike_sa) {
  IkeSa* sa = Find(ike_sa);
  if (!sa || !sa->established()) return absl::NotFoundError("no such established IKE SA");
  return informational_->SendDpd(*sa);
}

IkeSa* Engine::Successor(const IkeSa& sa) {
  IkeSa* best = nullptr;
  const std::string key = sa.IdentityKey();
  for (auto& [oid, other] : sas_) {
    if (other.get() == &sa || !other->established() || other->initiator != sa.initiator ||
        other->established_at < sa.established_at || other->IdentityKey() != key)
      continue;
    if (!best || other->established_at >= best->established_at) best = other.get();
  }
  return best;
}

void Engine::DeleteIkeSa(IkeSa& sa, const std::string& reason, bool send_delete) {
  uint64_t id = sa.id();
  // A newer established IKE SA of the same identity adopts the ESP SAs
  // first, so that neither a DELETE for them nor their removal goes out.
  if (!sa.children.empty() && reason != "dead peer" && reason != "INITIAL-CONTACT" &&
      reason != "deleted by operator") {
    if (IkeSa* heir = Successor(sa)) MoveChildren(sa, *heir);
  }
  if (send_delete && sa.established()) {
    for (const auto& c : sa.children) (void)informational_->SendDeleteChild(sa, c.inbound_spi);
    (void)informational_->SendDeleteIke(sa);
  }
  CancelTimers(sa);
  // A Quick Mode of this SA still waiting for message 3 will not get it:
  // its inbound-only SA goes too.
  for (auto& [mid, qm] : sa.quick_modes) DropQuickMode(sa, *qm, true, "IKE SA " + reason);
  sa.quick_modes.clear();
  while (!sa.children.empty()) RemoveChild(sa, sa.children.back().inbound_spi, false, reason);
  ReleaseHalfOpen(sa);
  VPN_LOG(ike, kInfo, "%s: IKE SA %016x deleted: %s", sa.PeerName(), id, reason);
  ++counters_.ike_sa_deleted;
  bool was_established = sa.established();
  sas_.erase(id);
  if (was_established) events_.OnIkeSaDeleted(id);
}

}  // namespace vpn::ike

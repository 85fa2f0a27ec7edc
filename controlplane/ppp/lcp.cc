#include "lcp.h"

#include "crypto.h"
#include "ppp_defs.h"
#include "vpn/log.h"

namespace vpn::ppp {

Lcp::Lcp(const LcpSettings& settings, const FsmConfig& fsm_config,
         cp::TimerQueue& timers, Fsm::Sender send, LcpEvents& events)
    : settings_(settings),
      fsm_config_(fsm_config),
      timers_(timers),
      events_(events),
      want_mru_(settings.mru),
      magic_(NewMagic()),
      want_accm_(settings.request_accm),
      want_pfc_(settings.request_pfc),
      want_acfc_(settings.request_acfc),
      want_auth_(settings.server && !settings.request_auth.empty()),
      want_extra_(settings.extra_options),
      auth_tried_(settings.request_auth.size(), false),
      fsm_("LCP", kProtoLcp, *this, fsm_config, timers, std::move(send)) {}

Lcp::~Lcp() { StopEcho(); }

uint32_t Lcp::NewMagic() {
  uint32_t m = 0;
  while (m == 0) m = RandomU32();
  return m;
}

bool Lcp::SendProtocolReject(uint16_t protocol, ByteSpan info) {
  if (fsm_.state() != FsmState::kOpened) return false;
  // RFC 1661 5.7: the rejected information is truncated to the peer's MRU.
  const size_t room = result_.peer_mru > 6 ? result_.peer_mru - 6 : 0;
  Bytes d;
  PutU16(d, protocol);
  PutBytes(d, info.first(std::min(info.size(), room)));
  fsm_.SendPacket(kProtocolReject, d);
  return true;
}

std::optional<FsmEvent> Lcp::ClassifyExtendedCode(const ControlPacket& p) {
  const bool opened = fsm_.state() == FsmState::kOpened;
  switch (p.code) {
    case kProtocolReject: {
      if (p.data.size() < 2) return FsmEvent::kRxr;  // malformed: ignore
      const uint16_t proto = ReadU16(p.data, 0);
      if (proto == kProtoLcp) return FsmEvent::kRxjMinus;
      if (opened) events_.LcpProtocolRejected(proto);
      return FsmEvent::kRxjPlus;
    }
    case kEchoRequest:
      if (p.data.size() >= 4 && result_.our_magic &&
          ReadU32(p.data, 0) == result_.our_magic) {
        VPN_LOG(ppp, kWarn, "LCP: Echo-Request with our own magic: looped link?");
      }
      return FsmEvent::kRxr;
    case kEchoReply:
      if (opened && p.data.size() >= 4) {
        const uint32_t m = ReadU32(p.data, 0);
        if (result_.our_magic && m == result_.our_magic) {
          VPN_LOG(ppp, kWarn, "LCP: Echo-Reply with our own magic: looped link?");
        } else {
          echo_outstanding_ = 0;
        }
      }
      return FsmEvent::kRxr;
    case kDiscardRequest:
    case kIdentification:
    case kTimeRemaining:
      return FsmEvent::kRxr;
    default:
      return std::nullopt;
  }
}

FsmEvent Lcp::ClassifyCodeReject(uint8_t code) {
  // RFC 1661 5.6: rejecting a code LCP needs (1..8) is catastrophic;
  // Echo/Discard/Identification are optional.
  return code >= kConfigureRequest && code <= kProtocolReject
             ? FsmEvent::kRxjMinus
             : FsmEvent::kRxjPlus;
}

Bytes Lcp::EchoReplyData(const ControlPacket& request) {
  // RFC 1661 5.8: our magic, then the request's data after its magic.
  Bytes d;
  PutU32(d, result_.our_magic);
  if (request.data.size() > 4) PutBytes(d, request.data.subspan(4));
  return d;
}

void Lcp::ThisLayerUp() {
  StopEcho();
  loop_suspicions_ = 0;
  echo_outstanding_ = 0;
  if (settings_.echo_interval_s) {
    echo_timer_ = timers_.Schedule(absl::Seconds(settings_.echo_interval_s),
                                   [this] { EchoTick(); });
  }
  events_.LcpUp();
}

void Lcp::ThisLayerDown() {
  StopEcho();
  events_.LcpDown();
}

void Lcp::ThisLayerFinished() {
  StopEcho();
  events_.LcpFinished();
}

void Lcp::EchoTick() {
  echo_timer_ = 0;
  if (fsm_.state() != FsmState::kOpened) return;
  if (echo_outstanding_ >= settings_.echo_failures) {
    events_.LcpEchoTimeout();
    return;
  }
  ++echo_outstanding_;
  Bytes d;
  PutU32(d, result_.our_magic);
  fsm_.SendPacket(kEchoRequest, d);
  echo_timer_ = timers_.Schedule(absl::Seconds(settings_.echo_interval_s),
                                 [this] { EchoTick(); });
}

void Lcp::StopEcho() {
  if (echo_timer_) timers_.Cancel(echo_timer_);
  echo_timer_ = 0;
}

}  // namespace vpn::ppp

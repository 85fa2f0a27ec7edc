#include "fsm.h"

#include <algorithm>

#include "vpn/log.h"

namespace vpn::ppp {

// The packet behind a receive event, with our judgement of a
// Configure-Request.
struct Fsm::Rx {
  ControlPacket pkt;
  RcrVerdict verdict = RcrVerdict::kAck;
  Bytes reply;
};

namespace {
// States in which the restart timer runs (RFC 1661 4.6: it runs while
// Configure-Requests or Terminate-Requests are outstanding).
bool TimerState(FsmState s) {
  return s >= FsmState::kClosing && s <= FsmState::kAckSent;
}
// States whose transitions actually use the content of a Configure-Request or
// of a reply to ours; elsewhere the table reacts the same to "+" and "-".
bool NegotiatingState(FsmState s) {
  return s == FsmState::kStopped || s >= FsmState::kReqSent;
}
// Largest rejected packet we echo in a Code-Reject (RFC 1661 5.6: truncated
// to the peer's MRU; 1000 is below any MRU we accept usefully).
constexpr size_t kMaxRejectedEcho = 1000;
}  // namespace

Fsm::Fsm(std::string name, uint16_t protocol, FsmProtocol& proto,
         const FsmConfig& config, cp::TimerQueue& timers, Sender send)
    : name_(std::move(name)),
      protocol_(protocol),
      proto_(proto),
      config_(config),
      timers_(timers),
      send_(std::move(send)) {}

Fsm::~Fsm() { StopTimer(); }

void Fsm::Close(std::string_view reason) {
  terminate_reason_ = std::string(reason);
  Dispatch(FsmEvent::kClose, nullptr);
}

void Fsm::Input(ByteSpan payload) {
  auto parsed = ParseControlPacket(payload);
  if (!parsed) {
    ++dropped_;
    VPN_LOG(ppp, kPacket, "%s: malformed packet (%u bytes) dropped", name_,
            payload.size());
    return;
  }
  Rx rx;
  rx.pkt = *parsed;
  const ByteSpan data = rx.pkt.data;
  const bool negotiating = NegotiatingState(state_);
  switch (rx.pkt.code) {
    case kConfigureRequest: {
      if (negotiating) {
        rx.verdict = proto_.JudgeRequest(
            data, failure_counter_ >= config_.max_failure, &rx.reply);
        if (rx.verdict == RcrVerdict::kDiscard) {
          ++dropped_;
          return;
        }
      }
      Dispatch(rx.verdict == RcrVerdict::kAck ? FsmEvent::kRcrPlus
                                              : FsmEvent::kRcrMinus,
               &rx);
      return;
    }
    case kConfigureAck:
    case kConfigureNak:
    case kConfigureReject: {
      // RFC 1661 5.2-5.4: a reply must carry the Identifier of our last
      // Configure-Request; an Ack must repeat its options exactly.
      if (rx.pkt.id != last_request_id_) {
        ++dropped_;
        return;
      }
      if (rx.pkt.code == kConfigureAck) {
        if (!std::equal(data.begin(), data.end(), last_request_options_.begin(),
                        last_request_options_.end())) {
          ++dropped_;
          return;
        }
        if (state_ == FsmState::kReqSent || state_ == FsmState::kAckSent) {
          proto_.OnAck(data);
        }
        Dispatch(FsmEvent::kRca, &rx);
        return;
      }
      if (negotiating) {
        const bool ok = rx.pkt.code == kConfigureNak ? proto_.OnNak(data)
                                                     : proto_.OnReject(data);
        if (!ok) {
          ++dropped_;
          return;
        }
      }
      Dispatch(FsmEvent::kRcn, &rx);
      return;
    }
    case kTerminateRequest:
      proto_.OnTerminateRequest(data);
      Dispatch(FsmEvent::kRtr, &rx);
      return;
    case kTerminateAck:
      Dispatch(FsmEvent::kRta, &rx);
      return;
    case kCodeReject:
      if (data.empty()) {
        ++dropped_;
        return;
      }
      Dispatch(proto_.ClassifyCodeReject(data[0]), &rx);
      return;
    default: {
      auto ev = proto_.ClassifyExtendedCode(rx.pkt);
      Dispatch(ev ? *ev : FsmEvent::kRuc, &rx);
      return;
    }
  }
}

void Fsm::Dispatch(FsmEvent e, const Rx* rx) {
  const FsmTransition& t = LookupTransition(e, state_);
  if (!t.possible) {
    ++impossible_;
    VPN_LOG(ppp, kEvent, "%s: event %s ignored in state %s", name_,
            EventName(e), StateName(state_));
    return;
  }
  const FsmState from = state_;
  // irc before str initialises for Max-Terminate, otherwise Max-Configure.
  bool terminate = false;
  for (FsmAction a : t.actions) terminate |= a == FsmAction::kStr;
  for (FsmAction a : t.actions) {
    if (a == FsmAction::kNone) break;
    // This-Layer-Up/Finished see the new state (the upper layer may act on
    // it); This-Layer-Down/Started run in the old one.
    if (a == FsmAction::kTlu || a == FsmAction::kTlf) SetState(t.next);
    Do(a, terminate, rx);
  }
  SetState(t.next);
  if (from != state_) {
    VPN_LOG(ppp, kEvent, "%s: %s %s -> %s", name_, EventName(e),
            StateName(from), StateName(state_));
  }
}

void Fsm::Do(FsmAction a, bool irc_for_terminate, const Rx* rx) {
  if (observer_) observer_(a);
  switch (a) {
    case FsmAction::kNone:
      return;
    case FsmAction::kTlu:
      proto_.ThisLayerUp();
      return;
    case FsmAction::kTld:
      proto_.ThisLayerDown();
      return;
    case FsmAction::kTls:
      proto_.ThisLayerStarted();
      return;
    case FsmAction::kTlf:
      proto_.ThisLayerFinished();
      return;
    case FsmAction::kIrc:
      restart_counter_ =
          irc_for_terminate ? config_.max_terminate : config_.max_configure;
      if (!irc_for_terminate) failure_counter_ = 0;
      return;
    case FsmAction::kZrc:
      restart_counter_ = 0;
      StartTimer();
      return;
    case FsmAction::kScr:
      SendConfigureRequest();
      return;
    case FsmAction::kSca:
      if (!rx) return;
      failure_counter_ = 0;
      proto_.OnAckSent(rx->reply);
      send_(BuildControlFrame(protocol_, kConfigureAck, rx->pkt.id, rx->reply));
      return;
    case FsmAction::kScn:
      if (!rx) return;
      if (rx->verdict == RcrVerdict::kNak) {
        ++failure_counter_;
        send_(BuildControlFrame(protocol_, kConfigureNak, rx->pkt.id,
                                rx->reply));
      } else {
        send_(BuildControlFrame(protocol_, kConfigureReject, rx->pkt.id,
                                rx->reply));
      }
      return;
    case FsmAction::kStr:
      send_(BuildControlFrame(protocol_, kTerminateRequest, NextId(),
                              AsBytes(terminate_reason_)));
      if (restart_counter_ > 0) --restart_counter_;
      StartTimer();
      return;
    case FsmAction::kSta:
      send_(BuildControlFrame(protocol_, kTerminateAck,
                              rx ? rx->pkt.id : NextId(), {}));
      return;
    case FsmAction::kScj:
      if (!rx) return;
      send_(BuildControlFrame(
          protocol_, kCodeReject, NextId(),
          rx->pkt.whole.first(std::min(rx->pkt.whole.size(), kMaxRejectedEcho))));
      return;
    case FsmAction::kSer:
      // RXR covers Echo-Request, Echo-Reply and Discard-Request; only the
      // first is answered (RFC 1661 5.8).
      if (rx && rx->pkt.code == kEchoRequest) {
        send_(BuildControlFrame(protocol_, kEchoReply, rx->pkt.id,
                                proto_.EchoReplyData(rx->pkt)));
      }
      return;
  }
}

void Fsm::SendConfigureRequest() {
  last_request_options_ = proto_.BuildRequestOptions();
  last_request_id_ = NextId();
  send_(BuildControlFrame(protocol_, kConfigureRequest, last_request_id_,
                          last_request_options_));
  if (restart_counter_ > 0) --restart_counter_;
  StartTimer();
}

void Fsm::StartTimer() {
  StopTimer();
  timer_ = timers_.Schedule(config_.restart, [this] { OnTimeout(); });
}

void Fsm::StopTimer() {
  if (timer_) timers_.Cancel(timer_);
  timer_ = 0;
}

void Fsm::OnTimeout() {
  timer_ = 0;
  Dispatch(restart_counter_ > 0 ? FsmEvent::kTimeoutPlus
                                : FsmEvent::kTimeoutMinus,
           nullptr);
}

void Fsm::SetState(FsmState s) {
  state_ = s;
  if (!TimerState(s)) StopTimer();
}

void Fsm::ForceStateForTest(FsmState s, uint32_t restart_counter,
                            uint8_t last_request_id) {
  state_ = s;
  restart_counter_ = restart_counter;
  last_request_id_ = last_request_id;
  id_ = last_request_id;
  last_request_options_ = proto_.BuildRequestOptions();
  if (TimerState(s)) {
    StartTimer();
  } else {
    StopTimer();
  }
}

}  // namespace vpn::ppp

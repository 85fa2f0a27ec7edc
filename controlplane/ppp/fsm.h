// The RFC 1661 section 4 option negotiation automaton, shared by LCP and
// IPCP (the accel-ppp / pppd structure): this class owns states, events,
// actions, the restart timer and counters; the protocol-specific part (which
// options to request, how to judge the peer's) plugs in as an FsmProtocol.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "packet.h"
#include "ppp_defs.h"
#include "timer_queue.h"

namespace vpn::ppp {

// RFC 1661 section 4.2 states, numbered as in the transition table.
enum class FsmState : uint8_t {
  kInitial = 0,
  kStarting = 1,
  kClosed = 2,
  kStopped = 3,
  kClosing = 4,
  kStopping = 5,
  kReqSent = 6,
  kAckRcvd = 7,
  kAckSent = 8,
  kOpened = 9,
};
inline constexpr int kFsmStateCount = 10;

// RFC 1661 section 4.3 events.
enum class FsmEvent : uint8_t {
  kUp, kDown, kOpen, kClose,
  kTimeoutPlus, kTimeoutMinus,
  kRcrPlus, kRcrMinus, kRca, kRcn, kRtr, kRta, kRuc,
  kRxjPlus, kRxjMinus, kRxr,
};
inline constexpr int kFsmEventCount = 16;

// RFC 1661 section 4.4 actions.
enum class FsmAction : uint8_t {
  kNone, kTlu, kTld, kTls, kTlf, kIrc, kZrc,
  kScr, kSca, kScn, kStr, kSta, kScj, kSer,
};

struct FsmTransition {
  bool possible = false;  // false: the RFC's "-" (cannot occur; ignored)
  std::array<FsmAction, 4> actions{};
  FsmState next = FsmState::kInitial;
};
// The RFC 1661 section 4.1 state transition table (fsm_table.cc).
const FsmTransition& LookupTransition(FsmEvent e, FsmState s);

std::string_view StateName(FsmState s);
std::string_view EventName(FsmEvent e);
std::string_view ActionName(FsmAction a);

struct FsmConfig {
  absl::Duration restart = absl::Seconds(3);  // RFC 1661 4.6 Restart timer
  uint32_t max_terminate = 2;
  uint32_t max_configure = 10;
  uint32_t max_failure = 5;
};

// Judgement of a received Configure-Request (RFC 1661 5.1-5.4). kDiscard:
// the option list itself is malformed; the packet is silently dropped.
enum class RcrVerdict : uint8_t { kAck, kNak, kReject, kDiscard };

// The protocol-specific half of a negotiation.
class FsmProtocol {
 public:
  virtual ~FsmProtocol() = default;
  // Options for our next Configure-Request (RFC 1661 5.1).
  virtual Bytes BuildRequestOptions() = 0;
  // Judges the peer's options. `reply` gets the options of the Ack (an exact
  // copy), Nak (our suggestions) or Reject (the unacceptable ones). When
  // `nak_as_reject` (Max-Failure reached, RFC 1661 4.6) options that would be
  // Nak'd must be rejected instead.
  virtual RcrVerdict JudgeRequest(ByteSpan options, bool nak_as_reject,
                                  Bytes* reply) = 0;
  // The peer acknowledged our last request (already checked to be an exact
  // copy of it).
  virtual void OnAck(ByteSpan options) = 0;
  // We are sending a Configure-Ack of the peer's request with `options`
  // (the sca action): from now on the peer may consider them agreed.
  virtual void OnAckSent(ByteSpan /*options*/) {}
  // Nak / Reject of our last request; return false if the packet is invalid
  // (e.g. a Reject naming options we did not send) to discard it silently.
  virtual bool OnNak(ByteSpan options) = 0;
  virtual bool OnReject(ByteSpan options) = 0;
  // Codes beyond Terminate/Code-Reject (LCP codes 8..13). Return the event
  // the code maps to (RXJ+/RXJ-/RXR), or nullopt for an unknown code (RUC).
  virtual std::optional<FsmEvent> ClassifyExtendedCode(const ControlPacket&) {
    return std::nullopt;
  }
  // A Code-Reject naming `code`: RXJ- when the code is one the protocol
  // cannot work without (RFC 1661 5.6), RXJ+ otherwise.
  virtual FsmEvent ClassifyCodeReject(uint8_t code) {
    return code <= kCodeReject ? FsmEvent::kRxjMinus : FsmEvent::kRxjPlus;
  }
  // A Terminate-Request arrived (before the automaton reacts); `data` is the
  // peer's reason text, if any.
  virtual void OnTerminateRequest(ByteSpan /*data*/) {}
  // Data of an Echo-Reply to `request` (the ser action, LCP only).
  virtual Bytes EchoReplyData(const ControlPacket& /*request*/) { return {}; }
  // This-Layer-Up/Down/Started/Finished (RFC 1661 4.4).
  virtual void ThisLayerUp() = 0;
  virtual void ThisLayerDown() = 0;
  virtual void ThisLayerStarted() {}
  virtual void ThisLayerFinished() = 0;
};

class Fsm {
 public:
  using Sender = std::function<void(const Bytes& frame)>;
  Fsm(std::string name, uint16_t protocol, FsmProtocol& proto,
      const FsmConfig& config, cp::TimerQueue& timers, Sender send);
  ~Fsm();
  Fsm(const Fsm&) = delete;
  Fsm& operator=(const Fsm&) = delete;

  // Administrative and lower-layer events.
  void Up() { Dispatch(FsmEvent::kUp, nullptr); }
  void Down() { Dispatch(FsmEvent::kDown, nullptr); }
  void Open() { Dispatch(FsmEvent::kOpen, nullptr); }
  // `reason` goes into the Data of our Terminate-Requests.
  void Close(std::string_view reason);

  // A received packet of this protocol (after the protocol field).
  void Input(ByteSpan payload);

  FsmState state() const { return state_; }
  uint32_t restart_counter() const { return restart_counter_; }
  uint8_t NextId() { return ++id_; }
  const std::string& name() const { return name_; }
  uint16_t protocol() const { return protocol_; }
  // Stops without any action or packet (the session is gone or its link
  // is down): timer off, state Initial.
  void Abort() {
    StopTimer();
    state_ = FsmState::kInitial;
  }
  // Packets dropped as malformed or stale, and events the table marks "-".
  uint64_t dropped() const { return dropped_; }
  uint64_t impossible_events() const { return impossible_; }
  // Sends a packet of this protocol with a fresh identifier (LCP uses it for
  // Echo-Request and Protocol-Reject).
  void SendPacket(uint8_t code, ByteSpan data) {
    send_(BuildControlFrame(protocol_, code, NextId(), data));
  }

  // Test hooks: the state table test starts from every state.
  void ForceStateForTest(FsmState s, uint32_t restart_counter,
                         uint8_t last_request_id);
  void SetActionObserverForTest(std::function<void(FsmAction)> obs) {
    observer_ = std::move(obs);
  }

 private:
  struct Rx;  // the received packet behind an event
  void Dispatch(FsmEvent e, const Rx* rx);
  void Do(FsmAction a, bool irc_for_terminate, const Rx* rx);
  void SendConfigureRequest();
  void StartTimer();
  void StopTimer();
  void OnTimeout();
  void SetState(FsmState s);

  std::string name_;
  uint16_t protocol_;
  FsmProtocol& proto_;
  FsmConfig config_;
  cp::TimerQueue& timers_;
  Sender send_;

  FsmState state_ = FsmState::kInitial;
  uint32_t restart_counter_ = 0;
  uint32_t failure_counter_ = 0;  // Configure-Naks sent since the last Ack
  uint8_t id_ = 0;
  uint8_t last_request_id_ = 0;
  Bytes last_request_options_;
  std::string terminate_reason_;
  cp::TimerQueue::TimerId timer_ = 0;
  uint64_t dropped_ = 0;
  uint64_t impossible_ = 0;
  std::function<void(FsmAction)> observer_;
};

}  // namespace vpn::ppp

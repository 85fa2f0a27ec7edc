// LCP (RFC 1661 sections 5 and 6): the option set both roles negotiate on
// top of the shared automaton, plus what only LCP does: Protocol-Reject,
// Echo keepalive with dead-peer detection, magic-number loop detection.
// Option handling is in lcp_options.cc, the rest in lcp.cc.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fsm.h"
#include "timer_queue.h"
#include "vpn/config.h"

namespace vpn::ppp {

struct LcpSettings {
  bool server = true;
  uint16_t mru = 1400;  // our MRU to request (config ppp.mtu); 0: do not
  // Server: methods to request, in preference order (RFC 1661 6.2). On a
  // Configure-Nak we move to the peer's suggestion or the next one.
  std::vector<config::AuthMethod> request_auth;
  // Client: methods we can perform, preferred first (our Nak suggestion).
  std::vector<config::AuthMethod> accept_auth;
  // Client knobs, to look like the clients we meet (Windows asks ACCM 0).
  bool request_accm = false;
  bool request_pfc = false;
  bool request_acfc = false;
  // Client: further options to request verbatim (type, length, value), as
  // stock clients do with callback, MRRU or endpoint discriminator; each is
  // dropped when the peer rejects or Naks it.
  std::vector<std::vector<uint8_t>> extra_options;
  uint32_t echo_interval_s = 0;  // 0: no keepalive
  uint32_t echo_failures = 5;
};

// What was agreed, valid once LCP is Opened.
struct LcpResult {
  uint16_t our_mru = kDefaultMru;   // we receive up to this
  uint16_t peer_mru = kDefaultMru;  // we send up to this
  uint32_t our_magic = 0;
  uint32_t peer_magic = 0;
  bool peer_pfc = false;   // peer accepts a compressed protocol field
  bool peer_acfc = false;  // peer accepts frames without FF03
  std::optional<config::AuthMethod> auth;
};

class LcpEvents {
 public:
  virtual ~LcpEvents() = default;
  virtual void LcpUp() = 0;
  virtual void LcpDown() = 0;
  virtual void LcpFinished() = 0;
  // Negotiation cannot succeed (no common auth method, looped-back link):
  // the session should Close LCP with this reason.
  virtual void LcpFatal(std::string reason) = 0;
  virtual void LcpProtocolRejected(uint16_t protocol) = 0;
  virtual void LcpEchoTimeout() = 0;
};

class Lcp : public FsmProtocol {
 public:
  Lcp(const LcpSettings& settings, const FsmConfig& fsm_config,
      cp::TimerQueue& timers, Fsm::Sender send, LcpEvents& events);
  ~Lcp() override;

  Fsm& fsm() { return fsm_; }
  const LcpResult& result() const { return result_; }
  // Sends Protocol-Reject for a frame of `protocol` (RFC 1661 5.7); only in
  // the Opened state. `info` is the frame after the protocol field.
  bool SendProtocolReject(uint16_t protocol, ByteSpan info);
  uint32_t echo_outstanding() const { return echo_outstanding_; }
  // The peer sent Terminate-Request (and its reason text).
  bool peer_terminated() const { return peer_terminated_; }
  const std::string& peer_terminate_reason() const {
    return peer_terminate_reason_;
  }
  void Abort() {
    StopEcho();
    fsm_.Abort();
  }

  // FsmProtocol (options: lcp_options.cc).
  Bytes BuildRequestOptions() override;
  RcrVerdict JudgeRequest(ByteSpan options, bool nak_as_reject,
                          Bytes* reply) override;
  void OnAck(ByteSpan options) override;
  bool OnNak(ByteSpan options) override;
  bool OnReject(ByteSpan options) override;
  std::optional<FsmEvent> ClassifyExtendedCode(const ControlPacket& p) override;
  FsmEvent ClassifyCodeReject(uint8_t code) override;
  Bytes EchoReplyData(const ControlPacket& request) override;
  void OnTerminateRequest(ByteSpan data) override {
    peer_terminated_ = true;
    peer_terminate_reason_ = Printable(data);
  }
  void ThisLayerUp() override;
  void ThisLayerDown() override;
  void ThisLayerFinished() override;

 private:
  static uint32_t NewMagic();
  void EchoTick();
  void StopEcho();
  std::optional<config::AuthMethod> CurrentAuth() const;
  bool WantExtra(uint8_t type) const;
  void DropExtra(uint8_t type);

  LcpSettings settings_;
  const FsmConfig fsm_config_;
  cp::TimerQueue& timers_;
  LcpEvents& events_;
  LcpResult result_;

  // Our request as it stands after Naks and Rejects.
  uint16_t want_mru_;
  bool want_magic_ = true;
  uint32_t magic_;
  bool want_accm_, want_pfc_, want_acfc_;
  bool want_auth_;
  std::vector<Bytes> want_extra_;
  size_t auth_index_ = 0;
  std::vector<bool> auth_tried_;
  uint32_t loop_suspicions_ = 0;
  bool peer_terminated_ = false;
  std::string peer_terminate_reason_;

  cp::TimerQueue::TimerId echo_timer_ = 0;
  uint32_t echo_outstanding_ = 0;

  Fsm fsm_;  // last: refers to *this
};

}  // namespace vpn::ppp

// IPCP (RFC 1332) with the DNS/NBNS extensions (RFC 1877), server and client
// halves over the shared automaton.
//
//   type  option              server judges peer's      client
//   1     IP-Addresses        reject (deprecated)       never sent
//   2     IP-Compression (VJ) reject                    optional (test knob)
//   3     IP-Address          Nak to the assigned one;  requests 0.0.0.0,
//                             Nak'd in if missing       adopts the Nak
//   129   Primary DNS         Nak to configured value,  requests 0, adopts
//   131   Secondary DNS       reject when none          the Nak, drops on
//   130   Primary NBNS/WINS                             reject
//   132   Secondary NBNS
//   other                     reject                    reject
#pragma once

#include <array>
#include <functional>

#include "fsm.h"

namespace vpn::ppp {

class IpcpEvents {
 public:
  virtual ~IpcpEvents() = default;
  virtual void IpcpUp() = 0;
  virtual void IpcpDown() = 0;
  virtual void IpcpFinished() = 0;
  // Server: we are acking the peer's Configure-Request carrying its
  // assigned address. The peer may reach Opened (and send IPv4) before our
  // own request is acked, so the address is in use from here on.
  virtual void IpcpPeerAddressAcked() {}
};

struct IpcpServerSettings {
  uint32_t local_ip = 0;  // host order; 0: we do not announce an address
  uint32_t peer_ip = 0;   // the client's assigned address
  std::array<uint32_t, 2> dns{};   // 0 = not configured
  std::array<uint32_t, 2> wins{};
};

class IpcpServer : public FsmProtocol {
 public:
  IpcpServer(const IpcpServerSettings& s, const FsmConfig& c,
             cp::TimerQueue& timers, Fsm::Sender send, IpcpEvents& events);
  Fsm& fsm() { return fsm_; }
  const IpcpServerSettings& settings() const { return s_; }

  Bytes BuildRequestOptions() override;
  RcrVerdict JudgeRequest(ByteSpan options, bool nak_as_reject,
                          Bytes* reply) override;
  void OnAck(ByteSpan) override {}
  void OnAckSent(ByteSpan options) override;
  bool OnNak(ByteSpan options) override;
  bool OnReject(ByteSpan options) override;
  void ThisLayerUp() override { events_.IpcpUp(); }
  void ThisLayerDown() override { events_.IpcpDown(); }
  void ThisLayerFinished() override { events_.IpcpFinished(); }

 private:
  IpcpServerSettings s_;
  IpcpEvents& events_;
  bool send_address_;
  Fsm fsm_;
};

struct IpcpClientSettings {
  bool request_dns = true;
  bool request_wins = false;
  bool request_vj = false;  // to exercise the server's reject
  uint32_t requested_ip = 0;
};

// What the client ended up with.
struct IpcpClientResult {
  uint32_t ip = 0;
  uint32_t peer_ip = 0;
  std::array<uint32_t, 2> dns{};
  std::array<uint32_t, 2> wins{};
};

class IpcpClient : public FsmProtocol {
 public:
  IpcpClient(const IpcpClientSettings& s, const FsmConfig& c,
             cp::TimerQueue& timers, Fsm::Sender send, IpcpEvents& events);
  Fsm& fsm() { return fsm_; }
  const IpcpClientResult& result() const { return result_; }

  Bytes BuildRequestOptions() override;
  RcrVerdict JudgeRequest(ByteSpan options, bool nak_as_reject,
                          Bytes* reply) override;
  void OnAck(ByteSpan) override {}
  bool OnNak(ByteSpan options) override;
  bool OnReject(ByteSpan options) override;
  void ThisLayerUp() override { events_.IpcpUp(); }
  void ThisLayerDown() override { events_.IpcpDown(); }
  void ThisLayerFinished() override { events_.IpcpFinished(); }

 private:
  IpcpClientResult result_;
  IpcpEvents& events_;
  bool want_vj_;
  bool want_[5] = {};  // address, dns1, dns2, wins1, wins2
  Fsm fsm_;
};

}  // namespace vpn::ppp

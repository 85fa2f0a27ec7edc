// Our own PPP client: LCP, the PAP / CHAP-MD5 / MS-CHAPv1 / MS-CHAPv2 /
// EAP-MD5 peer side (verifying the MS-CHAPv2 authenticator response), IPCP
// asking for an address and DNS. Used by the exchange tests and the client
// simulator; knobs make it behave like the clients we meet (Windows asks
// ACCM 0, Debian pppd sends IPV6CP and CCP).
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "auth_method.h"
#include "ipcp.h"
#include "lcp.h"
#include "server_session.h"
#include "session_base.h"

namespace vpn::ppp {

struct ClientSettings {
  std::string user;
  std::string password;
  // Methods we agree to, preferred first (our Nak suggestion).
  std::vector<config::AuthMethod> methods = {config::AuthMethod::kMschapV2};
  uint16_t mru = 1400;
  bool request_accm = true;
  bool request_pfc = false;
  bool request_acfc = false;
  IpcpClientSettings ipcp;
  bool send_ipv6cp = false;  // one IPV6CP Configure-Request after LCP
  bool send_ccp = false;     // one CCP Configure-Request after LCP
  // Further LCP options requested verbatim (type, length, value) and
  // dropped when refused: Windows asks callback (13, operation 6) and, with
  // multilink, MRRU (17) and endpoint discriminator (19).
  std::vector<Bytes> extra_lcp_options;
  // Control packets of other protocols (from the protocol field's value on:
  // code, id, length, data), each sent once when LCP opens or, with
  // after_auth, when the Network phase starts (Windows sends CCP with MPPE
  // then, next to IPCP).
  struct ExtraPacket {
    uint16_t protocol = 0;
    Bytes packet;
    bool after_auth = false;
  };
  std::vector<ExtraPacket> extra_packets;
  uint32_t echo_interval_s = 0;
  uint32_t echo_failures = 5;
  FsmConfig fsm;
};

struct ClientUp {
  uint32_t ip = 0;
  uint32_t peer_ip = 0;
  std::array<uint32_t, 2> dns{};
  std::array<uint32_t, 2> wins{};
  std::optional<config::AuthMethod> method;
  uint16_t peer_mru = kDefaultMru;
};

struct ClientCallbacks {
  std::function<void(const ClientUp&)> on_up;
  std::function<void(std::string_view reason)> on_down;  // same rules as server
};

class ClientSession : public SessionBase,
                      private LcpEvents,
                      private IpcpEvents,
                      private AuthClientHost {
 public:
  ClientSession(cp::PppLink& link, cp::TimerQueue& timers,
                ClientSettings settings, ClientCallbacks cb,
                std::string name = "client");
  ~ClientSession() override;

  void Start();
  void OnPppFrame(std::span<const uint8_t> frame) override;

  PppPhase phase() const { return phase_; }
  bool up() const { return up_; }
  const ClientUp& up_info() const { return up_info_; }
  // Why authentication failed ("" if it did not).
  const std::string& auth_failure() const { return auth_failure_; }
  bool ipv6cp_rejected() const { return ipv6cp_rejected_; }
  bool ccp_rejected() const { return ccp_rejected_; }
  // The server sent Protocol-Reject for `protocol`.
  bool protocol_rejected(uint16_t protocol) const {
    return rejected_.count(protocol) > 0;
  }
  const LcpResult& lcp_result() const { return lcp_.result(); }
  FsmState lcp_state() { return lcp_.fsm().state(); }

 private:
  Fsm& lcp_fsm() override { return lcp_.fsm(); }
  void ReleaseResources() override;
  void NotifyDown(const std::string& reason) override;
  void LcpUp() override;
  void LcpDown() override;
  void LcpFinished() override { Finish("LCP finished"); }
  void LcpFatal(std::string reason) override { RequestClose(std::move(reason)); }
  void LcpProtocolRejected(uint16_t protocol) override;
  void LcpEchoTimeout() override { Finish("server not responding (LCP echo)"); }
  void IpcpUp() override;
  void IpcpDown() override {}
  void IpcpFinished() override { RequestClose("IPCP negotiation failed"); }
  void SendAuthPacket(uint16_t protocol, uint8_t code, uint8_t id,
                      ByteSpan data) override;
  cp::TimerQueue& auth_timers() override { return timers_; }
  const FsmConfig& auth_fsm_config() override { return settings_.fsm; }
  const std::string& auth_user() override { return settings_.user; }
  const std::string& auth_password() override { return settings_.password; }
  void AuthFinished(bool success, std::string_view reason,
                    bool timed_out = false) override;
  void EnterNetworkPhase();
  void SendExtraPackets(bool after_auth);

  ClientSettings settings_;
  ClientCallbacks cb_;
  PppPhase phase_ = PppPhase::kDead;
  Lcp lcp_;
  std::unique_ptr<AuthMethodBase> auth_method_;
  std::vector<std::unique_ptr<AuthMethodBase>> retired_methods_;
  std::unique_ptr<IpcpClient> ipcp_;
  bool up_ = false;
  ClientUp up_info_;
  std::string auth_failure_;
  bool ipv6cp_rejected_ = false;
  bool ccp_rejected_ = false;
  std::set<uint16_t> rejected_;
};

}  // namespace vpn::ppp

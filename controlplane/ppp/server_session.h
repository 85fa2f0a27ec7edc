// The PPP server (RFC 1661 section 3.2 phases) on one L2TP session:
// Establish (LCP) -> Authenticate (the negotiated method against the
// Authenticator, then group / session-limit / address authorisation) ->
// Network (IPCP) -> Terminate. Constructed by the L2TP LNS when a session is
// established; L2TP delivers frames from the protocol field on.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "address_pool.h"
#include "auth_method.h"
#include "authenticator.h"
#include "ipcp.h"
#include "lcp.h"
#include "session_base.h"
#include "vpn/config.h"

namespace vpn::ppp {

// Everything the dataplane session and the operator view need once IPCP is
// up.
struct NetworkUp {
  uint32_t ip = 0;        // client's address, host order
  uint32_t local_ip = 0;  // ours on this link, host order
  std::string user;       // canonical user (after strip-group)
  std::string user_name_as_sent;
  std::string group;      // "" = default group
  config::AuthMethod method = config::AuthMethod::kMschapV2;
  uint16_t mru = kDefaultMru;       // ours: largest frame we accept
  uint16_t peer_mru = kDefaultMru;  // largest frame we may send
  bool peer_acfc = false;           // peer accepts frames without FF03
  bool peer_pfc = false;            // peer accepts a 1-octet protocol field
  std::array<uint32_t, 2> dns{};
  std::array<uint32_t, 2> wins{};
};

struct ServerCallbacks {
  // Once, when we Configure-Ack the client's IPCP request carrying its
  // assigned address: the client may be Opened (and send IPv4) before our
  // own IPCP is, so the dataplane session belongs in place from here on.
  // on_network_up follows when IPCP is Opened, or on_down if it fails.
  // Optional.
  std::function<void(const NetworkUp&)> on_address_committed;
  std::function<void(const NetworkUp&)> on_network_up;
  // Once, when the session is over (before PppLink::ClosePppLink, which is
  // not called when the link went down first). Must not destroy the session;
  // the owner may do so from inside ClosePppLink or after OnLinkDown.
  std::function<void(std::string_view reason)> on_down;
  // A monotonically increasing traffic count of this session from the
  // dataplane, polled for the group's idle timeout. Optional.
  std::function<uint64_t()> traffic_counter;
};

enum class PppPhase : uint8_t { kDead, kEstablish, kAuthenticate, kNetwork, kTerminate };
std::string_view PhaseName(PppPhase p);

class ServerSession : public SessionBase,
                      private LcpEvents,
                      private IpcpEvents,
                      private AuthServerHost {
 public:
  // `config`, `pools` and `auth` outlive the session.
  ServerSession(cp::PppLink& link, cp::TimerQueue& timers,
                const config::Config& config, PoolRegistry& pools,
                Authenticator& auth, std::string peer, ServerCallbacks cb);
  ~ServerSession() override;

  // LCP Open + Up: sends our first Configure-Request.
  void Start();
  void OnPppFrame(std::span<const uint8_t> frame) override;

  PppPhase phase() const { return phase_; }
  FsmState lcp_state() { return lcp_.fsm().state(); }
  std::optional<FsmState> ipcp_state() const;
  uint32_t address() const { return lease_.held() ? lease_.address() : 0; }
  const std::string& user() const { return user_; }
  const LcpResult& lcp_result() const { return lcp_.result(); }
  // Operator view (vpnctl show sessions detail): the timeouts in force
  // (0 = none; the group's unless the Authenticator overrode them) and when
  // the idle check last saw traffic move (timer clock).
  uint32_t session_timeout_s() const { return session_timeout_s_; }
  uint32_t idle_timeout_s() const { return idle_timeout_s_; }
  absl::Time last_activity() const { return last_activity_; }
  // The methods offered in LCP, in order.
  const std::vector<config::AuthMethod>& offered_methods() const {
    return offered_;
  }

 private:
  // SessionBase
  Fsm& lcp_fsm() override { return lcp_.fsm(); }
  void ReleaseResources() override;
  void NotifyDown(const std::string& reason) override;
  // LcpEvents
  void LcpUp() override;
  void LcpDown() override;
  void LcpFinished() override;
  void LcpFatal(std::string reason) override;
  void LcpProtocolRejected(uint16_t protocol) override;
  void LcpEchoTimeout() override;
  // IpcpEvents
  void IpcpUp() override;
  void IpcpDown() override;
  void IpcpFinished() override;
  void IpcpPeerAddressAcked() override;
  NetworkUp MakeNetworkUp() const;
  // AuthServerHost
  void SendAuthPacket(uint16_t protocol, uint8_t code, uint8_t id,
                      ByteSpan data) override;
  cp::TimerQueue& auth_timers() override { return timers_; }
  const FsmConfig& auth_fsm_config() override { return fsm_config_; }
  void VerifyCredentials(AuthRequest request,
                         std::function<void(const AuthOutcome&)> done) override;
  bool eap_passthrough() override { return auth_.RelaysEap(); }
  void AuthFinished(bool success, std::string_view reason,
                    bool timed_out) override;

  void OnAuthResult(const AuthResult& r, const AuthRequest& req,
                    const std::function<void(const AuthOutcome&)>& done);
  // Group, method, session limit and address; "" when all granted.
  std::string Authorize(const AuthResult& r, config::AuthMethod method);
  void StartTimeouts();
  void IdleTick();
  void CancelSessionTimers();

  const config::Config& config_;
  PoolRegistry& pools_;
  Authenticator& auth_;
  ServerCallbacks cb_;
  const FsmConfig fsm_config_;
  std::vector<config::AuthMethod> offered_;
  PppPhase phase_ = PppPhase::kDead;

  Lcp lcp_;
  std::unique_ptr<AuthMethodBase> auth_method_;
  // Methods of attempts abandoned by an LCP renegotiation; kept (stopped)
  // until the session goes, as a verification may still call into them.
  std::vector<std::unique_ptr<AuthMethodBase>> retired_methods_;
  uint64_t auth_attempt_ = 0;
  bool network_phase_entered_ = false;
  std::unique_ptr<IpcpServer> ipcp_;

  // Authorised identity and leases (released at Finish or destruction).
  std::string user_;
  std::string user_name_as_sent_;
  const config::Group* group_ = nullptr;
  config::AuthMethod method_ = config::AuthMethod::kMschapV2;
  AddressLease lease_;
  UserSlot slot_;
  bool network_up_reported_ = false;
  bool address_commit_reported_ = false;

  // The group's timeouts unless the Authenticator overrode them.
  uint32_t session_timeout_s_ = 0;
  uint32_t idle_timeout_s_ = 0;
  cp::TimerQueue::TimerId auth_delay_timer_ = 0;
  cp::TimerQueue::TimerId session_timer_ = 0;
  cp::TimerQueue::TimerId idle_timer_ = 0;
  uint64_t last_traffic_ = 0;
  absl::Time last_activity_;
  // Results of an asynchronous Authenticator arriving after the session is
  // gone see this expire.
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);
};

}  // namespace vpn::ppp

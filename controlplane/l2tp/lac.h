// Our own L2TP Access Concentrator (the client side, RFC 2661 sections 7.2
// and 7.4.1 "LAC Incoming Call"): one control connection to one LNS with any
// number of incoming-call sessions, each carrying PPP frames to a PppEndpoint.
// Used by the exchange tests against our Lns and by the client simulator.
// Test-only knobs (LacOptions::extra_*, skip_auth_check, SendCustom) let it
// misbehave on purpose.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "avp.h"
#include "counters.h"
#include "timer_queue.h"
#include "transport.h"
#include "vpn/config.h"

namespace vpn::l2tp {

class ControlChannel;
class LacSession;
struct ControlMessage;
struct Verdict;

// An AVP to add verbatim (e.g. an unknown mandatory one).
struct ExtraAvp {
  bool mandatory = true;
  uint16_t vendor = 0;
  uint16_t type = 0;
  std::vector<uint8_t> value;
};

struct LacOptions {
  uint16_t tunnel_id = 0;          // 0: random (clients behind NAT may collide)
  bool hide_avps = false;          // hide what may be hidden (needs a secret)
  bool skip_auth_check = false;    // accept a wrong SCCRP Challenge Response
  std::string vendor_name = "vpnconc-lac";
  std::vector<ExtraAvp> extra_sccrq_avps;
  std::vector<ExtraAvp> extra_scccn_avps;
};

struct LacCallOptions {
  bool sequencing_required = false;  // Sequencing Required AVP in ICCN
  uint32_t tx_connect_bps = 100000000;
  std::vector<ExtraAvp> extra_icrq_avps;
  std::vector<ExtraAvp> extra_iccn_avps;
};

enum class LacTunnelState : uint8_t { kIdle, kWaitCtlReply, kEstablished, kClosing, kDead };
enum class LacSessionState : uint8_t { kWaitReply, kEstablished, kDead };

class Lac {
 public:
  // `lns` is where our messages go (the daemon-side view of the path).
  Lac(const config::L2tp& cfg, cp::TimerQueue& timers, Transport& transport,
      const PeerBinding& lns, LacOptions options = {});
  ~Lac();
  Lac(const Lac&) = delete;
  Lac& operator=(const Lac&) = delete;

  // Sends SCCRQ. Allowed when idle or after the previous tunnel died.
  absl::Status OpenTunnel();
  // Sends ICRQ on the established tunnel; returns our session id. The
  // factory is asked for the PPP endpoint once ICRP arrives and ICCN is sent.
  absl::StatusOr<uint16_t> OpenSession(PppEndpointFactory factory,
                                       LacCallOptions options = {});
  absl::Status CloseSession(uint16_t session_id, std::string_view reason);
  void CloseTunnel(std::string_view reason);
  // WAN-Error-Notify (section 6.14) with the six Call Errors counters.
  absl::Status SendWanErrorNotify(uint16_t session_id, const uint32_t errors[6]);
  // Test hook: a control message of any type, reliably sequenced.
  absl::Status SendCustom(uint16_t message_type, bool type_mandatory,
                          uint16_t header_session_id,
                          const std::vector<ExtraAvp>& avps);

  // Messages from the LNS (from the L2TP header).
  void OnControlMessage(std::span<const uint8_t> msg);
  void OnDataMessage(std::span<const uint8_t> msg);

  LacTunnelState tunnel_state() const { return state_; }
  uint16_t local_tunnel_id() const { return local_id_; }
  uint16_t peer_tunnel_id() const { return peer_id_; }
  bool authenticated() const { return authenticated_; }
  // Result/error of the StopCCN that closed the tunnel (received or sent).
  uint16_t stop_result() const { return stop_result_; }
  uint16_t stop_error() const { return stop_error_; }
  bool stop_received() const { return stop_received_; }
  LacSessionState session_state(uint16_t session_id) const;
  uint16_t session_peer_id(uint16_t session_id) const;
  // Result code of the CDN that ended a session (0 if none seen).
  uint16_t cdn_result(uint16_t session_id) const;
  uint32_t sli_send_accm(uint16_t session_id) const;
  size_t session_count() const;
  const Counters& counters() const { return counters_; }

  std::function<void()> on_tunnel_up;
  std::function<void(std::string_view reason)> on_tunnel_down;

 private:
  friend class LacSession;
  struct Ended {  // what tests may ask about sessions that are gone
    uint16_t cdn_result = 0;
  };
  class Guard {
   public:
    explicit Guard(Lac* l) : l_(l) { ++l_->depth_; }
    ~Guard();
   private:
    Lac* l_;
  };

  AvpWriter Writer(MessageType t) const;
  void Deliver(ControlMessage& m);
  void HandleBadMessage(const ControlMessage& m, const Verdict& v);
  void OnSccrp(const ControlMessage& m);
  void OnStopCcn(const ControlMessage& m);
  void Close(uint16_t result, uint16_t error, std::string_view message);
  void EnterClosing(std::string_view reason);
  void Kill(std::string_view reason);
  void ArmHello();
  void CancelTimers();
  void DropSessions(std::string_view reason);
  void Send(uint16_t peer_session_id, std::vector<uint8_t> avps);
  void SendData(std::span<const uint8_t> msg);
  void BurySession(LacSession* s, std::string reason);
  LacSession* FindSession(uint16_t id) const;
  void RequestReap();
  void Reap();

  config::L2tp cfg_;
  cp::TimerQueue& timers_;
  Transport& transport_;
  PeerBinding lns_;
  LacOptions options_;
  Counters counters_;

  LacTunnelState state_ = LacTunnelState::kIdle;
  uint16_t local_id_ = 0, peer_id_ = 0;
  std::unique_ptr<ControlChannel> channel_;
  std::vector<uint8_t> our_challenge_;
  bool authenticated_ = false;
  uint16_t stop_result_ = 0, stop_error_ = 0;
  bool stop_received_ = false;
  uint32_t next_serial_ = 1;
  cp::TimerQueue::TimerId hello_timer_ = 0, linger_timer_ = 0, reap_timer_ = 0;
  std::map<uint16_t, std::unique_ptr<LacSession>> sessions_;
  std::map<uint16_t, Ended> ended_;
  std::vector<std::pair<std::unique_ptr<LacSession>, std::string>> dead_sessions_;
  std::vector<std::unique_ptr<ControlChannel>> dead_channels_;
  int depth_ = 0;
  bool destroying_ = false;
};

}  // namespace vpn::l2tp

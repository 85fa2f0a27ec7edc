// The seam between a session and one authentication protocol, for both
// roles. Each method (PAP, CHAP-MD5, MS-CHAPv1, MS-CHAPv2, EAP-MD5) lives in
// its own file and is created by MakeServerMethod / MakeClientMethod.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "authenticator.h"
#include "fsm.h"
#include "packet.h"
#include "timer_queue.h"
#include "vpn/config.h"

namespace vpn::ppp {

// The Authentication-Protocol LCP option value (RFC 1661 6.2) of a method,
// and back. nullopt for anything we do not implement.
Bytes AuthOptionValue(config::AuthMethod m);
std::optional<config::AuthMethod> ParseAuthOption(ByteSpan value);
uint16_t AuthProtocolNumber(config::AuthMethod m);

// What the session tells a server method once credentials are verified and
// authorised (group, session limit and address all settled).
struct AuthOutcome {
  bool success = false;
  std::string mschap2_authenticator_response;  // "S=..." on MS-CHAPv2 success
  std::string message;                         // shown to the user
  // EAP pass-through: not finished; send `eap_request` (a whole EAP packet
  // from the AAA server) and echo `aaa_state` with the peer's answer.
  bool challenge = false;
  Bytes eap_request;
  Bytes aaa_state;
};

class AuthServerHost {
 public:
  virtual ~AuthServerHost() = default;
  virtual void SendAuthPacket(uint16_t protocol, uint8_t code, uint8_t id,
                              ByteSpan data) = 0;
  virtual cp::TimerQueue& auth_timers() = 0;
  virtual const FsmConfig& auth_fsm_config() = 0;
  // Verifies and authorises. `done` runs once, unless the session ends
  // first; failures arrive after ppp.auth_failure_delay_ms.
  virtual void VerifyCredentials(AuthRequest request,
                                 std::function<void(const AuthOutcome&)> done) = 0;
  // EAP relayed to an AAA server (Authenticator::RelaysEap).
  virtual bool eap_passthrough() { return false; }
  // The method sent its final Success/Failure, or gave up waiting for the
  // peer (`timed_out`).
  virtual void AuthFinished(bool success, std::string_view reason,
                            bool timed_out = false) = 0;
};

class AuthClientHost {
 public:
  virtual ~AuthClientHost() = default;
  virtual void SendAuthPacket(uint16_t protocol, uint8_t code, uint8_t id,
                              ByteSpan data) = 0;
  virtual cp::TimerQueue& auth_timers() = 0;
  virtual const FsmConfig& auth_fsm_config() = 0;
  virtual const std::string& auth_user() = 0;
  virtual const std::string& auth_password() = 0;
  virtual void AuthFinished(bool success, std::string_view reason,
                            bool timed_out = false) = 0;
};

class AuthMethodBase {
 public:
  virtual ~AuthMethodBase();
  virtual uint16_t protocol() const = 0;
  virtual void Start() = 0;
  // A packet of protocol() (after the protocol field).
  virtual void Input(ByteSpan payload) = 0;
  // EAP peer only: may an NCP packet stand in for a lost Success
  // (RFC 3748 4.2)?
  virtual bool AcceptsImplicitSuccess() const { return false; }
  uint64_t dropped() const { return dropped_; }
  // The session is over: no more retransmissions.
  void Stop() { StopTimer(); }

 protected:
  AuthMethodBase(cp::TimerQueue& timers) : timers_(timers) {}
  void StartTimer(absl::Duration d, std::function<void()> cb);
  void StopTimer();
  cp::TimerQueue& timers_;
  cp::TimerQueue::TimerId timer_ = 0;
  uint64_t dropped_ = 0;
};

std::unique_ptr<AuthMethodBase> MakeServerMethod(config::AuthMethod m,
                                                 AuthServerHost& host);
std::unique_ptr<AuthMethodBase> MakeClientMethod(config::AuthMethod m,
                                                 AuthClientHost& host);

// Per-method constructors (one file each).
std::unique_ptr<AuthMethodBase> MakePapServer(AuthServerHost& host);
std::unique_ptr<AuthMethodBase> MakePapClient(AuthClientHost& host);
std::unique_ptr<AuthMethodBase> MakeChapMd5Server(AuthServerHost& host);
std::unique_ptr<AuthMethodBase> MakeChapMd5Client(AuthClientHost& host);
std::unique_ptr<AuthMethodBase> MakeMsChapV1Server(AuthServerHost& host);
std::unique_ptr<AuthMethodBase> MakeMsChapV1Client(AuthClientHost& host);
std::unique_ptr<AuthMethodBase> MakeMsChapV2Server(AuthServerHost& host);
std::unique_ptr<AuthMethodBase> MakeMsChapV2Client(AuthClientHost& host);
std::unique_ptr<AuthMethodBase> MakeEapMd5Server(AuthServerHost& host);
std::unique_ptr<AuthMethodBase> MakeEapMd5Client(AuthClientHost& host);

}  // namespace vpn::ppp

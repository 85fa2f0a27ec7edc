// The CHAP packet exchange (RFC 1994 section 4) shared by CHAP-MD5,
// MS-CHAPv1 (RFC 2433) and MS-CHAPv2 (RFC 2759): Challenge / Response /
// Success / Failure with Value-Size, Value and Name. The variants differ only
// in challenge and response contents and in the Success/Failure messages.
#pragma once

#include <string>

#include "auth_method.h"
#include "ppp_defs.h"

namespace vpn::ppp {

// Name we put in our Challenges (RFC 1994 4.1 "Name": identifies the
// authenticator; clients ignore it).
inline constexpr std::string_view kChapServerName = "vpn-concentrator";

class ChapServer : public AuthMethodBase {
 public:
  uint16_t protocol() const override { return kProtoChap; }
  void Start() override;
  void Input(ByteSpan payload) override;

 protected:
  ChapServer(AuthServerHost& host, size_t challenge_len, size_t response_len);
  virtual config::AuthMethod method() const = 0;
  // Fills the request from a Response of the right Value-Size; false if the
  // value is malformed (the packet is dropped).
  virtual bool FillRequest(ByteSpan value, AuthRequest* req) = 0;
  virtual std::string SuccessMessage(const AuthOutcome& o) = 0;
  virtual std::string FailureMessage(const AuthOutcome& o) = 0;
  const Bytes& challenge() const { return challenge_; }

 private:
  enum class State : uint8_t { kIdle, kWaitResponse, kVerifying, kDone };
  void SendChallenge();
  void OnTimeout();
  void OnOutcome(const AuthOutcome& o);

  AuthServerHost& host_;
  size_t response_len_;
  State state_ = State::kIdle;
  Bytes challenge_;
  uint8_t id_ = 0;
  uint32_t challenges_left_ = 0;
  uint8_t result_code_ = 0;
  std::string result_message_;
};

class ChapClient : public AuthMethodBase {
 public:
  uint16_t protocol() const override { return kProtoChap; }
  void Start() override {}  // the authenticator speaks first
  void Input(ByteSpan payload) override;

 protected:
  // `challenge_len` 0 accepts any non-empty challenge (CHAP-MD5).
  ChapClient(AuthClientHost& host, size_t challenge_len);
  virtual bool ComputeResponse(uint8_t id, ByteSpan challenge,
                               Bytes* value) = 0;
  // Checks a Success message (MS-CHAPv2 authenticator response).
  virtual bool VerifySuccess(ByteSpan /*message*/, std::string* /*why*/) {
    return true;
  }
  AuthClientHost& host_;

 private:
  void SendResponse();
  size_t challenge_len_;
  bool responded_ = false;
  bool finished_ = false;
  uint8_t id_ = 0;
  Bytes response_data_;
  uint32_t resends_left_ = 0;
};

}  // namespace vpn::ppp

// EAP (RFC 3748) with the MD5-Challenge method (section 5.4): the
// authenticator asks for the Identity, then sends an MD5-Challenge; the
// response is MD5(Identifier | secret | Challenge) as in CHAP. The
// authenticator retransmits Requests (section 4.1); the peer only answers.
//
// Pass-through (RFC 3748 3.3, RFC 3579 2.1), when the Authenticator relays
// EAP to an AAA server: we still ask for the Identity ourselves, then every
// Response goes whole to the server (AuthRequest::eap_message) and each
// Request it answers with (AuthStatus::kChallenge) goes to the peer as is,
// so the server picks the method (EAP-MD5 or any other the peer supports);
// Success/Failure follow the server's Access-Accept/Reject.
#include "auth_method.h"
#include "crypto.h"
#include "mschap_crypto.h"
#include "ppp_defs.h"

namespace vpn::ppp {
namespace {

constexpr size_t kChallengeLen = 16;

// Code, Identifier, Length, then for Request/Response a Type octet.
struct EapPacket {
  uint8_t code = 0, id = 0, type = 0;
  ByteSpan type_data;
};
std::optional<EapPacket> ParseEap(ByteSpan payload) {
  auto p = ParseControlPacket(payload);
  if (!p) return std::nullopt;
  EapPacket e{p->code, p->id, 0, {}};
  if (p->code == kEapRequest || p->code == kEapResponse) {
    if (p->data.empty()) return std::nullopt;
    e.type = p->data[0];
    e.type_data = p->data.subspan(1);
  }
  return e;
}

class EapMd5Server : public AuthMethodBase {
 public:
  explicit EapMd5Server(AuthServerHost& h) : AuthMethodBase(h.auth_timers()), host_(h) {}
  uint16_t protocol() const override { return kProtoEap; }

  void Start() override {
    uint8_t id;
    RandomBytes(std::span<uint8_t>(&id, 1));
    id_ = id;
    state_ = State::kIdentity;
    request_ = {kEapIdentity};
    left_ = host_.auth_fsm_config().max_configure;
    SendRequest();
  }

  void Input(ByteSpan payload) override {
    auto e = ParseEap(payload);
    if (!e || e->code != kEapResponse || e->id != id_) {
      ++dropped_;
      return;
    }
    switch (state_) {
      case State::kIdentity:
        if (e->type != kEapIdentity) break;
        identity_ = AsString(e->type_data);
        if (host_.eap_passthrough()) {
          Relay(payload);
          return;
        }
        challenge_.resize(kChallengeLen);
        RandomBytes(challenge_);
        request_ = {kEapMd5Challenge, uint8_t(kChallengeLen)};
        PutBytes(request_, challenge_);
        id_ = uint8_t(id_ + 1);
        state_ = State::kChallenge;
        left_ = host_.auth_fsm_config().max_configure;
        SendRequest();
        return;
      case State::kChallenge: {
        if (e->type == kEapNak) {
          // The peer wants another method (RFC 3748 5.3.1); MD5 is all we
          // offer over EAP.
          Finish(false, "peer refused EAP-MD5 (EAP Nak)");
          return;
        }
        const ByteSpan d = e->type_data;
        if (e->type != kEapMd5Challenge || d.empty() || d[0] != 16 || d.size() < 17)
          break;
        AuthRequest req;
        req.method = config::AuthMethod::kEapMd5;
        req.user_name = identity_;
        req.chap_id = id_;
        req.challenge = challenge_;
        req.response.assign(d.begin() + 1, d.begin() + 17);
        StopTimer();
        state_ = State::kVerifying;
        host_.VerifyCredentials(std::move(req), [this](const AuthOutcome& o) {
          if (state_ == State::kVerifying) Finish(o.success, o.message);
        });
        return;
      }
      case State::kRelaying:
        Relay(payload);
        return;
      case State::kVerifying:
        return;
      case State::kDone:
        SendResult();  // a repeated Response: repeat the result
        return;
    }
    ++dropped_;
  }

 private:
  enum class State : uint8_t { kIdentity, kChallenge, kRelaying, kVerifying, kDone };

  // Pass-through: the peer's Response (already matched to our outstanding
  // Request's Identifier) to the AAA server.
  void Relay(ByteSpan response) {
    AuthRequest req;
    req.method = config::AuthMethod::kEapMd5;
    req.user_name = identity_;
    // Without link-layer padding past the EAP Length (parsed already).
    const size_t len = std::min<size_t>(response.size(), (size_t(response[2]) << 8) | response[3]);
    req.eap_message.assign(response.begin(), response.begin() + len);
    req.aaa_state = aaa_state_;
    StopTimer();
    state_ = State::kVerifying;
    host_.VerifyCredentials(std::move(req), [this](const AuthOutcome& o) {
      if (state_ != State::kVerifying) return;
      if (!o.challenge) {
        Finish(o.success, o.message);
        return;
      }
      // The server's next Request: a well-formed EAP Request (RFC 3748 4.1)
      // with a new Identifier, or the conversation cannot go on.
      auto e = ParseEap(o.eap_request);
      if (!e || e->code != kEapRequest || e->id == id_) {
        Finish(false, "AAA server sent no usable EAP Request");
        return;
      }
      id_ = e->id;
      request_ = {e->type};
      PutBytes(request_, e->type_data);
      aaa_state_ = o.aaa_state;
      state_ = State::kRelaying;
      left_ = host_.auth_fsm_config().max_configure;
      SendRequest();
    });
  }

  void SendRequest() {
    host_.SendAuthPacket(kProtoEap, kEapRequest, id_, request_);
    StartTimer(host_.auth_fsm_config().restart, [this] {
      if (state_ != State::kIdentity && state_ != State::kChallenge &&
          state_ != State::kRelaying) {
        return;
      }
      if (left_ <= 1) {
        StopTimer();
        state_ = State::kDone;
        success_ = false;
        SendResult();
        host_.AuthFinished(false, "no EAP response", true);
        return;
      }
      --left_;
      SendRequest();
    });
  }
  void SendResult() {
    host_.SendAuthPacket(kProtoEap, success_ ? kEapSuccess : kEapFailure, id_, {});
  }
  void Finish(bool ok, const std::string& why) {
    StopTimer();
    state_ = State::kDone;
    success_ = ok;
    SendResult();
    host_.AuthFinished(ok, ok ? "" : why);
  }

  AuthServerHost& host_;
  State state_ = State::kIdentity;
  uint8_t id_ = 0;
  uint32_t left_ = 0;
  Bytes request_;  // type and type-data of the outstanding Request
  Bytes challenge_;
  std::string identity_;
  Bytes aaa_state_;  // pass-through: RADIUS State to echo
  bool success_ = false;
};

class EapMd5Client : public AuthMethodBase {
 public:
  explicit EapMd5Client(AuthClientHost& h) : AuthMethodBase(h.auth_timers()), host_(h) {}
  uint16_t protocol() const override { return kProtoEap; }
  void Start() override {}
  bool AcceptsImplicitSuccess() const override { return answered_challenge_ && !done_; }

  void Input(ByteSpan payload) override {
    if (done_) return;
    auto e = ParseEap(payload);
    if (!e) {
      ++dropped_;
      return;
    }
    switch (e->code) {
      case kEapRequest: {
        Bytes reply;
        if (e->type == kEapIdentity) {
          reply.push_back(kEapIdentity);
          PutString(reply, host_.auth_user());
        } else if (e->type == kEapNotification) {
          reply.push_back(kEapNotification);
        } else if (e->type == kEapMd5Challenge) {
          const ByteSpan d = e->type_data;
          if (d.empty() || d[0] == 0 || d.size() < 1u + d[0]) {
            ++dropped_;
            return;
          }
          const Md5Digest r =
              ChapMd5Response(e->id, host_.auth_password(), d.subspan(1, d[0]));
          reply = {kEapMd5Challenge, 16};
          PutBytes(reply, r);
          PutString(reply, host_.auth_user());
          answered_challenge_ = true;
        } else {
          reply = {kEapNak, kEapMd5Challenge};  // legacy Nak: we want MD5
        }
        host_.SendAuthPacket(kProtoEap, kEapResponse, e->id, reply);
        return;
      }
      case kEapSuccess:
        if (!answered_challenge_) {
          ++dropped_;  // RFC 3748 4.2: no success before authentication
          return;
        }
        done_ = true;
        host_.AuthFinished(true, "");
        return;
      case kEapFailure:
        done_ = true;
        host_.AuthFinished(false, "server: EAP Failure");
        return;
      default:
        ++dropped_;
    }
  }

 private:
  AuthClientHost& host_;
  bool answered_challenge_ = false;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<AuthMethodBase> MakeEapMd5Server(AuthServerHost& h) {
  return std::make_unique<EapMd5Server>(h);
}
std::unique_ptr<AuthMethodBase> MakeEapMd5Client(AuthClientHost& h) {
  return std::make_unique<EapMd5Client>(h);
}

}  // namespace vpn::ppp

#include "chap_common.h"

#include "crypto.h"
#include "vpn/log.h"

namespace vpn::ppp {

ChapServer::ChapServer(AuthServerHost& host, size_t challenge_len,
                       size_t response_len)
    : AuthMethodBase(host.auth_timers()),
      host_(host),
      response_len_(response_len),
      challenge_(challenge_len) {}

void ChapServer::Start() {
  RandomBytes(challenge_);
  uint8_t id;
  RandomBytes(std::span<uint8_t>(&id, 1));
  id_ = id;
  challenges_left_ = host_.auth_fsm_config().max_configure;
  state_ = State::kWaitResponse;
  SendChallenge();
}

void ChapServer::SendChallenge() {
  Bytes data;
  data.push_back(uint8_t(challenge_.size()));
  PutBytes(data, challenge_);
  PutString(data, kChapServerName);
  host_.SendAuthPacket(kProtoChap, kChapChallenge, id_, data);
  if (challenges_left_ > 0) --challenges_left_;
  StartTimer(host_.auth_fsm_config().restart, [this] { OnTimeout(); });
}

void ChapServer::OnTimeout() {
  if (state_ != State::kWaitResponse) return;
  // RFC 1994 4.1: the Challenge is retransmitted (same Identifier) until a
  // Response arrives.
  if (challenges_left_ == 0) {
    state_ = State::kDone;
    host_.AuthFinished(false, "no response to CHAP challenge", true);
    return;
  }
  SendChallenge();
}

void ChapServer::Input(ByteSpan payload) {
  auto p = ParseControlPacket(payload);
  if (!p || p->code != kChapResponse || p->id != id_) {
    ++dropped_;
    return;
  }
  if (state_ == State::kDone) {
    // RFC 1994 4.2: a repeated Response gets the same Success/Failure.
    if (result_code_)
      host_.SendAuthPacket(kProtoChap, result_code_, id_,
                           AsBytes(result_message_));
    return;
  }
  if (state_ != State::kWaitResponse) return;  // verifying: ignore repeats
  const ByteSpan d = p->data;
  if (d.empty() || d[0] != response_len_ || d.size() < 1 + response_len_) {
    ++dropped_;
    return;
  }
  AuthRequest req;
  req.method = method();
  req.user_name = AsString(d.subspan(1 + response_len_));
  req.chap_id = id_;
  req.challenge = challenge_;
  if (!FillRequest(d.subspan(1, response_len_), &req)) {
    ++dropped_;
    return;
  }
  StopTimer();
  state_ = State::kVerifying;
  host_.VerifyCredentials(std::move(req),
                          [this](const AuthOutcome& o) { OnOutcome(o); });
}

void ChapServer::OnOutcome(const AuthOutcome& o) {
  if (state_ != State::kVerifying) return;
  state_ = State::kDone;
  result_code_ = o.success ? kChapSuccess : kChapFailure;
  result_message_ = o.success ? SuccessMessage(o) : FailureMessage(o);
  host_.SendAuthPacket(kProtoChap, result_code_, id_, AsBytes(result_message_));
  host_.AuthFinished(o.success, o.success ? "" : o.message);
}

ChapClient::ChapClient(AuthClientHost& host, size_t challenge_len)
    : AuthMethodBase(host.auth_timers()),
      host_(host),
      challenge_len_(challenge_len) {}

void ChapClient::Input(ByteSpan payload) {
  if (finished_) return;
  auto p = ParseControlPacket(payload);
  if (!p) {
    ++dropped_;
    return;
  }
  switch (p->code) {
    case kChapChallenge: {
      if (responded_ && p->id == id_) {
        SendResponse();  // the authenticator missed our Response
        return;
      }
      const ByteSpan d = p->data;
      if (d.empty() || d[0] == 0 || d.size() < 1u + d[0] ||
          (challenge_len_ && d[0] != challenge_len_)) {
        ++dropped_;
        return;
      }
      Bytes value;
      if (!ComputeResponse(p->id, d.subspan(1, d[0]), &value)) {
        finished_ = true;
        host_.AuthFinished(false, "cannot compute response");
        return;
      }
      id_ = p->id;
      responded_ = true;
      response_data_.clear();
      response_data_.push_back(uint8_t(value.size()));
      PutBytes(response_data_, value);
      PutString(response_data_, host_.auth_user());
      resends_left_ = host_.auth_fsm_config().max_configure;
      SendResponse();
      return;
    }
    case kChapSuccess:
    case kChapFailure: {
      if (!responded_ || p->id != id_) {
        ++dropped_;
        return;
      }
      StopTimer();
      finished_ = true;
      if (p->code == kChapFailure) {
        host_.AuthFinished(false, "server: " + Printable(p->data, 255));
        return;
      }
      std::string why;
      if (!VerifySuccess(p->data, &why)) {
        host_.AuthFinished(false, why);
        return;
      }
      host_.AuthFinished(true, "");
      return;
    }
    default:
      ++dropped_;
  }
}

void ChapClient::SendResponse() {
  host_.SendAuthPacket(kProtoChap, kChapResponse, id_, response_data_);
  // If Success/Failure is lost we repeat the Response; the authenticator
  // answers a repeated Response with the same result (RFC 1994 4.2).
  StartTimer(host_.auth_fsm_config().restart, [this] {
    if (finished_) return;
    if (resends_left_ == 0) {
      finished_ = true;
      host_.AuthFinished(false, "no CHAP result from the authenticator");
      return;
    }
    --resends_left_;
    SendResponse();
  });
}

}  // namespace vpn::ppp

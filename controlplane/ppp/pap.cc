// PAP (RFC 1334 section 2): the peer repeats Authenticate-Request
// (Peer-ID-Length, Peer-ID, Passwd-Length, Password) until it gets
// Authenticate-Ack or -Nak (Msg-Length, Message).
#include "auth_method.h"
#include "ppp_defs.h"

namespace vpn::ppp {
namespace {

Bytes PapMessage(std::string_view msg) {
  Bytes d;
  d.push_back(uint8_t(std::min<size_t>(msg.size(), 255)));
  PutString(d, msg.substr(0, 255));
  return d;
}

class PapServer : public AuthMethodBase {
 public:
  explicit PapServer(AuthServerHost& h) : AuthMethodBase(h.auth_timers()), host_(h) {}
  uint16_t protocol() const override { return kProtoPap; }

  void Start() override {
    // RFC 1334 2.1: the authenticator only waits; give up after as long as
    // Max-Configure Configure-Requests would take.
    const FsmConfig& c = host_.auth_fsm_config();
    StartTimer(c.restart * int64_t(std::max<uint32_t>(c.max_configure, 1)), [this] {
      if (state_ != State::kWait) return;
      state_ = State::kDone;
      host_.AuthFinished(false, "no PAP Authenticate-Request", true);
    });
  }

  void Input(ByteSpan payload) override {
    auto p = ParseControlPacket(payload);
    if (!p || p->code != kPapRequest) {
      ++dropped_;
      return;
    }
    if (state_ == State::kDone) {
      // Our Ack/Nak was lost: answer the retransmission the same way.
      if (result_code_) host_.SendAuthPacket(kProtoPap, result_code_, p->id, result_);
      return;
    }
    if (state_ != State::kWait) return;
    const ByteSpan d = p->data;
    if (d.empty() || d.size() < 1u + d[0] + 1) {
      ++dropped_;
      return;
    }
    const size_t id_len = d[0];
    const size_t pw_len = d[1 + id_len];
    if (d.size() < 2 + id_len + pw_len) {
      ++dropped_;
      return;
    }
    AuthRequest req;
    req.method = config::AuthMethod::kPap;
    req.user_name = AsString(d.subspan(1, id_len));
    req.password = AsString(d.subspan(2 + id_len, pw_len));
    id_ = p->id;
    state_ = State::kVerifying;
    StopTimer();
    host_.VerifyCredentials(std::move(req), [this](const AuthOutcome& o) {
      if (state_ != State::kVerifying) return;
      state_ = State::kDone;
      result_code_ = o.success ? kPapAck : kPapNak;
      result_ = PapMessage(o.success ? "Access granted"
                                     : (o.message.empty() ? "Access denied" : o.message));
      host_.SendAuthPacket(kProtoPap, result_code_, id_, result_);
      host_.AuthFinished(o.success, o.success ? "" : o.message);
    });
  }

 private:
  enum class State : uint8_t { kWait, kVerifying, kDone };
  AuthServerHost& host_;
  State state_ = State::kWait;
  uint8_t id_ = 0;
  uint8_t result_code_ = 0;
  Bytes result_;
};

class PapClient : public AuthMethodBase {
 public:
  explicit PapClient(AuthClientHost& h) : AuthMethodBase(h.auth_timers()), host_(h) {}
  uint16_t protocol() const override { return kProtoPap; }

  void Start() override {
    left_ = host_.auth_fsm_config().max_configure;
    first_id_ = uint8_t(id_ + 1);
    Send();
  }

  void Input(ByteSpan payload) override {
    auto p = ParseControlPacket(payload);
    // RFC 1334 2.2.1 changes the Identifier on every retransmission; a late
    // reply to any of our requests counts.
    if (done_ || !p || uint8_t(p->id - first_id_) > uint8_t(id_ - first_id_) ||
        (p->code != kPapAck && p->code != kPapNak)) {
      ++dropped_;
      return;
    }
    done_ = true;
    StopTimer();
    std::string msg;
    if (!p->data.empty() && p->data.size() >= 1u + p->data[0])
      msg = Printable(p->data.subspan(1, p->data[0]));
    host_.AuthFinished(p->code == kPapAck, p->code == kPapAck ? "" : "server: " + msg);
  }

 private:
  void Send() {
    const std::string& user = host_.auth_user();
    const std::string& pw = host_.auth_password();
    Bytes d;
    d.push_back(uint8_t(std::min<size_t>(user.size(), 255)));
    PutString(d, std::string_view(user).substr(0, 255));
    d.push_back(uint8_t(std::min<size_t>(pw.size(), 255)));
    PutString(d, std::string_view(pw).substr(0, 255));
    id_ = uint8_t(id_ + 1);
    host_.SendAuthPacket(kProtoPap, kPapRequest, id_, d);
    StartTimer(host_.auth_fsm_config().restart, [this] {
      if (done_) return;
      if (left_ <= 1) {
        done_ = true;
        host_.AuthFinished(false, "no PAP reply");
        return;
      }
      --left_;
      Send();
    });
  }

  AuthClientHost& host_;
  bool done_ = false;
  uint8_t id_ = 0;
  uint8_t first_id_ = 1;
  uint32_t left_ = 0;
};

}  // namespace

std::unique_ptr<AuthMethodBase> MakePapServer(AuthServerHost& h) {
  return std::make_unique<PapServer>(h);
}
std::unique_ptr<AuthMethodBase> MakePapClient(AuthClientHost& h) {
  return std::make_unique<PapClient>(h);
}

}  // namespace vpn::ppp

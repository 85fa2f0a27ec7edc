#include "auth_method.h"

#include "ppp_defs.h"

namespace vpn::ppp {

using config::AuthMethod;

uint16_t AuthProtocolNumber(AuthMethod m) {
  switch (m) {
    case AuthMethod::kPap: return kProtoPap;
    case AuthMethod::kEapMd5: return kProtoEap;
    default: return kProtoChap;
  }
}

Bytes AuthOptionValue(AuthMethod m) {
  Bytes v;
  PutU16(v, AuthProtocolNumber(m));
  switch (m) {
    case AuthMethod::kChap: v.push_back(kChapAlgMd5); break;
    case AuthMethod::kMschapV1: v.push_back(kChapAlgMsChapV1); break;
    case AuthMethod::kMschapV2: v.push_back(kChapAlgMsChapV2); break;
    default: break;
  }
  return v;
}

std::optional<AuthMethod> ParseAuthOption(ByteSpan v) {
  if (v.size() < 2) return std::nullopt;
  switch (ReadU16(v, 0)) {
    case kProtoPap:
      if (v.size() != 2) return std::nullopt;
      return AuthMethod::kPap;
    case kProtoEap:
      if (v.size() != 2) return std::nullopt;
      return AuthMethod::kEapMd5;
    case kProtoChap:
      if (v.size() != 3) return std::nullopt;
      switch (v[2]) {
        case kChapAlgMd5: return AuthMethod::kChap;
        case kChapAlgMsChapV1: return AuthMethod::kMschapV1;
        case kChapAlgMsChapV2: return AuthMethod::kMschapV2;
      }
      return std::nullopt;
  }
  return std::nullopt;
}

AuthMethodBase::~AuthMethodBase() { StopTimer(); }

void AuthMethodBase::StartTimer(absl::Duration d, std::function<void()> cb) {
  StopTimer();
  timer_ = timers_.Schedule(d, [this, cb = std::move(cb)] {
    timer_ = 0;
    cb();
  });
}

void AuthMethodBase::StopTimer() {
  if (timer_) timers_.Cancel(timer_);
  timer_ = 0;
}

std::unique_ptr<AuthMethodBase> MakeServerMethod(AuthMethod m,
                                                 AuthServerHost& host) {
  switch (m) {
    case AuthMethod::kPap: return MakePapServer(host);
    case AuthMethod::kChap: return MakeChapMd5Server(host);
    case AuthMethod::kMschapV1: return MakeMsChapV1Server(host);
    case AuthMethod::kMschapV2: return MakeMsChapV2Server(host);
    case AuthMethod::kEapMd5: return MakeEapMd5Server(host);
  }
  return nullptr;
}

std::unique_ptr<AuthMethodBase> MakeClientMethod(AuthMethod m,
                                                 AuthClientHost& host) {
  switch (m) {
    case AuthMethod::kPap: return MakePapClient(host);
    case AuthMethod::kChap: return MakeChapMd5Client(host);
    case AuthMethod::kMschapV1: return MakeMsChapV1Client(host);
    case AuthMethod::kMschapV2: return MakeMsChapV2Client(host);
    case AuthMethod::kEapMd5: return MakeEapMd5Client(host);
  }
  return nullptr;
}

}  // namespace vpn::ppp

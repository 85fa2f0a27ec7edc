// MS-CHAPv1 (RFC 2433): 8-octet challenge; the 49-octet Response value is
// LM-Response(24) | NT-Response(24) | Flags(1). We verify the NT response
// only (Flags bit 0 "use NT" must be set; LAN Manager hashes are not used).
#include "absl/strings/str_format.h"
#include "chap_common.h"
#include "mschap_crypto.h"

namespace vpn::ppp {
namespace {

constexpr size_t kChallengeLen = 8;
constexpr size_t kResponseLen = 49;

class MsChapV1Server : public ChapServer {
 public:
  explicit MsChapV1Server(AuthServerHost& h)
      : ChapServer(h, kChallengeLen, kResponseLen) {}

 protected:
  config::AuthMethod method() const override {
    return config::AuthMethod::kMschapV1;
  }
  bool FillRequest(ByteSpan value, AuthRequest* req) override {
    const bool use_nt = value[48] & 1;
    // Without the NT response the request cannot succeed; keep it (so the
    // client gets a proper Failure) but with an empty response.
    if (use_nt) req->response.assign(value.begin() + 24, value.begin() + 48);
    return true;
  }
  std::string SuccessMessage(const AuthOutcome&) override { return ""; }
  // RFC 2433 section 6: "E=691 R=0" (authentication failure, no retry).
  std::string FailureMessage(const AuthOutcome&) override { return "E=691 R=0"; }
};

class MsChapV1Client : public ChapClient {
 public:
  explicit MsChapV1Client(AuthClientHost& h) : ChapClient(h, kChallengeLen) {}

 protected:
  bool ComputeResponse(uint8_t, ByteSpan challenge, Bytes* value) override {
    auto hash = NtPasswordHash(host_.auth_password());
    if (!hash.ok()) return false;
    auto nt = ChallengeResponse(challenge, *hash);
    if (!nt.ok()) return false;
    value->assign(24, 0);  // no LAN Manager response
    PutBytes(*value, *nt);
    value->push_back(1);   // use NT response
    return true;
  }
};

}  // namespace

std::unique_ptr<AuthMethodBase> MakeMsChapV1Server(AuthServerHost& h) {
  return std::make_unique<MsChapV1Server>(h);
}
std::unique_ptr<AuthMethodBase> MakeMsChapV1Client(AuthClientHost& h) {
  return std::make_unique<MsChapV1Client>(h);
}

}  // namespace vpn::ppp

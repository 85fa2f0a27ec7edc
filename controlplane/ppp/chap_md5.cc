// CHAP with MD5 (RFC 1994): Response = MD5(Identifier | secret | Challenge).
#include "chap_common.h"
#include "mschap_crypto.h"

namespace vpn::ppp {
namespace {

constexpr size_t kChallengeLen = 16;

class ChapMd5Server : public ChapServer {
 public:
  explicit ChapMd5Server(AuthServerHost& h) : ChapServer(h, kChallengeLen, 16) {}

 protected:
  config::AuthMethod method() const override { return config::AuthMethod::kChap; }
  bool FillRequest(ByteSpan value, AuthRequest* req) override {
    req->response.assign(value.begin(), value.end());
    return true;
  }
  std::string SuccessMessage(const AuthOutcome&) override { return "Access granted"; }
  std::string FailureMessage(const AuthOutcome&) override { return "Access denied"; }
};

class ChapMd5Client : public ChapClient {
 public:
  explicit ChapMd5Client(AuthClientHost& h) : ChapClient(h, 0) {}

 protected:
  bool ComputeResponse(uint8_t id, ByteSpan challenge, Bytes* value) override {
    const Md5Digest d = ChapMd5Response(id, host_.auth_password(), challenge);
    value->assign(d.begin(), d.end());
    return true;
  }
};

}  // namespace

std::unique_ptr<AuthMethodBase> MakeChapMd5Server(AuthServerHost& h) {
  return std::make_unique<ChapMd5Server>(h);
}
std::unique_ptr<AuthMethodBase> MakeChapMd5Client(AuthClientHost& h) {
  return std::make_unique<ChapMd5Client>(h);
}

}  // namespace vpn::ppp

// MS-CHAPv2 (RFC 2759): 16-octet authenticator challenge; the 49-octet
// Response value is Peer-Challenge(16) | Reserved(8, zero) | NT-Response(24)
// | Flags(1, zero). Success carries "S=<authenticator response> M=<msg>"
// (section 5), which the client must verify (mutual authentication);
// Failure "E=691 R=0 C=<new challenge> V=3 M=<msg>" (section 6).
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "chap_common.h"
#include "mschap_crypto.h"

namespace vpn::ppp {
namespace {

constexpr size_t kChallengeLen = 16;
constexpr size_t kResponseLen = 49;

class MsChapV2Server : public ChapServer {
 public:
  explicit MsChapV2Server(AuthServerHost& h)
      : ChapServer(h, kChallengeLen, kResponseLen) {}

 protected:
  config::AuthMethod method() const override {
    return config::AuthMethod::kMschapV2;
  }
  bool FillRequest(ByteSpan value, AuthRequest* req) override {
    req->peer_challenge.assign(value.begin(), value.begin() + 16);
    req->response.assign(value.begin() + 24, value.begin() + 48);
    return true;
  }
  std::string SuccessMessage(const AuthOutcome& o) override {
    return o.mschap2_authenticator_response + " M=Access granted";
  }
  std::string FailureMessage(const AuthOutcome& o) override {
    // R=0: no retry on this link; C= is a fresh challenge as the RFC
    // requires even when no retry is offered.
    uint8_t fresh[16];
    RandomBytes(fresh);
    return absl::StrFormat("E=691 R=0 C=%s V=3 M=%s", HexString(fresh),
                           o.message.empty() ? "Authentication failure"
                                             : o.message);
  }
};

class MsChapV2Client : public ChapClient {
 public:
  explicit MsChapV2Client(AuthClientHost& h) : ChapClient(h, kChallengeLen) {}

 protected:
  bool ComputeResponse(uint8_t, ByteSpan challenge, Bytes* value) override {
    auto hash = NtPasswordHash(host_.auth_password());
    if (!hash.ok()) return false;
    uint8_t peer[16];
    RandomBytes(peer);
    const std::string_view name = StripNtDomain(host_.auth_user());
    auto nt = GenerateNtResponse(challenge, peer, name, *hash);
    if (!nt.ok()) return false;
    auto s = GenerateAuthenticatorResponse(*hash, *nt, peer, challenge, name);
    if (!s.ok()) return false;
    expected_ = *s;
    value->assign(peer, peer + 16);
    value->resize(24, 0);
    PutBytes(*value, *nt);
    value->push_back(0);
    return true;
  }
  bool VerifySuccess(ByteSpan message, std::string* why) override {
    // "S=" + 40 hex digits, optionally followed by " M=...".
    const std::string m = AsString(message);
    if (m.size() < 42 ||
        !absl::EqualsIgnoreCase(m.substr(0, 42), expected_)) {
      *why = "MS-CHAPv2 authenticator response mismatch: " + Printable(message);
      return false;
    }
    return true;
  }

 private:
  std::string expected_;
};

}  // namespace

std::unique_ptr<AuthMethodBase> MakeMsChapV2Server(AuthServerHost& h) {
  return std::make_unique<MsChapV2Server>(h);
}
std::unique_ptr<AuthMethodBase> MakeMsChapV2Client(AuthClientHost& h) {
  return std::make_unique<MsChapV2Client>(h);
}

}  // namespace vpn::ppp

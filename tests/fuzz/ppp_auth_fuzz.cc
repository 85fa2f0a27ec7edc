// The PPP authentication methods (controlplane/ppp pap.cc, chap_*.cc,
// mschap_v1.cc, mschap_v2.cc, eap_md5.cc) fed packets, in both roles:
// as the server the fuzzer plays the client (Responses, PAP
// Authenticate-Requests, EAP Responses) checked by the real
// LocalAuthenticator; as the client it plays the server (Challenges,
// Success/Failure messages such as MS-CHAPv2 "S=... M=..." and
// "E=691 R=1 C=... V=3", EAP Requests).
//
// Setup byte: bits 0-2 method (PAP, CHAP-MD5, MS-CHAPv1, MS-CHAPv2,
// EAP-MD5), bit 3 client role, bit 4 verification answers later (record 2).
// Records, kinds modulo 3: 0 a packet (after the protocol field), 1 advance
// the clock by u16 x 100 ms, 2 complete the pending verification.
//
// Checks: the method reports AuthFinished at most once per run, a pending
// verification callback is never run twice, and every packet the method
// sends is a well-formed control packet.
#include <functional>
#include <optional>

#include "auth_method.h"
#include "authenticator.h"
#include "fuzz_common.h"
#include "packet.h"
#include "records.h"

namespace vpn::ppp {
namespace {

using config::AuthMethod;
using fuzz::Cursor;
using fuzz::Record;
using fuzz::RecordReader;

constexpr AuthMethod kMethods[] = {AuthMethod::kPap, AuthMethod::kChap, AuthMethod::kMschapV1,
                                   AuthMethod::kMschapV2, AuthMethod::kEapMd5};

config::Config AuthConfig() {
  config::Config c;
  config::Group g;
  g.auth = {kMethods, kMethods + 5};
  c.groups.push_back(g);
  config::User u;
  u.name = "alice";
  u.password = "alice-pw";
  c.users.push_back(u);
  config::User h;
  h.name = "bob";
  h.nt_hash = "8846F7EAEE8FB117AD06BDD830B7586C";  // "password"
  c.users.push_back(h);
  return c;
}

void CheckSent(uint8_t code, ByteSpan data) {
  Bytes f = BuildControlFrame(0xC223, code, 0, data);
  auto p = ParseControlPacket(ByteSpan(f).subspan(2));
  FUZZ_CHECK(p.has_value());
}

class Host : public AuthServerHost, public AuthClientHost {
 public:
  explicit Host(bool async) : async_(async), config_(AuthConfig()), auth_(config_) {}

  void SendAuthPacket(uint16_t, uint8_t code, uint8_t, ByteSpan data) override {
    CheckSent(code, data);
  }
  cp::TimerQueue& auth_timers() override { return timers; }
  const FsmConfig& auth_fsm_config() override { return fsm_; }
  void VerifyCredentials(AuthRequest request,
                         std::function<void(const AuthOutcome&)> done) override {
    AuthResult r = auth_.Verify(request);
    AuthOutcome o;
    o.success = r.status == AuthStatus::kSuccess;
    o.mschap2_authenticator_response = r.mschap2_authenticator_response;
    o.message = r.message;
    if (!async_) {
      done(o);
      return;
    }
    pending_ = [done = std::move(done), o, ran = std::make_shared<bool>(false)] {
      FUZZ_CHECK(!*ran);
      *ran = true;
      done(o);
    };
  }
  void AuthFinished(bool, std::string_view, bool) override {
    FUZZ_CHECK(!finished_);
    finished_ = true;
  }
  const std::string& auth_user() override { return user_; }
  const std::string& auth_password() override { return password_; }

  void Complete() {
    if (!pending_) return;
    auto p = std::move(pending_);
    pending_ = nullptr;
    p();
  }

  cp::ManualTimerQueue timers;

 private:
  bool async_;
  config::Config config_;
  LocalAuthenticator auth_;
  FsmConfig fsm_;
  std::function<void()> pending_;
  bool finished_ = false;
  std::string user_ = "alice", password_ = "alice-pw";
};

}  // namespace
}  // namespace vpn::ppp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vpn::ppp;
  vpn::fuzz::QuietLogs();
  RecordReader in({data, size});
  const uint8_t setup = in.Setup();
  const AuthMethod m = kMethods[(setup & 7) % 5];
  Host host(setup & 0x10);
  std::unique_ptr<AuthMethodBase> method = (setup & 0x08) ? MakeClientMethod(m, host)
                                                          : MakeServerMethod(m, host);
  FUZZ_CHECK(method != nullptr);
  (void)AuthProtocolNumber(m);
  method->Start();
  Record r;
  while (in.Next(&r)) {
    switch (r.kind % 3) {
      case 0:
        method->Input(r.data);
        break;
      case 1:
        host.timers.Advance(absl::Milliseconds(100) * Cursor(r.data).U16());
        break;
      case 2:
        host.Complete();
        break;
    }
  }
  method->Stop();
  host.Complete();  // a verification finishing after the method stopped
  method.reset();
  return 0;
}

// Who may log in: the asynchronous Authenticator interface (RADIUS plugs in
// here later) and the local implementation over the configuration's users
// and groups (seed 002: local user database with plaintext or "mschap"
// NT-hash storage, tunnel-group switching by user@group with strip-group).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "packet.h"
#include "vpn/config.h"

namespace vpn::ppp {

std::string_view AuthMethodName(config::AuthMethod m);

// One verification: everything the method collected from the client.
struct AuthRequest {
  config::AuthMethod method = config::AuthMethod::kMschapV2;
  std::string user_name;  // exactly as the client sent it
  std::string peer;       // for logs: "198.18.0.7:1701 tunnel 3 session 5"
  // PAP (RFC 1334): the password.
  std::string password;
  // CHAP-MD5 / EAP-MD5: identifier, our challenge, 16-octet MD5 response.
  // MS-CHAPv1: challenge (8), response = NT-Response (24).
  // MS-CHAPv2: challenge = authenticator challenge (16), peer_challenge (16),
  //            response = NT-Response (24).
  uint8_t chap_id = 0;
  Bytes challenge;
  Bytes peer_challenge;
  Bytes response;
  // EAP pass-through (RFC 3579 2, Authenticator::RelaysEap): the peer's whole
  // EAP Response packet, and the AAA server's State from its last challenge.
  Bytes eap_message;
  Bytes aaa_state;
};

enum class AuthStatus : uint8_t {
  kSuccess,
  kBadCredentials,  // unknown user or wrong password: delayed, counted
  kNotAuthorized,   // right password, but not allowed (group mismatch)
  kError,           // cannot verify (method needs plaintext, server trouble)
  kChallenge,       // EAP pass-through: the server continues the conversation
};

struct AuthResult {
  AuthStatus status = AuthStatus::kError;
  std::string user;    // canonical name (after strip-group) for limits/logs
  std::string group;   // configured group name, "" = default group
  uint32_t static_ip = 0;  // host order, 0 = from the group's pool
  // MS-CHAPv2 success: the "S=<40 hex>" authenticator response (RFC 2759 5);
  // only the side holding the password hash can compute it.
  std::string mschap2_authenticator_response;
  std::string message;  // why, for logs
  // Overrides from an AAA server (RADIUS Framed-Pool, Session-Timeout,
  // Idle-Timeout); empty / nullopt = the group's setting.
  std::string pool;
  std::optional<uint32_t> session_timeout_s;
  std::optional<uint32_t> idle_timeout_s;
  // kChallenge: the next EAP Request for the peer (whole packet) and the
  // State to echo with its response (RFC 3579 2.1, RFC 2865 5.24).
  Bytes eap_message;
  Bytes aaa_state;
};

class Authenticator {
 public:
  using Done = std::function<void(AuthResult)>;
  virtual ~Authenticator() = default;
  // Calls `done` exactly once, synchronously or later. The caller guards its
  // own lifetime (ServerSession ignores results arriving after it is gone).
  virtual void Authenticate(const AuthRequest& request, Done done) = 0;
  // True when EAP is relayed to an AAA server (RFC 3579 pass-through): the
  // EAP method then forwards every EAP Response in AuthRequest::eap_message
  // and sends the Requests the server chooses (AuthStatus::kChallenge)
  // instead of running EAP-MD5 itself.
  virtual bool RelaysEap() const { return false; }
};

// Group lookup without Config's out-of-line helpers. The default group is
// groups[0]; with no groups configured a built-in default (MS-CHAPv2 only).
const config::Group& DefaultGroup(const config::Config& c);
const config::Group* FindGroupNamed(const config::Config& c,
                                    std::string_view name);

// user@group resolution: "alice@sales" selects group "sales" when it exists;
// with that group's strip_group the user looked up is "alice", otherwise
// "alice@sales". A "DOMAIN\" prefix (Windows) is dropped first.
struct UserIdentity {
  std::string lookup_name;
  const config::Group* explicit_group = nullptr;
};
UserIdentity ResolveUserGroup(const config::Config& c,
                              std::string_view name_as_sent);

class LocalAuthenticator : public Authenticator {
 public:
  explicit LocalAuthenticator(const config::Config& config)
      : config_(config) {}
  void Authenticate(const AuthRequest& request, Done done) override {
    done(Verify(request));
  }
  AuthResult Verify(const AuthRequest& request) const;

 private:
  const config::Config& config_;
};

}  // namespace vpn::ppp

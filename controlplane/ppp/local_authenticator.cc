#include "authenticator.h"

#include "mschap_crypto.h"

namespace vpn::ppp {

using config::AuthMethod;

std::string_view AuthMethodName(AuthMethod m) {
  switch (m) {
    case AuthMethod::kPap: return "PAP";
    case AuthMethod::kChap: return "CHAP-MD5";
    case AuthMethod::kMschapV1: return "MS-CHAPv1";
    case AuthMethod::kMschapV2: return "MS-CHAPv2";
    case AuthMethod::kEapMd5: return "EAP-MD5";
  }
  return "?";
}

const config::Group& DefaultGroup(const config::Config& c) {
  static const config::Group kBuiltin{};
  return c.groups.empty() ? kBuiltin : c.groups[0];
}

const config::Group* FindGroupNamed(const config::Config& c,
                                    std::string_view name) {
  if (name.empty()) return &DefaultGroup(c);
  for (const config::Group& g : c.groups)
    if (g.name == name) return &g;
  return nullptr;
}

UserIdentity ResolveUserGroup(const config::Config& c,
                              std::string_view name_as_sent) {
  std::string_view name = StripNtDomain(name_as_sent);
  UserIdentity id;
  id.lookup_name = std::string(name);
  const size_t at = name.rfind('@');
  if (at == std::string_view::npos || at + 1 == name.size()) return id;
  const std::string_view group = name.substr(at + 1);
  for (const config::Group& g : c.groups) {
    if (!g.name.empty() && g.name == group) {
      id.explicit_group = &g;
      if (g.strip_group) id.lookup_name = std::string(name.substr(0, at));
      break;
    }
  }
  return id;
}

namespace {

AuthResult Fail(AuthStatus s, std::string why) {
  AuthResult r;
  r.status = s;
  r.message = std::move(why);
  return r;
}

// The NT hash of a user: from the stored hash or the plaintext password.
std::optional<NtHash> UserNtHash(const config::User& u) {
  if (!u.nt_hash.empty()) {
    auto b = ParseHex(u.nt_hash);
    if (!b || b->size() != 16) return std::nullopt;
    NtHash h;
    std::copy(b->begin(), b->end(), h.begin());
    return h;
  }
  if (u.password.empty()) return std::nullopt;
  auto h = NtPasswordHash(u.password);
  if (!h.ok()) return std::nullopt;
  return *h;
}

}  // namespace

AuthResult LocalAuthenticator::Verify(const AuthRequest& req) const {
  const UserIdentity id = ResolveUserGroup(config_, req.user_name);
  const config::User* user = nullptr;
  for (const config::User& u : config_.users) {
    if (u.name == id.lookup_name) {
      user = &u;
      break;
    }
  }
  if (!user) return Fail(AuthStatus::kBadCredentials, "unknown user");

  const config::Group* group = id.explicit_group;
  if (group && !user->group.empty() && user->group != group->name) {
    // Choosing a group by name must not let a user into a group (and its
    // pool) the administrator did not put them in.
    return Fail(AuthStatus::kNotAuthorized,
                "user belongs to group '" + user->group + "'");
  }
  if (!group) group = FindGroupNamed(config_, user->group);
  if (!group)
    return Fail(AuthStatus::kError, "user's group '" + user->group +
                                        "' is not configured");

  bool ok = false;
  std::string mschap2_response;
  switch (req.method) {
    case AuthMethod::kPap: {
      if (!user->password.empty()) {
        ok = ConstantTimeEqual(AsBytes(req.password), AsBytes(user->password));
        break;
      }
      // Only an NT hash is stored (seed 002 "mschap"): PAP carries the
      // plaintext, so hash what the client sent (RFC 2759 8.3) and compare
      // hashes. CHAP-MD5 and EAP-MD5 cannot do this: their response is MD5
      // over the plaintext itself.
      auto stored = UserNtHash(*user);
      if (!stored) return Fail(AuthStatus::kError, "no usable password or NT hash");
      auto sent = NtPasswordHash(req.password);
      if (!sent.ok()) break;  // not valid UTF-8: cannot be the password
      ok = ConstantTimeEqual(*sent, *stored);
      break;
    }
    case AuthMethod::kChap:
    case AuthMethod::kEapMd5: {
      if (user->password.empty())
        return Fail(AuthStatus::kError,
                    std::string(AuthMethodName(req.method)) +
                        " needs a plaintext password but user has only an NT "
                        "hash (use MS-CHAP, or PAP)");
      if (req.response.size() != 16) break;
      const Md5Digest want =
          ChapMd5Response(req.chap_id, user->password, req.challenge);
      ok = ConstantTimeEqual(want, req.response);
      break;
    }
    case AuthMethod::kMschapV1: {
      auto hash = UserNtHash(*user);
      if (!hash) return Fail(AuthStatus::kError, "no usable password or NT hash");
      if (req.challenge.size() != 8 || req.response.size() != 24) break;
      auto want = ChallengeResponse(req.challenge, *hash);
      if (!want.ok()) return Fail(AuthStatus::kError, std::string(want.status().message()));
      ok = ConstantTimeEqual(*want, req.response);
      break;
    }
    case AuthMethod::kMschapV2: {
      auto hash = UserNtHash(*user);
      if (!hash) return Fail(AuthStatus::kError, "no usable password or NT hash");
      if (req.challenge.size() != 16 || req.peer_challenge.size() != 16 ||
          req.response.size() != 24)
        break;
      // RFC 2759 4: the hashed name is the one the peer sent, less any
      // "DOMAIN\" prefix (and with "@group", which the client also hashed).
      const std::string_view hashed_name = StripNtDomain(req.user_name);
      auto want = GenerateNtResponse(req.challenge, req.peer_challenge,
                                     hashed_name, *hash);
      if (!want.ok()) return Fail(AuthStatus::kError, std::string(want.status().message()));
      ok = ConstantTimeEqual(*want, req.response);
      if (ok) {
        auto s = GenerateAuthenticatorResponse(*hash, req.response,
                                               req.peer_challenge,
                                               req.challenge, hashed_name);
        if (!s.ok()) return Fail(AuthStatus::kError, std::string(s.status().message()));
        mschap2_response = *s;
      }
      break;
    }
  }
  if (!ok) return Fail(AuthStatus::kBadCredentials, "wrong password");
  AuthResult r;
  r.status = AuthStatus::kSuccess;
  r.user = user->name;
  r.group = group->name;
  r.static_ip = user->static_ip;
  r.mschap2_authenticator_response = std::move(mschap2_response);
  r.message = "ok";
  return r;
}

}  // namespace vpn::ppp

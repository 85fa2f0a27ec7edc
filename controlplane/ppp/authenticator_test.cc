// The local Authenticator: user@group resolution and each method's check,
// with responses computed by the client-side formulas (and CHAP-MD5 via
// OpenSSL directly).
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "authenticator.h"
#include "mschap_crypto.h"

namespace vpn::ppp {
namespace {

using config::AuthMethod;

config::Config Cfg() {
  config::Config c;
  config::Group def;
  def.pool = "p";
  c.groups.push_back(def);
  config::Group sales;
  sales.name = "sales";
  c.groups.push_back(sales);
  config::Group eng;
  eng.name = "eng";
  eng.strip_group = false;
  c.groups.push_back(eng);
  config::User a;
  a.name = "alice";
  a.password = "pw";
  c.users.push_back(a);
  config::User u;
  u.name = "User";
  u.nt_hash = "44ebba8d5312b8d611474411f56989ae";
  c.users.push_back(u);
  config::User d;
  d.name = "dave";
  d.password = "dpw";
  d.group = "sales";
  d.static_ip = 0x64400909;
  c.users.push_back(d);
  return c;
}

TEST(ResolveUserGroup, StripAndDomain) {
  config::Config c = Cfg();
  auto id = ResolveUserGroup(c, "alice@sales");
  EXPECT_EQ(id.lookup_name, "alice");
  ASSERT_TRUE(id.explicit_group);
  EXPECT_EQ(id.explicit_group->name, "sales");
  id = ResolveUserGroup(c, "bob@eng");
  EXPECT_EQ(id.lookup_name, "bob@eng");
  ASSERT_TRUE(id.explicit_group);
  id = ResolveUserGroup(c, "carol@example.com");  // not a group: whole name
  EXPECT_EQ(id.lookup_name, "carol@example.com");
  EXPECT_FALSE(id.explicit_group);
  id = ResolveUserGroup(c, "CORP\\alice");
  EXPECT_EQ(id.lookup_name, "alice");
  id = ResolveUserGroup(c, "alice@");
  EXPECT_EQ(id.lookup_name, "alice@");
}

TEST(LocalAuthenticator, Pap) {
  config::Config c = Cfg();
  LocalAuthenticator auth(c);
  AuthRequest r;
  r.method = AuthMethod::kPap;
  r.user_name = "alice";
  r.password = "pw";
  EXPECT_EQ(auth.Verify(r).status, AuthStatus::kSuccess);
  r.password = "pw2";
  EXPECT_EQ(auth.Verify(r).status, AuthStatus::kBadCredentials);
  r.user_name = "nobody";
  EXPECT_EQ(auth.Verify(r).status, AuthStatus::kBadCredentials);
  // NT hash only (RFC 2759 9.2's "clientPass"): PAP compares hashes.
  r.user_name = "User";
  r.password = "clientPass";
  EXPECT_EQ(auth.Verify(r).status, AuthStatus::kSuccess);
  r.password = "clientpass";
  EXPECT_EQ(auth.Verify(r).status, AuthStatus::kBadCredentials);
  r.password = "";
  EXPECT_EQ(auth.Verify(r).status, AuthStatus::kBadCredentials);
  r.password = std::string("\xff\xfe", 2);  // not UTF-8
  EXPECT_EQ(auth.Verify(r).status, AuthStatus::kBadCredentials);
}

TEST(LocalAuthenticator, Md5MethodsRefuseNtHashOnlyUsersWithAReason) {
  config::Config c = Cfg();
  LocalAuthenticator auth(c);
  for (AuthMethod m : {AuthMethod::kChap, AuthMethod::kEapMd5}) {
    AuthRequest r;
    r.method = m;
    r.user_name = "User";
    r.chap_id = 1;
    r.challenge = Bytes(16, 1);
    r.response = Bytes(16, 2);
    const AuthResult res = auth.Verify(r);
    // Not "wrong password": the operator must see that the storage cannot
    // serve this method.
    EXPECT_EQ(res.status, AuthStatus::kError);
    EXPECT_NE(res.message.find("NT hash"), std::string::npos) << res.message;
  }
}

TEST(LocalAuthenticator, ChapMd5AgainstOpenSsl) {
  config::Config c = Cfg();
  LocalAuthenticator auth(c);
  AuthRequest r;
  r.method = AuthMethod::kChap;
  r.user_name = "alice";
  r.chap_id = 0x42;
  r.challenge = Bytes(16, 0x5a);
  std::string in = std::string(1, '\x42') + "pw" + std::string(16, '\x5a');
  uint8_t md[16];
  unsigned len = 0;
  ASSERT_EQ(EVP_Digest(in.data(), in.size(), md, &len, EVP_md5(), nullptr), 1);
  r.response.assign(md, md + 16);
  EXPECT_EQ(auth.Verify(r).status, AuthStatus::kSuccess);
  r.chap_id = 0x43;
  EXPECT_EQ(auth.Verify(r).status, AuthStatus::kBadCredentials);
}

TEST(LocalAuthenticator, MsChapV2Rfc2759VectorWithStoredNtHash) {
  config::Config c = Cfg();
  LocalAuthenticator auth(c);
  AuthRequest r;
  r.method = AuthMethod::kMschapV2;
  r.user_name = "User";
  r.challenge = *ParseHex("5B5D7C7D7B3F2F3E3C2C602132262628");
  r.peer_challenge = *ParseHex("21402324255E262A28295F2B3A337C7E");
  r.response = *ParseHex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF");
  AuthResult res = auth.Verify(r);
  ASSERT_EQ(res.status, AuthStatus::kSuccess) << res.message;
  EXPECT_EQ(res.mschap2_authenticator_response,
            "S=407A5589115FD0D6209F510FE9C04566932CDA56");
  r.response[0] ^= 1;
  EXPECT_EQ(auth.Verify(r).status, AuthStatus::kBadCredentials);
}

TEST(LocalAuthenticator, MsChapV1WithPlaintext) {
  config::Config c = Cfg();
  LocalAuthenticator auth(c);
  AuthRequest r;
  r.method = AuthMethod::kMschapV1;
  r.user_name = "alice";
  r.challenge = *ParseHex("102DB5DF085D3041");
  auto h = NtPasswordHash("pw");
  ASSERT_TRUE(h.ok());
  auto nt = ChallengeResponse(r.challenge, *h);
  ASSERT_TRUE(nt.ok());
  r.response.assign(nt->begin(), nt->end());
  EXPECT_EQ(auth.Verify(r).status, AuthStatus::kSuccess);
  r.response.clear();  // LM-only response
  EXPECT_EQ(auth.Verify(r).status, AuthStatus::kBadCredentials);
}

TEST(LocalAuthenticator, GroupsAndStaticAddress) {
  config::Config c = Cfg();
  LocalAuthenticator auth(c);
  AuthRequest r;
  r.method = AuthMethod::kPap;
  r.user_name = "dave";
  r.password = "dpw";
  AuthResult res = auth.Verify(r);
  ASSERT_EQ(res.status, AuthStatus::kSuccess);
  EXPECT_EQ(res.group, "sales");  // the user's own group
  EXPECT_EQ(res.static_ip, 0x64400909u);
  r.user_name = "dave@sales";
  res = auth.Verify(r);
  EXPECT_EQ(res.status, AuthStatus::kSuccess);
  EXPECT_EQ(res.user, "dave");
  r.user_name = "dave@eng";  // not his group (and eng keeps the suffix)
  EXPECT_NE(auth.Verify(r).status, AuthStatus::kSuccess);
  r.user_name = "alice@sales";
  r.password = "pw";
  res = auth.Verify(r);
  EXPECT_EQ(res.status, AuthStatus::kSuccess);
  EXPECT_EQ(res.group, "sales");
}

}  // namespace
}  // namespace vpn::ppp

// Client transport (retransmission, failover, dead servers, reply checks)
// and RadiusAuthenticator (request attributes per method, reply
// interpretation) against the in-process FakeServer.
#include <gtest/gtest.h>

#include "client.h"
#include "ppp/crypto.h"
#include "ppp/mschap_crypto.h"
#include "radius_authenticator.h"
#include "test_util.h"

namespace vpn::radius {
// Named so that the unity build (test_unity in meson.build) keeps this
// file's helpers apart from its neighbours'.
namespace client_test {
namespace {

using testing::FakeServer;
using testing::RunUntil;
using testing::Server;

constexpr char kSecret[] = "s3cret-shared";

struct Fixture {
  explicit Fixture(int n_servers = 1) {
    for (int i = 0; i < n_servers; ++i) servers.push_back(std::make_unique<FakeServer>(loop, kSecret));
    for (auto& s : servers) cfg.radius.servers.push_back(Server(s->port(), s->port(), kSecret));
    cfg.radius.timeout_ms = 40;
    cfg.radius.retries = 2;
    cfg.radius.dead_time_s = 30;
    cfg.radius.nas_identifier = "nas-test";
  }
  absl::StatusOr<ppp::AuthResult> Auth(RadiusAuthenticator& a, const ppp::AuthRequest& r) {
    std::optional<ppp::AuthResult> out;
    a.Authenticate(r, [&](ppp::AuthResult res) { out = std::move(res); });
    if (!RunUntil(loop, [&] { return out.has_value(); })) {
      return absl::DeadlineExceededError("no result");
    }
    return *out;
  }
  cp::EventLoop loop;
  config::Config cfg;
  std::vector<std::unique_ptr<FakeServer>> servers;
};

ppp::AuthRequest Pap(std::string user, std::string pw) {
  ppp::AuthRequest r;
  r.method = config::AuthMethod::kPap;
  r.user_name = std::move(user);
  r.password = std::move(pw);
  r.peer = "198.18.0.7:1701 tunnel 3 session 5";
  return r;
}

TEST(RadiusAuth, PapPasswordHiddenAndAcceptAttributesApplied) {
  Fixture f;
  f.servers[0]->handler = [](const Packet&) {
    Packet r;
    r.code = kAccessAccept;
    r.AddIpv4(kFramedIpAddress, 0x64400007);
    r.AddU32(kSessionTimeout, 3600);
    r.AddU32(kIdleTimeout, 600);
    r.AddString(kClass, "OU=sales;");
    r.AddString(kFramedPool, "pool-b");
    r.AddU32(kAcctInterimInterval, 120);
    return r;
  };
  Client client(f.loop, f.cfg.radius);
  ASSERT_TRUE(client.Open().ok());
  RadiusAuthenticator auth(client, f.cfg);
  auto res = f.Auth(auth, Pap("alice", "wonderland"));
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, ppp::AuthStatus::kSuccess) << res->message;
  EXPECT_EQ(res->user, "alice");
  EXPECT_EQ(res->group, "sales");
  EXPECT_EQ(res->static_ip, 0x64400007u);
  EXPECT_EQ(res->pool, "pool-b");
  EXPECT_EQ(res->session_timeout_s, 3600u);
  EXPECT_EQ(res->idle_timeout_s, 600u);
  ASSERT_EQ(f.servers[0]->revealed_passwords.size(), 1u);
  EXPECT_EQ(f.servers[0]->revealed_passwords[0], "wonderland");
  EXPECT_EQ(f.servers[0]->bad_authenticators, 0);
  const Packet& req = f.servers[0]->received[0];
  EXPECT_EQ(req.String(kUserName), "alice");
  EXPECT_EQ(req.String(kNasIdentifier), "nas-test");
  EXPECT_EQ(req.String(kCallingStationId), "198.18.0.7");
  EXPECT_EQ(req.U32(kServiceType), kServiceFramed);
  EXPECT_EQ(req.U32(kFramedProtocol), kFramedProtocolPpp);
  EXPECT_NE(req.Find(kMessageAuthenticator), nullptr);
  // The user-visible password never travels in clear.
  const Bytes& wire = f.servers[0]->received_wire[0];
  EXPECT_EQ(std::search(wire.begin(), wire.end(), std::begin("wonderland"),
                        std::end("wonderland") - 1),
            wire.end());
  auto grant = auth.TakeGrant("198.18.0.7:1701 tunnel 3 session 5");
  ASSERT_TRUE(grant.has_value());
  EXPECT_EQ(grant->user_name, "alice");
  ASSERT_EQ(grant->classes.size(), 1u);
  EXPECT_EQ(AsString(grant->classes[0]), "OU=sales;");
  EXPECT_EQ(grant->interim_interval_s, 120u);
  EXPECT_FALSE(auth.TakeGrant("198.18.0.7:1701 tunnel 3 session 5").has_value());
}

TEST(RadiusAuth, RejectIsBadCredentialsWithReason) {
  Fixture f;
  f.servers[0]->handler = [](const Packet&) {
    Packet r;
    r.code = kAccessReject;
    r.AddString(kReplyMessage, "account locked");
    return r;
  };
  Client client(f.loop, f.cfg.radius);
  ASSERT_TRUE(client.Open().ok());
  RadiusAuthenticator auth(client, f.cfg);
  auto res = f.Auth(auth, Pap("bob", "x"));
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, ppp::AuthStatus::kBadCredentials);
  EXPECT_NE(res->message.find("account locked"), std::string::npos);
  EXPECT_EQ(auth.counters().rejects, 1u);
  EXPECT_FALSE(auth.TakeGrant("198.18.0.7:1701 tunnel 3 session 5").has_value());
}

TEST(RadiusAuth, MsChapV2AttributesFollowRfc2548AndSuccessReachesClient) {
  // RFC 2759 9.2 values.
  const Bytes auth_challenge = *ParseHex("5B5D7C7D7B3F2F3E3C2C602132262628");
  const Bytes peer_challenge = *ParseHex("21402324255E262A28295F2B3A337C7E");
  const Bytes nt_response = *ParseHex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF");
  ASSERT_TRUE(ppp::EnsureCryptoProviders().ok());
  Fixture f;
  f.servers[0]->handler = [&](const Packet& req) -> std::optional<Packet> {
    // The server side of RFC 2759, from the attributes alone.
    auto ch = req.FindVendor(kVendorMicrosoft, kMsChapChallenge);
    auto resp = req.FindVendor(kVendorMicrosoft, kMsChap2Response);
    Packet r;
    if (!ch || !resp || resp->size() != kMsChap2ResponseLen) {
      r.code = kAccessReject;
      return r;
    }
    const ByteSpan peer = resp->subspan(2, 16), nt = resp->subspan(26, 24);
    auto hash = ppp::NtPasswordHash("clientPass");
    auto want = ppp::GenerateNtResponse(*ch, peer, "User", *hash);
    if (!want.ok() || !std::equal(want->begin(), want->end(), nt.begin())) {
      r.code = kAccessReject;
      Bytes e = {(*resp)[0]};
      const std::string msg = "E=691 R=0 C=00000000000000000000000000000000 V=3";
      e.insert(e.end(), msg.begin(), msg.end());
      r.AddVendor(kVendorMicrosoft, kMsChapError, e);
      return r;
    }
    auto s = ppp::GenerateAuthenticatorResponse(*hash, nt, peer, *ch, "User");
    r.code = kAccessAccept;
    Bytes v = {(*resp)[0]};
    v.insert(v.end(), s->begin(), s->end());
    r.AddVendor(kVendorMicrosoft, kMsChap2Success, v);
    return r;
  };
  Client client(f.loop, f.cfg.radius);
  ASSERT_TRUE(client.Open().ok());
  RadiusAuthenticator auth(client, f.cfg);
  ppp::AuthRequest r;
  r.method = config::AuthMethod::kMschapV2;
  r.user_name = "User";
  r.chap_id = 0x42;
  r.challenge = auth_challenge;
  r.peer_challenge = peer_challenge;
  r.response = nt_response;
  auto res = f.Auth(auth, r);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, ppp::AuthStatus::kSuccess) << res->message;
  EXPECT_EQ(res->mschap2_authenticator_response, "S=407A5589115FD0D6209F510FE9C04566932CDA56");
  // Exact MS-CHAP2-Response layout: Ident, Flags 0, Peer-Challenge,
  // 8 reserved zero octets, NT-Response.
  auto v = f.servers[0]->received[0].FindVendor(kVendorMicrosoft, kMsChap2Response);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(HexString(*v), "4200" + HexString(peer_challenge) + "0000000000000000" +
                               HexString(nt_response));
  // A wrong response: reject, with MS-CHAP-Error in the reason.
  r.response[0] ^= 1;
  res = f.Auth(auth, r);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, ppp::AuthStatus::kBadCredentials);
  EXPECT_NE(res->message.find("E=691"), std::string::npos) << res->message;
}

TEST(RadiusAuth, MsChapV2AcceptWithoutSuccessAttributeIsAnError) {
  Packet reply;
  reply.code = kAccessAccept;
  ppp::AuthRequest r;
  r.method = config::AuthMethod::kMschapV2;
  r.user_name = "u";
  config::Config cfg;
  auto res = RadiusAuthenticator::InterpretReply(r, reply, cfg, nullptr);
  EXPECT_EQ(res.status, ppp::AuthStatus::kError);
}

TEST(RadiusAuth, ChapAndEapMd5AndMsChapV1RequestLayouts) {
  config::Config cfg;
  ppp::AuthRequest r;
  r.user_name = "flopsy";
  r.chap_id = 22;
  r.challenge = Bytes(16, 0xab);
  r.response = Bytes(16, 0xcd);
  for (auto m : {config::AuthMethod::kChap, config::AuthMethod::kEapMd5}) {
    r.method = m;
    auto p = RadiusAuthenticator::BuildAccessRequest(r, cfg);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(HexString(p->Find(kChapPassword)->value), "16cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd");
    EXPECT_EQ(p->Find(kChapChallenge)->value, r.challenge);
    EXPECT_EQ(p->Find(kUserPassword), nullptr);
  }
  r.method = config::AuthMethod::kMschapV1;
  r.challenge = Bytes(8, 1);
  r.response = Bytes(24, 2);
  auto p = RadiusAuthenticator::BuildAccessRequest(r, cfg);
  ASSERT_TRUE(p.ok());
  auto v = p->FindVendor(kVendorMicrosoft, kMsChapResponse);
  ASSERT_TRUE(v.has_value());
  ASSERT_EQ(v->size(), kMsChapResponseLen);
  EXPECT_EQ((*v)[0], 22);
  EXPECT_EQ((*v)[1], 1);  // use the NT-Response
  EXPECT_EQ(HexString(v->subspan(26)), HexString(Bytes(24, 2)));
  // Wrong sizes are refused rather than sent.
  r.response = Bytes(23, 2);
  EXPECT_FALSE(RadiusAuthenticator::BuildAccessRequest(r, cfg).ok());
  r.method = config::AuthMethod::kMschapV2;
  EXPECT_FALSE(RadiusAuthenticator::BuildAccessRequest(r, cfg).ok());
}

TEST(RadiusAuth, FramedIpSpecialValuesMeanPool) {
  config::Config cfg;
  ppp::AuthRequest r = Pap("a", "b");
  for (uint32_t special : {0xFFFFFFFFu, 0xFFFFFFFEu}) {
    Packet reply;
    reply.code = kAccessAccept;
    reply.AddIpv4(kFramedIpAddress, special);
    EXPECT_EQ(RadiusAuthenticator::InterpretReply(r, reply, cfg, nullptr).static_ip, 0u);
  }
  EXPECT_EQ(GroupFromClass(AsBytes("ou=eng")), "eng");
  EXPECT_EQ(GroupFromClass(AsBytes("x=1; OU=ops ;y")), "ops");
  EXPECT_EQ(GroupFromClass(AsBytes("opaque-token")), "");
}

TEST(RadiusClient, RetransmitsIdenticalPacketThenSucceeds) {
  Fixture f;
  f.servers[0]->drop_next = 2;
  Client client(f.loop, f.cfg.radius);
  ASSERT_TRUE(client.Open().ok());
  RadiusAuthenticator auth(client, f.cfg);
  auto res = f.Auth(auth, Pap("alice", "pw"));
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, ppp::AuthStatus::kSuccess);
  ASSERT_EQ(f.servers[0]->received_wire.size(), 3u);
  EXPECT_EQ(f.servers[0]->received_wire[0], f.servers[0]->received_wire[1]);
  EXPECT_EQ(f.servers[0]->received_wire[1], f.servers[0]->received_wire[2]);
  EXPECT_EQ(client.counters().retransmissions, 2u);
  EXPECT_FALSE(client.ServerDead(0, Service::kAuth));
}

TEST(RadiusClient, FailsOverAndSkipsDeadServerUntilDeadTime) {
  Fixture f(2);
  f.servers[0]->silent = true;
  Client client(f.loop, f.cfg.radius);
  ASSERT_TRUE(client.Open().ok());
  RadiusAuthenticator auth(client, f.cfg);
  auto res = f.Auth(auth, Pap("alice", "pw"));
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, ppp::AuthStatus::kSuccess);
  EXPECT_EQ(f.servers[0]->received.size(), 3u);  // 1 + 2 retries
  EXPECT_EQ(f.servers[1]->received.size(), 1u);
  EXPECT_TRUE(client.ServerDead(0, Service::kAuth));
  EXPECT_EQ(client.counters().failovers, 1u);
  // Identifier and authenticator are fresh on the second server.
  EXPECT_NE(f.servers[0]->received[0].authenticator, f.servers[1]->received[0].authenticator);
  // The next request goes straight to the live server.
  res = f.Auth(auth, Pap("alice", "pw"));
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(f.servers[0]->received.size(), 3u);
  EXPECT_EQ(f.servers[1]->received.size(), 2u);
}

TEST(RadiusClient, DeadServerIsTriedAgainAfterDeadTime) {
  Fixture f(2);
  f.cfg.radius.dead_time_s = 0;  // immediately eligible again
  f.servers[0]->drop_next = 3;
  Client client(f.loop, f.cfg.radius);
  ASSERT_TRUE(client.Open().ok());
  RadiusAuthenticator auth(client, f.cfg);
  ASSERT_TRUE(f.Auth(auth, Pap("a", "b")).ok());
  EXPECT_EQ(f.servers[1]->received.size(), 1u);
  ASSERT_TRUE(f.Auth(auth, Pap("a", "b")).ok());
  EXPECT_EQ(f.servers[0]->received.size(), 4u);  // back to the first server
  EXPECT_EQ(f.servers[1]->received.size(), 1u);
}

TEST(RadiusClient, ClosedPortAndNoAnswerGiveAnErrorResult) {
  Fixture f(0);
  f.cfg.radius.servers.push_back(Server(testing::UnusedPort(), 0, kSecret));
  f.cfg.radius.retries = 1;
  Client client(f.loop, f.cfg.radius);
  ASSERT_TRUE(client.Open().ok());
  RadiusAuthenticator auth(client, f.cfg);
  auto res = f.Auth(auth, Pap("a", "b"));
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, ppp::AuthStatus::kError);
  EXPECT_EQ(client.counters().failures, 1u);
  EXPECT_EQ(auth.counters().unavailable, 1u);
}

TEST(RadiusClient, ReplySignedWithWrongSecretIsDropped) {
  Fixture f;
  f.servers[0]->reply_secret = "not-the-secret";
  f.cfg.radius.retries = 1;
  Client client(f.loop, f.cfg.radius);
  ASSERT_TRUE(client.Open().ok());
  RadiusAuthenticator auth(client, f.cfg);
  auto res = f.Auth(auth, Pap("a", "b"));
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, ppp::AuthStatus::kError);
  EXPECT_EQ(client.counters().bad_replies, 2u);
  EXPECT_EQ(client.counters().replies, 0u);
}

TEST(RadiusClient, ManyConcurrentRequestsEachGetTheirOwnAnswer) {
  Fixture f;
  f.servers[0]->handler = [](const Packet& req) {
    Packet r;
    r.code = kAccessAccept;
    r.Add(kClass, req.Find(kUserName)->value);  // echo the user back
    return r;
  };
  f.cfg.radius.timeout_ms = 3000;  // a slow (sanitizer) build must not retransmit
  Client client(f.loop, f.cfg.radius);
  ASSERT_TRUE(client.Open().ok());
  RadiusAuthenticator auth(client, f.cfg);
  constexpr int kN = 400;  // more than 256 Identifiers
  int done = 0, mismatched = 0;
  for (int i = 0; i < kN; ++i) {
    ppp::AuthRequest r = Pap("user" + std::to_string(i), "pw");
    r.peer = "peer" + std::to_string(i);
    auth.Authenticate(r, [&](ppp::AuthResult res) {
      ++done;
      if (res.status != ppp::AuthStatus::kSuccess) ++mismatched;
    });
  }
  ASSERT_TRUE(RunUntil(f.loop, [&] { return done == kN; }, absl::Seconds(20)));
  EXPECT_EQ(mismatched, 0);
  for (int i = 0; i < kN; ++i) {
    auto g = auth.TakeGrant("peer" + std::to_string(i));
    ASSERT_TRUE(g.has_value()) << i;
    ASSERT_EQ(g->classes.size(), 1u);
    EXPECT_EQ(AsString(g->classes[0]), "user" + std::to_string(i));
  }
}

TEST(RadiusClient, DestroyingAuthenticatorWithRequestsInFlightIsSafe) {
  Fixture f;
  f.servers[0]->silent = true;
  Client client(f.loop, f.cfg.radius);
  ASSERT_TRUE(client.Open().ok());
  bool called = false;
  {
    RadiusAuthenticator auth(client, f.cfg);
    auth.Authenticate(Pap("a", "b"), [&](ppp::AuthResult) { called = true; });
    EXPECT_EQ(client.in_flight(), 1u);
  }
  EXPECT_EQ(client.in_flight(), 0u);
  testing::RunFor(f.loop, absl::Milliseconds(200));
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace client_test
}  // namespace vpn::radius

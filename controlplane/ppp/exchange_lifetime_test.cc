// ClientSession <-> ServerSession over time: echo and silence teardown, idle
// and session timeouts, loop detection, asynchronous and late authentication
// results, seed 004 parameters and when the IPCP address is committed.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "exchange_fixtures.h"
#include "exchange_harness.h"
#include "ppp_defs.h"

namespace vpn::ppp::testing {
namespace {

using config::AuthMethod;

TEST(Exchange, PeerSilenceTearsDownByEcho) {
  config::Config cfg = BaseConfig();
  cfg.ppp.lcp_echo_interval_s = 20;
  cfg.ppp.lcp_echo_failures = 5;
  World w(cfg);
  Pair p(w, Client("alice", "alice-pw"));
  p.Start();
  ASSERT_TRUE(p.RunUntilUp());
  const absl::Time up_at = w.timers.Now();
  p.RunFor(absl::Seconds(70));  // echoes answered: still up
  EXPECT_FALSE(p.server_down);
  EXPECT_GE(p.CountSent(0, kProtoLcp, kEchoRequest), 3);
  EXPECT_GE(p.CountSent(1, kProtoLcp, kEchoReply), 3);
  p.silence[1] = true;
  const absl::Time silent_at = w.timers.Now();
  ASSERT_TRUE(p.RunUntil([&] { return p.server_down.has_value(); },
                         absl::Seconds(300)));
  const absl::Duration took = w.timers.Now() - silent_at;
  EXPECT_GE(took, absl::Seconds(100));
  EXPECT_LE(took, absl::Seconds(121));
  EXPECT_NE(p.server_down->find("not responding"), std::string::npos);
  EXPECT_TRUE(p.link(0).closed);
  EXPECT_EQ(w.pools->counters().echo_timeouts, 1u);
  EXPECT_EQ(w.pools->leased(), 0u);
  (void)up_at;
}

TEST(Exchange, SilentClientFromTheStart) {
  World w(BaseConfig());  // restart 3 s, Max-Configure 10
  Pair p(w, Client("alice", "alice-pw"));
  p.silence[1] = true;
  p.server->Start();
  const absl::Time t0 = w.timers.Now();
  ASSERT_TRUE(p.RunUntil([&] { return p.server_down.has_value(); },
                         absl::Seconds(60)));
  EXPECT_EQ(*p.server_down, "LCP negotiation failed");
  EXPECT_EQ(w.timers.Now() - t0, absl::Seconds(30));
  EXPECT_EQ(p.CountSent(0, kProtoLcp, kConfigureRequest), 10);
  EXPECT_TRUE(p.link(0).closed);
  EXPECT_EQ(w.pools->leased(), 0u);
}

TEST(Exchange, SilentDuringAuthentication) {
  for (AuthMethod m : {AuthMethod::kPap, AuthMethod::kMschapV2, AuthMethod::kEapMd5}) {
    config::Config cfg = BaseConfig();
    cfg.groups[0].auth = {m};
    World w(cfg);
    ClientSettings cs = Client("alice", "alice-pw", {m});
    Pair p(w, cs);
    p.Start();
    // Let LCP open, then the client goes quiet.
    ASSERT_TRUE(p.RunUntil([&] { return p.server->phase() == PppPhase::kAuthenticate; },
                           absl::Seconds(5)));
    p.silence[1] = true;
    ASSERT_TRUE(p.RunUntil([&] { return p.server_down.has_value(); },
                           absl::Seconds(120)))
        << AuthMethodName(m);
    EXPECT_NE(p.server_down->find("authentication failed"), std::string::npos)
        << *p.server_down;
    EXPECT_EQ(w.pools->counters().auth_timeout, 1u) << AuthMethodName(m);
    EXPECT_EQ(w.pools->leased(), 0u);
  }
}

TEST(Exchange, Ipv6cpAndCcpAreProtocolRejected) {
  World w(BaseConfig());
  ClientSettings cs = Client("alice", "alice-pw");
  cs.send_ipv6cp = true;
  cs.send_ccp = true;
  cs.request_pfc = cs.request_acfc = true;
  Pair p(w, cs);
  p.Start();
  ASSERT_TRUE(p.RunUntilUp());
  p.RunFor(absl::Seconds(1));
  EXPECT_TRUE(p.client->ipv6cp_rejected());
  EXPECT_TRUE(p.client->ccp_rejected());
  EXPECT_TRUE(p.server_up->peer_pfc);
  EXPECT_TRUE(p.server_up->peer_acfc);
  EXPECT_EQ(w.pools->counters().protocol_rejects_sent, 2u);
}

// The options of the LCP Configure-Reject (or Nak) frames `side` sent.
std::vector<Bytes> OptionsOf(const Pair& p, int side, uint16_t protocol,
                             uint8_t code) {
  std::vector<Bytes> out;
  for (const Bytes& f : p.sent(side)) {
    if (f.size() < 6 || ReadU16(f, 0) != protocol || f[2] != code) continue;
    auto pkt = ParseControlPacket(ByteSpan(f).subspan(2));
    if (!pkt) continue;
    auto opts = ParseOptions(pkt->data);
    if (!opts) continue;
    for (const Option& o : *opts) out.emplace_back(o.raw.begin(), o.raw.end());
  }
  return out;
}

bool Has(const std::vector<Bytes>& v, const Bytes& b) {
  return std::find(v.begin(), v.end(), b) != v.end();
}

TEST(Exchange, WindowsLikeClientGetsItsExtrasRefusedAndStillComesUp) {
  // What Windows 10/11 (and with multilink, older RAS) put in front of us:
  // LCP callback (CBCP), MRRU, endpoint discriminator, PFC/ACFC; BACP when
  // LCP opens; CCP with MPPE and IPV6CP next to IPCP after authentication;
  // VJ compression in IPCP. Cisco and accel-ppp refuse the same way: the
  // LCP options by Configure-Reject, the protocols by Protocol-Reject, VJ by
  // IPCP Configure-Reject; Windows then runs without them (its encryption
  // is IPsec).
  World w(BaseConfig());
  ClientSettings cs = Client("alice", "alice-pw");
  const Bytes callback = {kLcpCallback, 3, 6};
  const Bytes mrru = {kLcpMrru, 4, 0x06, 0x4e};
  const Bytes ed = {kLcpEndpointDisc, 9, 3, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  cs.extra_lcp_options = {callback, mrru, ed};
  cs.request_pfc = cs.request_acfc = true;
  constexpr uint16_t kProtoBacp = 0xC071;  // RFC 2125
  cs.extra_packets.push_back({kProtoBacp, {1, 1, 0, 10, 1, 6, 0, 0, 0, 1}, false});
  // CCP Configure-Request, MPPE (RFC 3078 2.1) stateless 128/56-bit.
  cs.extra_packets.push_back({kProtoCcp, {1, 4, 0, 10, 18, 6, 0x01, 0, 0, 0x60}, true});
  cs.extra_packets.push_back(
      {kProtoIpv6cp, {1, 5, 0, 14, 1, 10, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55}, true});
  cs.ipcp.request_vj = true;
  Pair p(w, cs);
  p.Start();
  ASSERT_TRUE(p.RunUntilUp()) << p.server_down.value_or("-");
  p.RunFor(absl::Seconds(30));
  EXPECT_FALSE(p.server_down);
  EXPECT_FALSE(p.client_down);
  const auto lcp_rej = OptionsOf(p, 0, kProtoLcp, kConfigureReject);
  EXPECT_TRUE(Has(lcp_rej, callback));
  EXPECT_TRUE(Has(lcp_rej, mrru));
  EXPECT_TRUE(Has(lcp_rej, ed));
  EXPECT_TRUE(p.server_up->peer_pfc);
  EXPECT_TRUE(p.server_up->peer_acfc);
  EXPECT_TRUE(p.client->protocol_rejected(kProtoBacp));
  EXPECT_TRUE(p.client->protocol_rejected(kProtoCcp));
  EXPECT_TRUE(p.client->protocol_rejected(kProtoIpv6cp));
  EXPECT_EQ(w.pools->counters().protocol_rejects_sent, 3u);
  const auto ipcp_rej = OptionsOf(p, 0, kProtoIpcp, kConfigureReject);
  EXPECT_TRUE(Has(ipcp_rej, Bytes{kIpcpCompression, 6, 0x00, 0x2d, 15, 1}));
  EXPECT_EQ(p.client_up->ip, p.server_up->ip);
  // The Protocol-Reject carries the rejected packet (RFC 1661 5.7).
  bool ccp_echoed = false;
  for (const Bytes& f : p.sent(0))
    ccp_echoed |= f.size() >= 8 && ReadU16(f, 0) == kProtoLcp &&
                  f[2] == kProtocolReject && ReadU16(f, 6) == kProtoCcp &&
                  Bytes(f.begin() + 8, f.end()) ==
                      Bytes{1, 4, 0, 10, 18, 6, 0x01, 0, 0, 0x60};
  EXPECT_TRUE(ccp_echoed);
}

TEST(Exchange, LoopedBackLinkIsDetectedByMagicNumber) {
  // A link that hands the server its own frames (RFC 1661 6.4).
  struct Loop : cp::PppLink {
    void SendPppFrame(std::span<const uint8_t> f) override {
      q.emplace_back(f.begin(), f.end());
    }
    void ClosePppLink(std::string_view r) override {
      closed = true;
      reason = std::string(r);
    }
    std::deque<Bytes> q;
    bool closed = false;
    std::string reason;
  };
  World w(BaseConfig());
  Loop link;
  std::optional<std::string> down;
  ServerCallbacks cb;
  cb.on_down = [&](std::string_view r) { down = std::string(r); };
  ServerSession s(link, w.timers, w.config, *w.pools, *w.auth, "loop", cb);
  s.Start();
  for (int i = 0; i < 3000 && !link.closed; ++i) {
    std::deque<Bytes> q = std::move(link.q);
    link.q.clear();
    for (const Bytes& f : q)
      if (!link.closed) s.OnPppFrame(f);
    w.timers.Advance(absl::Milliseconds(10));
  }
  ASSERT_TRUE(down);
  EXPECT_NE(down->find("looped-back link"), std::string::npos) << *down;
  EXPECT_TRUE(link.closed);
  EXPECT_EQ(w.pools->leased(), 0u);
}

TEST(Exchange, IdleTimeoutFollowsTrafficCounter) {
  config::Config cfg = BaseConfig();
  cfg.groups[0].idle_timeout_s = 60;
  World w(cfg);
  Pair p(w, Client("alice", "alice-pw"));
  p.Start();
  ASSERT_TRUE(p.RunUntilUp());
  for (int i = 0; i < 12; ++i) {  // 2 minutes of traffic every 10 s
    p.traffic += 100;
    p.RunFor(absl::Seconds(10));
  }
  EXPECT_FALSE(p.server_down);
  const absl::Time quiet_from = w.timers.Now();
  ASSERT_TRUE(p.RunUntilBothDown(absl::Seconds(200)));
  EXPECT_EQ(*p.server_down, "idle timeout");
  const absl::Duration quiet = w.timers.Now() - quiet_from;
  EXPECT_GE(quiet, absl::Seconds(50));
  EXPECT_LE(quiet, absl::Seconds(90));
  EXPECT_EQ(w.pools->leased(), 0u);
  EXPECT_EQ(w.pools->counters().idle_timeouts, 1u);
}

TEST(Exchange, SessionTimeout) {
  config::Config cfg = BaseConfig();
  cfg.groups[0].session_timeout_s = 300;
  World w(cfg);
  Pair p(w, Client("alice", "alice-pw"));
  p.Start();
  ASSERT_TRUE(p.RunUntilUp());
  p.RunFor(absl::Seconds(290));
  EXPECT_FALSE(p.server_down);
  ASSERT_TRUE(p.RunUntilBothDown(absl::Seconds(30)));
  EXPECT_EQ(*p.server_down, "session timeout");
  EXPECT_EQ(w.pools->leased(), 0u);
}

// An authenticator that answers only when told (RADIUS-like).
struct DeferredAuth : Authenticator {
  explicit DeferredAuth(Authenticator& in) : inner(in) {}
  void Authenticate(const AuthRequest& r, Done done) override {
    pending.push_back({r, std::move(done)});
  }
  void CompleteAll() {
    auto p = std::move(pending);
    pending.clear();
    for (auto& [r, d] : p) inner.Authenticate(r, d);
  }
  Authenticator& inner;
  std::vector<std::pair<AuthRequest, Done>> pending;
};

TEST(Exchange, AsynchronousAuthenticator) {
  World w(BaseConfig());
  DeferredAuth deferred(w.local_auth);
  w.auth = &deferred;
  Pair p(w, Client("alice", "alice-pw"));
  p.Start();
  ASSERT_TRUE(p.RunUntil([&] { return !deferred.pending.empty(); }, absl::Seconds(10)));
  p.RunFor(absl::Seconds(2));  // client repeats its Response meanwhile
  EXPECT_EQ(deferred.pending.size(), 1u);
  deferred.CompleteAll();
  ASSERT_TRUE(p.RunUntilUp());
}

TEST(Exchange, LinkDownDuringAuthenticationAndLateResult) {
  World w(BaseConfig());
  DeferredAuth deferred(w.local_auth);
  w.auth = &deferred;
  Pair p(w, Client("alice", "alice-pw"));
  p.Start();
  ASSERT_TRUE(p.RunUntil([&] { return !deferred.pending.empty(); }, absl::Seconds(10)));
  p.server->OnLinkDown("tunnel lost");
  ASSERT_TRUE(p.server_down);
  EXPECT_FALSE(p.link(0).closed);  // no ClosePppLink after the link went down
  deferred.CompleteAll();          // result for a finished session: ignored
  EXPECT_EQ(w.pools->leased(), 0u);
  p.server.reset();
  Pair q(w, Client("alice", "alice-pw"));
  q.Start();
  ASSERT_TRUE(q.RunUntil([&] { return !deferred.pending.empty(); }, absl::Seconds(10)));
  q.server.reset();          // destroyed outright with a verification pending
  deferred.CompleteAll();    // must not touch the destroyed session
  EXPECT_EQ(w.pools->leased(), 0u);
}

TEST(Exchange, Seed004Parameters) {
  // Seed 004: pool 192.168.0.1-31, MTU 1400, MS-CHAPv2 (addresses only
  // exist inside this process).
  config::Config c;
  c.ppp.mtu = 1400;
  c.ppp.local_ip = Ip(192, 168, 0, 1);
  c.pools.push_back({"vpn", Ip(192, 168, 0, 1), Ip(192, 168, 0, 31), 1});
  config::Group g;
  g.pool = "vpn";
  c.groups.push_back(g);
  config::User u;
  u.name = "vpnuser";
  u.password = "Passw0rd!";
  c.users.push_back(u);
  World w(c);
  std::vector<std::unique_ptr<Pair>> pairs;
  std::set<uint32_t> seen;
  for (int i = 0; i < 30; ++i) {
    ClientSettings cs = Client("vpnuser", "Passw0rd!");
    pairs.push_back(std::make_unique<Pair>(w, cs));
    pairs.back()->Start();
    ASSERT_TRUE(pairs.back()->RunUntil(
        [&] { return pairs.back()->server_up || pairs.back()->server_down; },
        absl::Seconds(60)));
    if (i < 30 && pairs.back()->server_up) seen.insert(pairs.back()->server_up->ip);
  }
  EXPECT_EQ(seen.size(), 30u);  // .2 .. .31: .1 is ours
  EXPECT_FALSE(seen.count(Ip(192, 168, 0, 1)));
  EXPECT_EQ(w.pools->counters().pool_exhausted, 0u);
  Pair more(w, Client("vpnuser", "Passw0rd!"));
  more.Start();
  ASSERT_TRUE(more.RunUntilBothDown());
  EXPECT_EQ(w.pools->counters().pool_exhausted, 1u);
  pairs.clear();
  EXPECT_EQ(w.pools->leased(), 0u);
}

// The daemon defers ServerSession::Start() until the L2TP session has its
// endpoint; a client's Configure-Request that arrives first must be answered
// at once, not ignored in Initial until the client retransmits 3 s later.
TEST(Exchange, FirstConfigureRequestBeforeStartIsAnswered) {
  World w(BaseConfig());
  Pair p(w, Client("alice", "alice-pw"));
  p.client->Start();  // the server is never started explicitly
  p.Step();           // delivers the client's first Configure-Request
  p.Step();           // delivers the server's answer
  EXPECT_GE(p.CountSent(0, kProtoLcp, kConfigureAck), 1);
  EXPECT_EQ(p.CountSent(1, kProtoLcp, kConfigureRequest), 1)
      << "the client had to retransmit";
  ASSERT_TRUE(p.RunUntilUp(absl::Seconds(2)));
}

// The client acks our IPCP Configure-Request last (its first Ack is lost):
// it is Opened, and sends IPv4, while our IPCP still waits in Ack-Sent. The
// address was committed when we acked the client's request carrying it, so
// the daemon installs the dataplane session then (ServerCallbacks::
// on_address_committed), before the client can use it.
TEST(Exchange, AddressCommittedWhenAckedBeforeOurIpcpOpens) {
  World w(BaseConfig());
  Pair p(w, Client("alice", "alice-pw"));
  int lost = 0;
  p.drop = [&](int from, const Bytes& f) {
    const bool client_ipcp_ack = from == 1 && f.size() >= 3 && ReadU16(f, 0) == kProtoIpcp &&
                                 f[2] == kConfigureAck;
    if (!client_ipcp_ack || lost > 0) return false;
    ++lost;
    return true;
  };
  p.Start();
  ASSERT_TRUE(p.RunUntil([&] { return p.client_up.has_value(); }, absl::Seconds(30)));
  EXPECT_FALSE(p.server_up) << "our IPCP cannot be Opened: the client's Ack was lost";
  ASSERT_TRUE(p.server_committed);
  EXPECT_EQ(p.server_committed->ip, p.client_up->ip);
  EXPECT_EQ(p.server_committed->user, "alice");
  EXPECT_EQ(p.server_committed->peer_mru, 1400);
  ASSERT_TRUE(p.RunUntilUp(absl::Seconds(10)));  // our retransmission is acked
  EXPECT_EQ(lost, 1);
  EXPECT_EQ(p.commits, 1);
  EXPECT_TRUE(p.committed_before_up);
  EXPECT_EQ(p.server_up->ip, p.server_committed->ip);
}

// Without loss the commit still comes first, exactly once.
TEST(Exchange, AddressCommittedOnceAndBeforeNetworkUp) {
  World w(BaseConfig());
  Pair p(w, Client("alice", "alice-pw"), {.loss = 0.2, .reorder = 0.2, .seed = 7});
  p.Start();
  ASSERT_TRUE(p.RunUntilUp());
  EXPECT_EQ(p.commits, 1);
  EXPECT_TRUE(p.committed_before_up);
  EXPECT_EQ(p.server_committed->ip, p.server_up->ip);
}

// IPCP fails after the address was acked (the client never acks our
// request): the session ends (on_down, which removes the dataplane session)
// without ever being reported up, and the address goes back to the pool.
TEST(Exchange, IpcpFailureAfterCommitEndsTheSession) {
  World w(BaseConfig());
  Pair p(w, Client("alice", "alice-pw"));
  p.drop = [](int from, const Bytes& f) {
    return from == 1 && f.size() >= 3 && ReadU16(f, 0) == kProtoIpcp && f[2] == kConfigureAck;
  };
  p.Start();
  ASSERT_TRUE(p.RunUntil([&] { return p.server_down.has_value(); }, absl::Seconds(120)));
  EXPECT_EQ(p.commits, 1);
  EXPECT_FALSE(p.server_up);
  EXPECT_NE(p.server_down->find("IPCP"), std::string::npos) << *p.server_down;
  p.RunFor(absl::Seconds(5));
  EXPECT_EQ(w.pools->leased(), 0u);
}

}  // namespace
}  // namespace vpn::ppp::testing

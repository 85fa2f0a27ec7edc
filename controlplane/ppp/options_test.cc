// Option encode/decode for LCP and IPCP, judged on their own (no session).
#include <gtest/gtest.h>

#include "auth_method.h"
#include "ipcp.h"
#include "lcp.h"
#include "ppp_defs.h"

namespace vpn::ppp {
namespace {

using config::AuthMethod;

struct Events : LcpEvents, IpcpEvents {
  void LcpUp() override {}
  void LcpDown() override {}
  void LcpFinished() override {}
  void LcpFatal(std::string r) override { fatal.push_back(r); }
  void LcpProtocolRejected(uint16_t p) override { rejected.push_back(p); }
  void LcpEchoTimeout() override {}
  void IpcpUp() override {}
  void IpcpDown() override {}
  void IpcpFinished() override {}
  std::vector<std::string> fatal;
  std::vector<uint16_t> rejected;
};

Bytes H(std::initializer_list<int> v) {
  Bytes b;
  for (int x : v) b.push_back(uint8_t(x));
  return b;
}

struct LcpFixture {
  explicit LcpFixture(bool server, std::vector<AuthMethod> auth = {AuthMethod::kMschapV2}) {
    LcpSettings s;
    s.server = server;
    s.mru = 1400;
    (server ? s.request_auth : s.accept_auth) = std::move(auth);
    lcp = std::make_unique<Lcp>(s, FsmConfig{}, timers,
                                [this](const Bytes& f) { sent.push_back(f); }, ev);
  }
  cp::ManualTimerQueue timers;
  Events ev;
  std::vector<Bytes> sent;
  std::unique_ptr<Lcp> lcp;
};

TEST(AuthOption, EncodeDecodeAllMethods) {
  EXPECT_EQ(AuthOptionValue(AuthMethod::kPap), H({0xc0, 0x23}));
  EXPECT_EQ(AuthOptionValue(AuthMethod::kChap), H({0xc2, 0x23, 0x05}));
  EXPECT_EQ(AuthOptionValue(AuthMethod::kMschapV1), H({0xc2, 0x23, 0x80}));
  EXPECT_EQ(AuthOptionValue(AuthMethod::kMschapV2), H({0xc2, 0x23, 0x81}));
  EXPECT_EQ(AuthOptionValue(AuthMethod::kEapMd5), H({0xc2, 0x27}));
  for (AuthMethod m : {AuthMethod::kPap, AuthMethod::kChap, AuthMethod::kMschapV1,
                       AuthMethod::kMschapV2, AuthMethod::kEapMd5})
    EXPECT_EQ(ParseAuthOption(AuthOptionValue(m)), m);
  EXPECT_FALSE(ParseAuthOption(H({0xc2, 0x23, 0x06})));  // unknown algorithm
  EXPECT_FALSE(ParseAuthOption(H({0xc2, 0x23})));        // CHAP w/o algorithm
  EXPECT_FALSE(ParseAuthOption(H({0xc0, 0x23, 0x00})));  // PAP with junk
  EXPECT_FALSE(ParseAuthOption(H({0xc0})));
}

TEST(LcpOptions, ServerRequestEncoding) {
  LcpFixture f(true);
  const Bytes o = f.lcp->BuildRequestOptions();
  ASSERT_EQ(o.size(), 4u + 5u + 6u);
  EXPECT_EQ(Bytes(o.begin(), o.begin() + 9),
            H({1, 4, 0x05, 0x78, 3, 5, 0xc2, 0x23, 0x81}));
  EXPECT_EQ(o[9], 5);
  EXPECT_EQ(o[10], 6);
  EXPECT_NE(ReadU32(o, 11), 0u);
}

TEST(LcpOptions, WindowsStyleRequestIsAckedAndRemembered) {
  LcpFixture f(true);
  const Bytes req = H({1, 4, 0x05, 0x78,               // MRU 1400
                       2, 6, 0, 0, 0, 0,               // ACCM 0
                       5, 6, 0x12, 0x34, 0x56, 0x78,   // magic
                       7, 2, 8, 2});                    // PFC, ACFC
  Bytes reply;
  EXPECT_EQ(f.lcp->JudgeRequest(req, false, &reply), RcrVerdict::kAck);
  EXPECT_EQ(reply, req);
  EXPECT_EQ(f.lcp->result().peer_mru, 1400);
  EXPECT_EQ(f.lcp->result().peer_magic, 0x12345678u);
  EXPECT_TRUE(f.lcp->result().peer_pfc);
  EXPECT_TRUE(f.lcp->result().peer_acfc);
}

TEST(LcpOptions, UnsupportedOptionsAreRejectedTogether) {
  LcpFixture f(true);
  const Bytes req = H({1, 4, 0x05, 0xdc,
                       13, 3, 6,                        // callback (CBCP)
                       17, 4, 0x05, 0xdc,               // MRRU
                       19, 3, 0,                        // endpoint disc
                       3, 4, 0xc0, 0x23,                // auth: we do not
                       4, 8, 0xc0, 0x25, 0, 0, 0, 10}); // LQR
  Bytes reply;
  EXPECT_EQ(f.lcp->JudgeRequest(req, false, &reply), RcrVerdict::kReject);
  EXPECT_EQ(reply, H({13, 3, 6, 17, 4, 0x05, 0xdc, 19, 3, 0, 3, 4, 0xc0, 0x23,
                      4, 8, 0xc0, 0x25, 0, 0, 0, 10}));
}

TEST(LcpOptions, SmallMruAndZeroMagicAreNaked) {
  LcpFixture f(true);
  Bytes reply;
  EXPECT_EQ(f.lcp->JudgeRequest(H({1, 4, 0, 64, 5, 6, 0, 0, 0, 0}), false, &reply),
            RcrVerdict::kNak);
  ASSERT_EQ(reply.size(), 10u);
  EXPECT_EQ(Bytes(reply.begin(), reply.begin() + 4), H({1, 4, 0, 128}));
  EXPECT_EQ(reply[4], 5);
  EXPECT_NE(ReadU32(reply, 6), 0u);
  // Past Max-Failure the same options are rejected instead.
  EXPECT_EQ(f.lcp->JudgeRequest(H({1, 4, 0, 64}), true, &reply), RcrVerdict::kReject);
  EXPECT_EQ(reply, H({1, 4, 0, 64}));
}

TEST(LcpOptions, OwnMagicMeansLoop) {
  LcpFixture f(true);
  FsmConfig defaults;
  for (uint32_t i = 0; i < defaults.max_failure; ++i) {
    const Bytes ours = f.lcp->BuildRequestOptions();
    const uint32_t magic = ReadU32(ours, 11);
    Bytes req = H({5, 6});
    PutU32(req, magic);
    Bytes reply;
    ASSERT_EQ(f.lcp->JudgeRequest(req, false, &reply), RcrVerdict::kNak);
    EXPECT_NE(ReadU32(reply, 2), magic);
    EXPECT_NE(ReadU32(f.lcp->BuildRequestOptions(), 11), magic);  // we changed too
  }
  ASSERT_EQ(f.ev.fatal.size(), 1u);
  EXPECT_NE(f.ev.fatal[0].find("looped"), std::string::npos);
}

TEST(LcpOptions, AuthNakWalksTheList) {
  LcpFixture f(true, {AuthMethod::kMschapV2, AuthMethod::kChap, AuthMethod::kPap});
  // Peer suggests PAP: jump straight to it.
  EXPECT_TRUE(f.lcp->OnNak(H({3, 4, 0xc0, 0x23})));
  Bytes o = f.lcp->BuildRequestOptions();
  EXPECT_EQ(Bytes(o.begin() + 4, o.begin() + 8), H({3, 4, 0xc0, 0x23}));
  // Peer suggests something unknown: next untried one (CHAP-MD5).
  EXPECT_TRUE(f.lcp->OnNak(H({3, 4, 0xc2, 0x27})));
  o = f.lcp->BuildRequestOptions();
  EXPECT_EQ(Bytes(o.begin() + 4, o.begin() + 9), H({3, 5, 0xc2, 0x23, 5}));
  EXPECT_TRUE(f.ev.fatal.empty());
  EXPECT_TRUE(f.lcp->OnNak(H({3, 4, 0xc2, 0x27})));
  EXPECT_EQ(f.ev.fatal.size(), 1u);  // all three tried
}

TEST(LcpOptions, RejectMustNameOurOptions) {
  LcpFixture f(true);
  EXPECT_FALSE(f.lcp->OnReject(H({7, 2})));  // we never asked for PFC
  EXPECT_TRUE(f.lcp->OnReject(H({1, 4, 0x05, 0x78})));
  EXPECT_EQ(f.lcp->BuildRequestOptions()[0], 3);  // MRU gone, auth first
  EXPECT_TRUE(f.lcp->OnReject(H({3, 5, 0xc2, 0x23, 0x81})));
  EXPECT_EQ(f.ev.fatal.size(), 1u);  // never without authentication
}

TEST(LcpOptions, ClientJudgesAuthRequest) {
  LcpFixture f(false, {AuthMethod::kPap, AuthMethod::kChap});
  Bytes reply;
  EXPECT_EQ(f.lcp->JudgeRequest(H({3, 5, 0xc2, 0x23, 0x81}), false, &reply),
            RcrVerdict::kNak);
  EXPECT_EQ(reply, H({3, 4, 0xc0, 0x23}));
  EXPECT_EQ(f.lcp->JudgeRequest(H({3, 5, 0xc2, 0x23, 0x05}), false, &reply),
            RcrVerdict::kAck);
  EXPECT_EQ(f.lcp->result().auth, AuthMethod::kChap);
}

TEST(LcpOptions, MalformedListIsDiscarded) {
  LcpFixture f(true);
  Bytes reply;
  EXPECT_EQ(f.lcp->JudgeRequest(H({1, 4, 0x05}), false, &reply), RcrVerdict::kDiscard);
  EXPECT_EQ(f.lcp->JudgeRequest(H({1, 1, 0x05, 0x78}), false, &reply), RcrVerdict::kDiscard);
  EXPECT_EQ(f.lcp->JudgeRequest(H({5, 4, 0, 0}), false, &reply), RcrVerdict::kReject);
}

struct IpcpFixture {
  explicit IpcpFixture(bool dns) {
    IpcpServerSettings s;
    s.local_ip = 0x64400001;
    s.peer_ip = 0x6440000a;
    if (dns) s.dns = {0x0a000035, 0x0a000036};
    server = std::make_unique<IpcpServer>(s, FsmConfig{}, timers,
                                          [](const Bytes&) {}, ev);
  }
  cp::ManualTimerQueue timers;
  Events ev;
  std::unique_ptr<IpcpServer> server;
};

TEST(IpcpOptions, ServerNaksAddressAndDns) {
  IpcpFixture f(true);
  EXPECT_EQ(f.server->BuildRequestOptions(), H({3, 6, 0x64, 0x40, 0, 1}));
  Bytes reply;
  EXPECT_EQ(f.server->JudgeRequest(H({3, 6, 0, 0, 0, 0, 129, 6, 0, 0, 0, 0,
                                      131, 6, 0, 0, 0, 0}),
                                   false, &reply),
            RcrVerdict::kNak);
  EXPECT_EQ(reply, H({3, 6, 0x64, 0x40, 0, 10, 129, 6, 10, 0, 0, 0x35,
                      131, 6, 10, 0, 0, 0x36}));
  const Bytes good = H({3, 6, 0x64, 0x40, 0, 10, 129, 6, 10, 0, 0, 0x35});
  EXPECT_EQ(f.server->JudgeRequest(good, false, &reply), RcrVerdict::kAck);
  EXPECT_EQ(reply, good);
}

TEST(IpcpOptions, ServerRejectsWhatItDoesNotDo) {
  IpcpFixture f(false);
  Bytes reply;
  EXPECT_EQ(f.server->JudgeRequest(H({2, 6, 0, 0x2d, 15, 1,       // VJ
                                      3, 6, 0x64, 0x40, 0, 10,
                                      1, 10, 0, 0, 0, 0, 0, 0, 0, 0,  // IP-Addresses
                                      129, 6, 0, 0, 0, 0,         // no DNS here
                                      132, 6, 0, 0, 0, 0}),
                                   false, &reply),
            RcrVerdict::kReject);
  EXPECT_EQ(reply, H({2, 6, 0, 0x2d, 15, 1, 1, 10, 0, 0, 0, 0, 0, 0, 0, 0,
                      129, 6, 0, 0, 0, 0, 132, 6, 0, 0, 0, 0}));
}

TEST(IpcpOptions, ServerSuggestsAddressWhenMissing) {
  IpcpFixture f(true);
  Bytes reply;
  EXPECT_EQ(f.server->JudgeRequest({}, false, &reply), RcrVerdict::kNak);
  EXPECT_EQ(reply, H({3, 6, 0x64, 0x40, 0, 10}));
  EXPECT_EQ(f.server->JudgeRequest({}, true, &reply), RcrVerdict::kAck);
  EXPECT_FALSE(f.server->OnReject(H({129, 6, 0, 0, 0, 0})));
  EXPECT_TRUE(f.server->OnReject(H({3, 6, 0x64, 0x40, 0, 1})));
  EXPECT_TRUE(f.server->BuildRequestOptions().empty());
}

TEST(IpcpOptions, ClientAdoptsNakAndDropsRejected) {
  cp::ManualTimerQueue timers;
  Events ev;
  IpcpClientSettings s;
  s.request_wins = true;
  IpcpClient c(s, FsmConfig{}, timers, [](const Bytes&) {}, ev);
  EXPECT_EQ(c.BuildRequestOptions(),
            H({3, 6, 0, 0, 0, 0, 129, 6, 0, 0, 0, 0, 131, 6, 0, 0, 0, 0,
               130, 6, 0, 0, 0, 0, 132, 6, 0, 0, 0, 0}));
  EXPECT_TRUE(c.OnNak(H({3, 6, 100, 64, 0, 10, 129, 6, 10, 0, 0, 53})));
  EXPECT_TRUE(c.OnReject(H({130, 6, 0, 0, 0, 0, 132, 6, 0, 0, 0, 0})));
  EXPECT_FALSE(c.OnReject(H({77, 2})));
  EXPECT_EQ(c.BuildRequestOptions(),
            H({3, 6, 100, 64, 0, 10, 129, 6, 10, 0, 0, 53, 131, 6, 0, 0, 0, 0}));
  Bytes reply;
  EXPECT_EQ(c.JudgeRequest(H({3, 6, 100, 64, 0, 1}), false, &reply), RcrVerdict::kAck);
  EXPECT_EQ(c.result().peer_ip, 0x64400001u);
}

TEST(Packet, ControlPacketAndOptionsParsing) {
  const Bytes p = H({1, 7, 0, 8, 1, 4, 5, 0x78, 0xee, 0xee});  // 2 bytes padding
  auto cp = ParseControlPacket(p);
  ASSERT_TRUE(cp);
  EXPECT_EQ(cp->code, 1);
  EXPECT_EQ(cp->id, 7);
  EXPECT_EQ(cp->data.size(), 4u);
  EXPECT_EQ(cp->whole.size(), 8u);
  EXPECT_FALSE(ParseControlPacket(H({1, 7, 0, 3})));
  EXPECT_FALSE(ParseControlPacket(H({1, 7, 0, 9, 1, 4, 5, 0x78})));
  EXPECT_FALSE(ParseProtocol(H({0xc0, 0x20})));  // even low octet
  EXPECT_FALSE(ParseProtocol(H({0x01, 0x21})));  // odd high octet
  EXPECT_EQ(ParseProtocol(H({0xc0, 0x21})), 0xc021);
  auto opts = ParseOptions(H({7, 2, 1, 4, 5, 0x78}));
  ASSERT_TRUE(opts);
  ASSERT_EQ(opts->size(), 2u);
  EXPECT_EQ((*opts)[1].value.size(), 2u);
  EXPECT_FALSE(ParseOptions(H({7, 2, 1})));
  EXPECT_FALSE(ParseOptions(H({7, 0})));
  EXPECT_EQ(BuildControlFrame(0xc021, 9, 3, H({1, 2, 3, 4})),
            H({0xc0, 0x21, 9, 3, 0, 8, 1, 2, 3, 4}));
}

}  // namespace
}  // namespace vpn::ppp

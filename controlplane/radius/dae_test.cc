// RFC 5176 Disconnect listener: every answer path, authenticator checks,
// duplicate detection, Proxy-State echo, and one round trip over UDP.
#include <gtest/gtest.h>

#include "dae_server.h"
#include "radius_crypto.h"
#include "test_util.h"

namespace vpn::radius {
// Named so that the unity build (test_unity in meson.build) keeps this
// file's helpers apart from its neighbours'.
namespace dae_test {
namespace {

constexpr char kSecret[] = "dae-secret";

sockaddr_in From(uint32_t ip, uint16_t port = 40000) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip);
  a.sin_port = htons(port);
  return a;
}

struct Fixture {
  Fixture() {
    radius.servers.push_back(testing::Server(1812, 1813, kSecret));
    radius.nas_identifier = "nas-1";
    radius.nas_ip = 0xc6120001;
    dae = std::make_unique<DaeServer>(loop, radius, [this](const DisconnectRequest& d) {
      seen.push_back(d);
      int n = 0;
      for (auto& [user, ip] : sessions) {
        if (d.user_name && *d.user_name != user) continue;
        if (d.framed_ip && *d.framed_ip != ip) continue;
        ++n;
      }
      return n;
    });
  }
  // Sends `p` as the RADIUS server would; returns the decoded answer.
  std::optional<Packet> Ask(Packet p, const char* secret = kSecret, uint32_t from = 0x7f000001) {
    auto wire = EncodeRequest(p, secret);
    EXPECT_TRUE(wire.ok());
    auto reply = dae->Handle(*wire, From(from));
    if (!reply) return std::nullopt;
    auto req = Decode(*wire);
    std::string why;
    EXPECT_TRUE(VerifyResponse(*reply, req->authenticator, kSecret, true, &why)) << why;
    auto out = Decode(*reply);
    EXPECT_TRUE(out.ok());
    EXPECT_EQ(out->id, p.id);
    return *out;
  }
  Packet Disconnect() {
    Packet p;
    p.code = kDisconnectRequest;
    p.id = 17;
    return p;
  }
  cp::EventLoop loop;
  config::Radius radius;
  std::unique_ptr<DaeServer> dae;
  std::vector<DisconnectRequest> seen;
  std::vector<std::pair<std::string, uint32_t>> sessions = {{"alice", 0x64400007},
                                                            {"bob", 0x64400008}};
};

TEST(Dae, DisconnectMatchingSessionIsAcked) {
  Fixture f;
  Packet p = f.Disconnect();
  p.AddString(kUserName, "alice");
  p.AddString(kProxyState, "ps-1");
  auto r = f.Ask(p);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, kDisconnectAck);
  EXPECT_EQ(r->String(kProxyState), "ps-1");
  ASSERT_EQ(f.seen.size(), 1u);
  EXPECT_EQ(f.seen[0].user_name, "alice");
  EXPECT_EQ(f.dae->counters().sessions_disconnected, 1u);
}

TEST(Dae, AllIdentificationAttributesMustMatch) {
  Fixture f;
  Packet p = f.Disconnect();
  p.AddString(kUserName, "alice");
  p.AddIpv4(kFramedIpAddress, 0x64400008);  // bob's address
  auto r = f.Ask(p);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, kDisconnectNak);
  EXPECT_EQ(r->U32(kErrorCause), kErrSessionContextNotFound);
}

TEST(Dae, NakCauses) {
  Fixture f;
  Packet none = f.Disconnect();
  EXPECT_EQ(f.Ask(none)->U32(kErrorCause), kErrMissingAttribute);
  Packet other_nas = f.Disconnect();
  other_nas.AddString(kUserName, "alice");
  other_nas.AddString(kNasIdentifier, "someone-else");
  EXPECT_EQ(f.Ask(other_nas)->U32(kErrorCause), kErrNasIdentificationMismatch);
  Packet other_ip = f.Disconnect();
  other_ip.AddString(kUserName, "alice");
  other_ip.AddIpv4(kNasIpAddress, 0x01020304);
  EXPECT_EQ(f.Ask(other_ip)->U32(kErrorCause), kErrNasIdentificationMismatch);
  Packet unsupported = f.Disconnect();
  unsupported.AddString(kUserName, "alice");
  unsupported.AddU32(kFramedMtu, 1400);
  EXPECT_EQ(f.Ask(unsupported)->U32(kErrorCause), kErrUnsupportedAttribute);
  Packet coa;
  coa.code = kCoaRequest;
  coa.AddString(kUserName, "alice");
  auto r = f.Ask(coa);
  EXPECT_EQ(r->code, kCoaNak);
  EXPECT_EQ(r->U32(kErrorCause), kErrUnsupportedExtension);
  EXPECT_TRUE(f.seen.empty()) << "no NAK path may tear anything down";
}

TEST(Dae, BadAuthenticatorUnknownClientAndStaleAreSilentlyDropped) {
  Fixture f;
  Packet p = f.Disconnect();
  p.AddString(kUserName, "alice");
  EXPECT_FALSE(f.Ask(p, "wrong-secret").has_value());
  EXPECT_FALSE(f.Ask(p, kSecret, 0x7f000002).has_value());
  Packet old = p;
  old.AddU32(kEventTimestamp, uint32_t(absl::ToUnixSeconds(absl::Now())) - 3600);
  EXPECT_FALSE(f.Ask(old).has_value());
  Packet fresh = p;
  fresh.AddU32(kEventTimestamp, uint32_t(absl::ToUnixSeconds(absl::Now())));
  EXPECT_EQ(f.Ask(fresh)->code, kDisconnectAck);
  EXPECT_EQ(f.dae->counters().bad_authenticator, 1u);
  EXPECT_EQ(f.dae->counters().unknown_client, 1u);
  EXPECT_EQ(f.dae->counters().stale, 1u);
  EXPECT_EQ(f.seen.size(), 1u);
}

TEST(Dae, RetransmittedRequestGetsTheSameAnswerOnce) {
  Fixture f;
  Packet p = f.Disconnect();
  p.AddString(kUserName, "bob");
  auto wire = EncodeRequest(p, kSecret);
  auto a = f.dae->Handle(*wire, From(0x7f000001));
  auto b = f.dae->Handle(*wire, From(0x7f000001));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(f.seen.size(), 1u);
  EXPECT_EQ(f.dae->counters().duplicates, 1u);
}

TEST(Dae, RoundTripOverUdp) {
  Fixture f;
  ASSERT_TRUE(f.dae->Open(0).ok());
  ASSERT_NE(f.dae->port(), 0);
  testing::FakeServer peer(f.loop, kSecret);  // just a socket on 127.0.0.1
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to = From(0x7f000001, f.dae->port());
  Packet p = f.Disconnect();
  p.AddString(kUserName, "alice");
  Authenticator ra{};
  auto wire = EncodeRequest(p, kSecret, &ra);
  ASSERT_EQ(sendto(fd, wire->data(), wire->size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)),
            ssize_t(wire->size()));
  testing::RunUntil(f.loop, [&] { return f.dae->counters().acks > 0; });
  uint8_t buf[4096];
  const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
  close(fd);
  ASSERT_GT(n, 0);
  EXPECT_TRUE(VerifyResponse(ByteSpan(buf, size_t(n)), ra, kSecret, true, nullptr));
  EXPECT_EQ(buf[0], kDisconnectAck);
}

}  // namespace
}  // namespace dae_test
}  // namespace vpn::radius

// The capture filter and request validation (no EAL needed: the taps
// themselves are exercised by the system test through real ports).
#include "capture.h"

#include <arpa/inet.h>

#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "vpn/log.h"

namespace vpn::dp {
namespace {

std::vector<uint8_t> Ipv4Frame(const char* src, const char* dst) {
  std::vector<uint8_t> f(60, 0);
  f[12] = 0x08;
  f[13] = 0x00;
  f[14] = 0x45;
  inet_pton(AF_INET, src, &f[26]);
  inet_pton(AF_INET, dst, &f[30]);
  return f;
}

Reason Send(const shm::CaptureRequest& req, uint32_t n_ports = 2, uint16_t len = 64) {
  shm::PacketMeta meta{};
  meta.kind = shm::kInjectCaptureControl;
  meta.length = len;
  uint8_t buf[sizeof req];
  std::memcpy(buf, &req, sizeof req);
  return ApplyCaptureRequest(meta, buf, n_ports);
}

shm::CaptureRequest Start(uint32_t id, uint32_t ports, const char* ip) {
  shm::CaptureRequest r{};
  r.id = id;
  r.op = shm::kCaptureStart;
  r.directions = shm::kCaptureRx | shm::kCaptureTx;
  r.snaplen = 128;
  r.port_mask = ports;
  if (ip) inet_pton(AF_INET, ip, &r.ip);
  r.max_pps = 100;
  r.duration_ms = 60000;
  return r;
}

TEST(Capture, SessionFilterMatchesSourceOrDestinationOnChosenPortsOnly) {
  ASSERT_EQ(Send(Start(7, 0b10, "100.64.0.2")), Reason::k_inject_sent);
  EXPECT_EQ(ActiveCaptureId(), 7u);
  auto to = Ipv4Frame("100.64.0.10", "100.64.0.2");
  auto from = Ipv4Frame("100.64.0.2", "100.64.0.10");
  auto other = Ipv4Frame("100.64.0.3", "100.64.0.10");
  EXPECT_TRUE(CaptureMatches(to.data(), to.size(), 1, shm::kCaptureRx));
  EXPECT_TRUE(CaptureMatches(from.data(), from.size(), 1, shm::kCaptureTx));
  EXPECT_FALSE(CaptureMatches(other.data(), other.size(), 1, shm::kCaptureRx));
  EXPECT_FALSE(CaptureMatches(to.data(), to.size(), 0, shm::kCaptureRx));  // WAN not chosen
  auto arp = to;
  arp[13] = 0x06;  // ARP: no IPv4 addresses to match
  EXPECT_FALSE(CaptureMatches(arp.data(), arp.size(), 1, shm::kCaptureRx));
  EXPECT_FALSE(CaptureMatches(to.data(), 33, 1, shm::kCaptureRx));  // truncated
}

TEST(Capture, PortCaptureTakesEverythingInTheChosenDirection) {
  auto r = Start(8, 0b01, nullptr);
  r.directions = shm::kCaptureRx;
  ASSERT_EQ(Send(r), Reason::k_inject_sent);
  uint8_t tiny[1] = {0};
  EXPECT_TRUE(CaptureMatches(tiny, 1, 0, shm::kCaptureRx));
  EXPECT_FALSE(CaptureMatches(tiny, 1, 0, shm::kCaptureTx));
  EXPECT_FALSE(CaptureMatches(tiny, 1, 1, shm::kCaptureRx));
}

TEST(Capture, StopEndsOnlyTheNamedCapture) {
  ASSERT_EQ(Send(Start(9, 1, nullptr)), Reason::k_inject_sent);
  shm::CaptureRequest stop{};
  stop.op = shm::kCaptureStop;
  stop.id = 8;  // an older capture's late stop
  EXPECT_EQ(Send(stop), Reason::k_inject_sent);
  EXPECT_EQ(ActiveCaptureId(), 9u);
  stop.id = 9;
  EXPECT_EQ(Send(stop), Reason::k_inject_sent);
  EXPECT_EQ(ActiveCaptureId(), 0u);
  uint8_t tiny[1] = {0};
  EXPECT_FALSE(CaptureMatches(tiny, 1, 0, shm::kCaptureRx));
}

TEST(Capture, InvalidRequestsAreCountedAsBadAndChangeNothing) {
  ASSERT_EQ(Send(Start(10, 1, nullptr)), Reason::k_inject_sent);
  auto no_ports = Start(11, 0b1100, nullptr);  // ports 2, 3 do not exist
  EXPECT_EQ(Send(no_ports), Reason::k_inject_bad);
  auto no_id = Start(0, 1, nullptr);
  EXPECT_EQ(Send(no_id), Reason::k_inject_bad);
  auto no_dir = Start(12, 1, nullptr);
  no_dir.directions = 0;
  EXPECT_EQ(Send(no_dir), Reason::k_inject_bad);
  EXPECT_EQ(Send(Start(13, 1, nullptr), 2, 10), Reason::k_inject_bad);  // short
  EXPECT_EQ(ActiveCaptureId(), 10u);
  log::SetLevel(log::Subsystem::k_dataplane, log::Level::kWarn);
  // Random requests never crash and leave either the old or a valid capture.
  std::mt19937 rng(42);
  for (int i = 0; i < 20000; ++i) {
    shm::CaptureRequest r;
    auto* b = reinterpret_cast<uint8_t*>(&r);
    for (size_t k = 0; k < sizeof r; ++k) b[k] = uint8_t(rng());
    if (i % 2) r.op = shm::kCaptureStart;
    Reason res = Send(r, 2, uint16_t(rng() % 80));
    EXPECT_TRUE(res == Reason::k_inject_sent || res == Reason::k_inject_bad);
  }
}

}  // namespace
}  // namespace vpn::dp

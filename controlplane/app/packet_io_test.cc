// The inject path under overload: a full inject ring defers packets (in
// order) instead of losing them, the backlog is bounded, and every outcome
// has its named counter (packet_io.h VPN_INJECT_COUNTERS).
#include "packet_io.h"

#include <unistd.h>

#include <cstring>

#include "gtest/gtest.h"

namespace vpn::cp {
namespace {

class PacketIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "/vpn-pio-test-" + std::to_string(getpid());
    shm::Segment::Unlink(name_);
    auto s = shm::Segment::OpenOrCreate(name_, {.max_sas = 64, .max_sessions = 32, .n_workers = 2});
    ASSERT_TRUE(s.ok()) << s.status();
    seg_ = std::move(*s);
  }
  void TearDown() override { shm::Segment::Unlink(name_); }

  // The dataplane side: takes one injected packet; returns its session_index
  // and checks its payload tag.
  uint32_t Consume() {
    uint8_t* slot = shm::RingPeek(seg_.inject_ring());
    if (!slot) return shm::kInvalidIndex;
    shm::PacketMeta m;
    std::memcpy(&m, slot, sizeof m);
    EXPECT_EQ(m.length, 4u);
    uint32_t tag;
    std::memcpy(&tag, slot + sizeof m, sizeof tag);
    EXPECT_EQ(tag, m.session_index);
    shm::RingPop(seg_.inject_ring());
    return m.session_index;
  }
  bool Send(PacketIo& io, uint32_t i) {
    uint8_t data[4];
    std::memcpy(data, &i, 4);
    return io.InjectPpp(i, data);
  }

  std::string name_;
  shm::Segment seg_;
};

TEST_F(PacketIoTest, FullRingDefersInOrderAndRetriesLosingNothing) {
  PacketIo io(seg_);
  const uint32_t n = shm::kInjectSlots + 300;  // a keepalive burst larger than the ring
  for (uint32_t i = 0; i < n; ++i) ASSERT_TRUE(Send(io, i));
  EXPECT_EQ(io.inject_counters().sent, shm::kInjectSlots);
  EXPECT_EQ(io.inject_counters().deferred, 300u);
  EXPECT_EQ(io.backlog(), 300u);
  EXPECT_EQ(io.inject_failures(), 0u);
  // Nothing moves while the dataplane takes nothing.
  EXPECT_EQ(io.FlushBacklog(), 0u);
  // The dataplane takes 100: the next loop iteration moves 100 of the backlog.
  uint32_t expect = 0;
  for (int k = 0; k < 100; ++k) ASSERT_EQ(Consume(), expect++);
  EXPECT_EQ(io.FlushBacklog(), 100u);
  // A new packet while others wait goes behind them, even with room.
  for (int k = 0; k < 10; ++k) ASSERT_EQ(Consume(), expect++);
  ASSERT_TRUE(Send(io, n));
  EXPECT_EQ(io.backlog(), 201u);
  // Drain everything, flushing each "loop iteration": every packet arrives
  // exactly once, in the order it was injected.
  for (int iter = 0; iter < 100 && expect <= n; ++iter) {
    io.FlushBacklog();
    for (uint32_t got; (got = Consume()) != shm::kInvalidIndex;) ASSERT_EQ(got, expect++);
  }
  EXPECT_EQ(expect, n + 1);
  EXPECT_EQ(io.backlog(), 0u);
  EXPECT_EQ(io.inject_counters().backlog_sent, 301u);
  EXPECT_EQ(io.inject_failures(), 0u);
}

TEST_F(PacketIoTest, BoundedBacklogAndOversizeAreNamedLosses) {
  PacketIo io(seg_);
  const size_t total = shm::kInjectSlots + PacketIo::kMaxBacklog + 5;
  size_t ok = 0;
  for (size_t i = 0; i < total; ++i) ok += Send(io, uint32_t(i));
  EXPECT_EQ(ok, shm::kInjectSlots + PacketIo::kMaxBacklog);
  EXPECT_EQ(io.inject_counters().backlog_full, 5u);
  EXPECT_EQ(io.backlog(), PacketIo::kMaxBacklog);
  std::vector<uint8_t> big(shm::kInjectSlotSize, 0xAB);
  EXPECT_FALSE(io.InjectPpp(1, big));
  EXPECT_EQ(io.inject_counters().too_large, 1u);
  EXPECT_EQ(io.inject_failures(), 6u);
}

}  // namespace
}  // namespace vpn::cp

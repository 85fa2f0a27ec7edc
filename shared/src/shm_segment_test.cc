#include "vpn/shm_segment.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "gtest/gtest.h"
#include "vpn/reasons.h"

namespace vpn::shm {
namespace {

std::string UniqueName(const char* tag) {
  return "/vpn-test-" + std::string(tag) + "-" + std::to_string(getpid());
}

TEST(Segment, CreateThenAttachSeesSameLayout) {
  const std::string name = UniqueName("layout");
  Segment::Unlink(name);
  SegmentSizing sz{.max_sas = 64, .max_sessions = 32, .n_workers = 2};
  auto a = Segment::OpenOrCreate(name, sz);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->created());
  auto b = Segment::OpenOrCreate(name, sz);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_FALSE(b->created());
  a->sa(7).spi = 0x1234;
  EXPECT_EQ(b->sa(7).spi, 0x1234u);
  EXPECT_EQ(b->header().max_sas, 64u);
  Segment::Unlink(name);
}

TEST(Segment, RefusesOtherAbiVersionWithClearMessage) {
  const std::string name = UniqueName("abi");
  Segment::Unlink(name);
  auto a = Segment::OpenOrCreate(name, {});
  ASSERT_TRUE(a.ok());
  a->header().abi_version = kAbiVersion + 1;
  auto b = Segment::Attach(name);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("ABI mismatch"), std::string::npos)
      << b.status();
  Segment::Unlink(name);
}

TEST(Segment, RefusesResizeWhileInUse) {
  const std::string name = UniqueName("resize");
  Segment::Unlink(name);
  auto a = Segment::OpenOrCreate(name, {.max_sas = 64});
  ASSERT_TRUE(a.ok());
  auto b = Segment::OpenOrCreate(name, {.max_sas = 128});
  EXPECT_FALSE(b.ok());
  Segment::Unlink(name);
}

// 131072 sessions on 262144 SAs (docs/shm-abi.md "Sizing"): the segment is
// created, its last records are addressable, and its size is what the
// layout says (the counter blocks dominate: kMaxWorkers rows each).
TEST(Segment, SizedFor131072Sessions) {
  const std::string name = UniqueName("scale");
  Segment::Unlink(name);
  SegmentSizing sz{.max_sas = 262144, .max_sessions = 131072, .n_workers = 3};
  auto a = Segment::OpenOrCreate(name, sz);
  ASSERT_TRUE(a.ok()) << a.status();
  const Layout l = Layout::Compute(sz);
  EXPECT_EQ(a->size(), l.total_size);
  a->session(131071).local_session_id = 0xBEEF;
  a->sa(262143).spi = 0xCAFE;
  a->session_counters(2)[131071].rx_packets = 7;
  auto b = Segment::Attach(name);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->session(131071).local_session_id, 0xBEEF);
  EXPECT_EQ(b->sa(262143).spi, 0xCAFEu);
  EXPECT_EQ(b->session_counters(2)[131071].rx_packets, 7u);
  std::printf("segment for 262144 SAs / 131072 sessions: %.1f MiB (virtual)\n",
              double(l.total_size) / (1 << 20));
  EXPECT_FALSE(Segment::OpenOrCreate(UniqueName("scale2"), {.max_sas = 16, .max_sessions = 1 << 20}).ok());
  Segment::Unlink(name);
}

// A writer keeps rewriting one SA record so that every field carries the same
// value; a reader in another thread must never see a mix of two writes.
TEST(Seqlock, ReaderNeverSeesTornSaRecord) {
  const std::string name = UniqueName("torn");
  Segment::Unlink(name);
  auto seg = Segment::OpenOrCreate(name, {.max_sas = 8});
  ASSERT_TRUE(seg.ok());
  SaRecord& rec = seg->sa(3);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0}, torn{0};
  std::thread reader([&] {
    SaRecord copy;
    while (!stop.load(std::memory_order_relaxed)) {
      if (!ReadConsistent(rec, &copy)) continue;
      reads.fetch_add(1, std::memory_order_relaxed);
      const uint8_t v = copy.cipher_key[0];
      bool ok = copy.spi == v && copy.soft_bytes == v && copy.hard_bytes == v;
      for (uint8_t b : copy.cipher_key) ok &= b == v;
      for (uint8_t b : copy.integ_key) ok &= b == v;
      if (!ok) torn.fetch_add(1, std::memory_order_relaxed);
    }
  });
  for (uint32_t i = 0; i < 200000; ++i) {
    const uint8_t v = static_cast<uint8_t>(i);
    BeginWrite(rec);
    rec.spi = v;
    rec.soft_bytes = v;
    std::memset(rec.cipher_key, v, sizeof rec.cipher_key);
    std::memset(rec.integ_key, v, sizeof rec.integ_key);
    rec.hard_bytes = v;
    EndWrite(rec);
  }
  while (reads.load() < 1000) std::this_thread::yield();
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_GT(reads.load(), 0u);
  Segment::Unlink(name);
}

TEST(Ring, SpscPreservesOrderAcrossThreadsAndReportsFull) {
  const std::string name = UniqueName("ring");
  Segment::Unlink(name);
  auto seg = Segment::OpenOrCreate(name, {});
  ASSERT_TRUE(seg.ok());
  RingHeader* r = seg->punt_ring(0);
  constexpr uint32_t kN = 100000;
  std::thread consumer([&] {
    uint32_t expect = 0;
    while (expect < kN) {
      uint8_t* slot = RingPeek(r);
      if (!slot) continue;
      PacketMeta m;
      std::memcpy(&m, slot, sizeof m);
      uint32_t v;
      std::memcpy(&v, slot + sizeof m, 4);
      ASSERT_EQ(v, expect);
      ASSERT_EQ(m.length, 4);
      RingPop(r);
      ++expect;
    }
  });
  for (uint32_t i = 0; i < kN;) {
    PacketMeta m{};
    m.kind = uint16_t(PuntKind::kIke);
    uint8_t d[4];
    std::memcpy(d, &i, 4);
    if (RingPushPacket(r, m, d)) ++i;
  }
  consumer.join();
  // Now fill it without a consumer.
  uint32_t pushed = 0;
  PacketMeta m{};
  while (RingPushPacket(r, m, {})) ++pushed;
  EXPECT_EQ(pushed, kPuntSlots);
  EXPECT_GT(r->dropped.load(), 0u);
  Segment::Unlink(name);
}

TEST(Reasons, TableMatchesEnum) {
  EXPECT_EQ(InfoOf(Reason::k_esp_bad_icv).name, "esp_bad_icv");
  EXPECT_EQ(InfoOf(Reason::k_esp_bad_icv).severity, Severity::k_drop);
  EXPECT_EQ(sizeof(kReasonInfo) / sizeof(kReasonInfo[0]), kReasonCount);
}

}  // namespace
}  // namespace vpn::shm

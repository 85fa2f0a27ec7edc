// The Internet checksum helpers (net_headers.h) against the byte-pair
// definition of RFC 1071 section 4.1, over random buffers and lengths,
// chained calls (pseudo-header then payload, as L4Csum does), and the
// RFC 1624 incremental update against a full recomputation.
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "net_headers.h"

namespace vpn::dp {
namespace {

// RFC 1071 4.1, as written: big-endian 16-bit words, odd byte padded.
uint32_t ReferenceSum(const uint8_t* p, size_t len, uint32_t sum) {
  for (; len > 1; p += 2, len -= 2) sum += uint32_t(p[0]) << 8 | p[1];
  if (len) sum += uint32_t(p[0]) << 8;
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return sum;
}

TEST(Checksum, MatchesRfc1071ReferenceOnRandomBuffers) {
  std::mt19937 rng(1071);
  std::vector<uint8_t> buf(2100);
  for (int iter = 0; iter < 20000; ++iter) {
    const size_t len = rng() % (iter < 10000 ? 80 : buf.size());
    const size_t off = rng() % 8;  // unaligned starts too
    if (off + len > buf.size()) continue;
    // Some buffers all 0xFF / all zero: the folds' edge cases.
    const int kind = iter % 7;
    for (size_t i = 0; i < len; ++i) {
      buf[off + i] = kind == 0 ? 0xFF : kind == 1 ? 0 : uint8_t(rng());
    }
    const uint32_t start = iter % 3 == 0 ? 0 : rng() % 0x10000;
    ASSERT_EQ(CsumPartial(buf.data() + off, len, start),
              ReferenceSum(buf.data() + off, len, start))
        << "len " << len << " off " << off << " start " << start;
  }
}

TEST(Checksum, ChainedCallsEqualOneCall) {
  std::mt19937 rng(768);
  std::vector<uint8_t> buf(1500);
  for (int iter = 0; iter < 2000; ++iter) {
    const size_t len = rng() % buf.size();
    for (size_t i = 0; i < len; ++i) buf[i] = uint8_t(rng());
    const size_t cut = (rng() % (len + 1)) & ~size_t(1);  // even split point
    const uint32_t whole = CsumPartial(buf.data(), len);
    const uint32_t split = CsumPartial(buf.data() + cut, len - cut, CsumPartial(buf.data(), cut));
    EXPECT_EQ(whole, split);
    EXPECT_EQ(whole, ReferenceSum(buf.data(), len, 0));
  }
}

TEST(Checksum, Ipv4HeaderVerifiesAndTtlUpdateMatchesRecompute) {
  // RFC 1071 / common textbook example header.
  uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                   0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  auto* ip = reinterpret_cast<Ipv4Hdr*>(h);
  ip->csum = Ipv4HeaderCsum(ip);
  EXPECT_EQ(h[10], 0xb8);
  EXPECT_EQ(h[11], 0x61);
  EXPECT_EQ(CsumPartial(h, 20), 0xFFFFu);
  std::mt19937 rng(1624);
  for (int i = 0; i < 1000; ++i) {
    for (int k = 12; k < 20; ++k) h[k] = uint8_t(rng());
    h[8] = uint8_t(rng());
    ip->csum = 0;
    ip->csum = Ipv4HeaderCsum(ip);
    const uint16_t old_word = Be16(uint16_t(ip->ttl << 8 | ip->proto));
    ip->ttl--;
    ip->csum = CsumUpdate16(ip->csum, old_word, Be16(uint16_t(ip->ttl << 8 | ip->proto)));
    EXPECT_EQ(CsumPartial(h, 20), 0xFFFFu);
  }
}

}  // namespace
}  // namespace vpn::dp

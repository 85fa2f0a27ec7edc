// Refusals, anti-replay, padding, lengths, lifetimes, sequence overflow,
// concurrency and a fuzz-style robustness loop.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <set>
#include <thread>

#include "esp.h"
#include "esp_oracle.h"
#include "replay.h"

namespace vpn::esp::test {
namespace {

using shm::Cipher;
using shm::Integ;
using shm::SaDir;

// --- InitSaContext refusals --------------------------------------------------

TEST(EspInit, RefusesWhatItMustAndAcceptsTheRest) {
  auto sa = std::make_unique<AlignedSa>();
  shm::SaRecord rec{};
  auto init = [&] { return InitSaContext(rec, &sa->ctx); };

  FillRecord(&rec, SaDir::kInbound, Cipher::kDesCbc, 8, Integ::kHmacSha1_96, 1);
  EXPECT_EQ(init(), InitResult::kOk);
  rec.flags &= static_cast<uint8_t>(~shm::kSaFlagAllowWeak);
  EXPECT_EQ(init(), InitResult::kWeakCipherRefused);
  EXPECT_EQ(sa->ctx.params.suite, kInvalidSuite);

  FillRecord(&rec, SaDir::kInbound, Cipher::kDes3Cbc, 24, Integ::kHmacSha1_96, 1);
  EXPECT_EQ(init(), InitResult::kOk);
  rec.flags = 0;
  EXPECT_EQ(init(), InitResult::kWeakCipherRefused);

  FillRecord(&rec, SaDir::kInbound, Cipher::kAesCbc, 20, Integ::kHmacSha1_96, 1);
  EXPECT_EQ(init(), InitResult::kBadCipherKeyLength);
  FillRecord(&rec, SaDir::kInbound, Cipher::kDes3Cbc, 16, Integ::kHmacSha1_96, 1);
  EXPECT_EQ(init(), InitResult::kBadCipherKeyLength);
  FillRecord(&rec, SaDir::kInbound, Cipher::kAesGcm16, 24, Integ::kNone, 1);
  EXPECT_EQ(init(), InitResult::kBadCipherKeyLength);
  FillRecord(&rec, SaDir::kInbound, Cipher::kAesCbc, 16, Integ::kNone, 1);
  EXPECT_EQ(init(), InitResult::kUnsupportedInteg);
  FillRecord(&rec, SaDir::kInbound, Cipher::kAesGcm16, 16, Integ::kHmacSha1_96, 1);
  EXPECT_EQ(init(), InitResult::kUnsupportedInteg);
  FillRecord(&rec, SaDir::kInbound, Cipher::kAesCbc, 16, Integ::kHmacSha256_128, 1);
  rec.integ_key_len = 20;
  EXPECT_EQ(init(), InitResult::kBadIntegKeyLength);
  FillRecord(&rec, SaDir::kInbound, Cipher::kAesCbc, 16, Integ::kHmacSha1_96, 1);
  rec.integ = static_cast<Integ>(9);
  EXPECT_EQ(init(), InitResult::kUnsupportedInteg);
  FillRecord(&rec, SaDir::kInbound, Cipher::kNull, 0, Integ::kHmacSha1_96, 1);
  EXPECT_EQ(init(), InitResult::kUnsupportedCipher);
  FillRecord(&rec, SaDir::kInbound, static_cast<Cipher>(77), 16,
             Integ::kHmacSha1_96, 1);
  EXPECT_EQ(init(), InitResult::kUnsupportedCipher);
  FillRecord(&rec, SaDir::kInbound, Cipher::kAesCbc, 16, Integ::kHmacSha1_96, 1);
  rec.flags |= shm::kSaFlagEsn;
  EXPECT_EQ(init(), InitResult::kEsnUnsupported);
  FillRecord(&rec, SaDir::kInbound, Cipher::kAesCbc, 16, Integ::kHmacSha1_96, 1,
             kMaxReplayWindow + 1);
  EXPECT_EQ(init(), InitResult::kBadReplayWindow);
  FillRecord(&rec, SaDir::kInbound, Cipher::kAesCbc, 16, Integ::kHmacSha1_96, 1,
             kMaxReplayWindow);
  EXPECT_EQ(init(), InitResult::kOk);
  EXPECT_STRNE(InitResultName(InitResult::kWeakCipherRefused), "?");
}

// --- Fixture: one inbound SA, OpenSSL builds its packets ---------------------

class EspInbound : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(engine_.Init()); }

  void Install(Cipher c, uint8_t klen, Integ i, uint32_t window = 1024) {
    FillRecord(&rec_, SaDir::kInbound, c, klen, i, 0xABC00001, window);
    ASSERT_EQ(InitSaContext(rec_, &sa_->ctx), InitResult::kOk);
    oracle_ = OracleFromRecord(rec_);
  }
  void InstallDefault(uint32_t window = 1024) {
    Install(Cipher::kAesCbc, 16, Integ::kHmacSha1_96, window);
  }

  Bytes Seal(uint32_t seq, size_t len = 40) {
    return OracleSeal(oracle_, seq, RandomBytes(len), 17);
  }

  InboundJob Job(Bytes& pkt) {
    InboundJob j{};
    j.sa = &sa_->ctx;
    j.esp = pkt.data();
    j.len = static_cast<uint32_t>(pkt.size());
    return j;
  }

  Reason Decrypt(Bytes pkt) {
    InboundJob j = Job(pkt);
    engine_.DecryptBurst(&j, 1);
    last_ = j;
    return j.verdict;
  }
  Reason DecryptSeq(uint32_t seq) { return Decrypt(Seal(seq)); }

  Engine engine_;
  shm::SaRecord rec_{};
  std::unique_ptr<AlignedSa> sa_ = std::make_unique<AlignedSa>();
  OracleSa oracle_;
  InboundJob last_{};
};

TEST_F(EspInbound, BadIcvAnywhereIsRefusedAndDoesNotMoveTheWindow) {
  for (int suite = 0; suite < 2; ++suite) {
    if (suite == 0) {
      InstallDefault();
    } else {
      Install(Cipher::kAesGcm16, 16, Integ::kNone);
    }
    const Bytes good = Seal(7, 100);
    for (size_t pos = 4; pos < good.size(); ++pos) {  // seq, IV, data, ICV
      for (uint8_t bit : {0x01, 0x80}) {
        Bytes bad = good;
        bad[pos] ^= bit;
        ASSERT_EQ(Decrypt(bad), Reason::k_esp_bad_icv) << "byte " << pos;
      }
    }
    // A forged packet claiming a far-ahead sequence number must not slide
    // the window (RFC 4303 3.4.3: update only after verification).
    Bytes forged = Seal(1000000);
    forged.back() ^= 1;
    EXPECT_EQ(Decrypt(forged), Reason::k_esp_bad_icv);
    EXPECT_EQ(Decrypt(good), kOk);
    EXPECT_EQ(DecryptSeq(1), kOk);  // still inside a window topped at 7
    EXPECT_EQ(sa_->ctx.counters.packets.load(), 2u);  // forgeries not counted
  }
}

TEST_F(EspInbound, UnknownSpiAndWrongDirection) {
  InstallDefault();
  Bytes pkt = Seal(1);
  pkt[0] ^= 0x40;  // check bits of the SPI differ
  EXPECT_EQ(Decrypt(pkt), Reason::k_esp_unknown_spi);

  auto out = std::make_unique<AlignedSa>();
  shm::SaRecord rec{};
  FillRecord(&rec, SaDir::kOutbound, Cipher::kAesCbc, 16, Integ::kHmacSha1_96,
             rec_.spi);
  ASSERT_EQ(InitSaContext(rec, &out->ctx), InitResult::kOk);
  Bytes p2 = Seal(2);
  InboundJob j = Job(p2);
  j.sa = &out->ctx;
  engine_.DecryptBurst(&j, 1);
  EXPECT_EQ(j.verdict, Reason::k_esp_crypto_error);
  j = Job(p2);
  j.sa = nullptr;
  engine_.DecryptBurst(&j, 1);
  EXPECT_EQ(j.verdict, Reason::k_esp_crypto_error);
}

TEST_F(EspInbound, ReplayedAcrossAndWithinBursts) {
  InstallDefault();
  const Bytes p5 = Seal(5);
  EXPECT_EQ(Decrypt(p5), kOk);
  EXPECT_EQ(Decrypt(p5), Reason::k_esp_replayed);
  // Same sequence number twice in one burst (both pass the pre-check): the
  // first is accepted, the second refused after verification.
  Bytes a = Seal(9), b = Seal(9), c = Seal(8);
  InboundJob jobs[3] = {Job(a), Job(b), Job(c)};
  engine_.DecryptBurst(jobs, 3);
  EXPECT_EQ(jobs[0].verdict, kOk);
  EXPECT_EQ(jobs[1].verdict, Reason::k_esp_replayed);
  EXPECT_EQ(jobs[2].verdict, kOk);
  EXPECT_EQ(DecryptSeq(0), Reason::k_esp_too_old);  // RFC 4303 3.3.3
}

TEST_F(EspInbound, WindowEdges) {
  for (uint32_t w : {1u, 32u, 64u, 100u, 1024u, 4096u}) {
    SCOPED_TRACE("window " + std::to_string(w));
    Install(Cipher::kAesGcm16, 16, Integ::kNone, w);
    const uint32_t top = 3 * w + 500;
    EXPECT_EQ(DecryptSeq(top), kOk);
    EXPECT_EQ(DecryptSeq(top), Reason::k_esp_replayed);
    EXPECT_EQ(DecryptSeq(top - w), Reason::k_esp_too_old);  // just outside
    if (w > 1) {
      EXPECT_EQ(DecryptSeq(top - w + 1), kOk);  // leftmost slot inside
      EXPECT_EQ(DecryptSeq(top - w + 1), Reason::k_esp_replayed);
      EXPECT_EQ(DecryptSeq(top - 1), kOk);
    }
    EXPECT_EQ(DecryptSeq(top + 1), kOk);  // slides by one
    EXPECT_EQ(DecryptSeq(top - w + 1), Reason::k_esp_too_old);
  }
}

TEST_F(EspInbound, WindowSlidesByLargeJumps) {
  InstallDefault(1024);
  EXPECT_EQ(DecryptSeq(10), kOk);
  EXPECT_EQ(DecryptSeq(10 + 5000), kOk);          // jump > whole ring
  EXPECT_EQ(DecryptSeq(10), Reason::k_esp_too_old);
  EXPECT_EQ(DecryptSeq(5010 - 1), kOk);           // stale bits were cleared
  EXPECT_EQ(DecryptSeq(5010 - 1023), kOk);
  EXPECT_EQ(DecryptSeq(5010 + 700), kOk);         // partial slide
  EXPECT_EQ(DecryptSeq(5010), Reason::k_esp_replayed);
  EXPECT_EQ(DecryptSeq(0xFFFFFFFFu), kOk);        // to the very end
  EXPECT_EQ(DecryptSeq(0xFFFFFFFFu), Reason::k_esp_replayed);
  EXPECT_EQ(DecryptSeq(0xFFFFFFFFu - 1023), kOk);
  EXPECT_EQ(DecryptSeq(0xFFFFFFFFu - 1024), Reason::k_esp_too_old);
  EXPECT_EQ(DecryptSeq(5010 + 700), Reason::k_esp_too_old);
}

TEST_F(EspInbound, AntiReplayDisabledAcceptsRepeats) {
  InstallDefault(0);
  const Bytes p = Seal(3);
  EXPECT_EQ(Decrypt(p), kOk);
  EXPECT_EQ(Decrypt(p), kOk);
  EXPECT_EQ(DecryptSeq(0), kOk);
}

// The window logic against a plain set-based model (RFC 4303 Appendix A
// semantics), random walks with small steps, late packets from the words
// before the top word (which lives in the counter line, replay.h) and
// large jumps.
TEST(EspReplayModel, MatchesReferenceModel) {
  std::mt19937 rng(7);
  for (uint32_t w : {1u, 63u, 64u, 65u, 1000u, 1024u, 4096u}) {
    auto sa = std::make_unique<AlignedSa>();
    shm::SaRecord rec{};
    FillRecord(&rec, SaDir::kInbound, Cipher::kAesCbc, 16, Integ::kHmacSha1_96,
               1, w);
    ASSERT_EQ(InitSaContext(rec, &sa->ctx), InitResult::kOk);
    std::set<uint32_t> seen;
    uint32_t top = 0;
    int steps = 0;
    for (int step = 0; step < 60000; ++step) {
      uint32_t seq;
      const int kind = static_cast<int>(rng() % 10);
      if (kind < 5) {
        seq = top + 1 + rng() % 3;
      } else if (kind < 8) {
        seq = top - std::min<uint32_t>(top, rng() % (w + 70));
      } else if (kind < 9) {
        seq = top + rng() % (20 * w + 200);
      } else if (rng() % 64 != 0) {
        seq = top - std::min<uint32_t>(top, 64 + rng() % 128);  // across the top word
      } else {
        seq = top + rng() % (1u << 24);  // far beyond the whole ring
      }
      if (step % 5000 == 4999) seq = static_cast<uint32_t>(rng()) % 0xE0000000u;  // anywhere
      Reason want;
      if (seq == 0 || (seq <= top && top - seq >= w)) {
        want = Reason::k_esp_too_old;
      } else if (seen.count(seq) != 0) {
        want = Reason::k_esp_replayed;
      } else {
        want = kOk;
      }
      ASSERT_EQ(detail::ReplayCheck(sa->ctx.params, sa->ctx.counters, sa->ctx.replay, seq), want)
          << "w=" << w << " top=" << top << " seq=" << seq;
      if (want == kOk) {
        detail::ReplayAccept(sa->ctx.params, sa->ctx.counters, sa->ctx.replay, seq);
        seen.insert(seq);
        if (seq > top) top = seq;
        while (!seen.empty() && top - *seen.begin() >= w + 64) {
          seen.erase(seen.begin());  // forgotten by the model too
        }
      }
      if (top > 0xF0000000u) break;
      ++steps;
    }
    EXPECT_GT(steps, 20000) << "w=" << w << ": the walk ended early";
  }
}

// RestartReplayWindow keeps the ring's old words: whatever they hold
// (garbage here, and a garbage top word before the restart), the window
// must then behave as an empty one: every number a previous occupant may
// have marked passes once, skipped words come out clear.
TEST(EspReplayModel, RestartOverGarbageIsAnEmptyWindow) {
  std::mt19937_64 rng(11);
  for (uint32_t w : {64u, 1024u, 4096u}) {
    auto sa = std::make_unique<AlignedSa>();
    shm::SaRecord rec{};
    FillRecord(&rec, SaDir::kInbound, Cipher::kAesCbc, 16, Integ::kHmacSha1_96, 1, w);
    ASSERT_EQ(InitSaContext(rec, &sa->ctx), InitResult::kOk);
    SaContext& c = sa->ctx;
    for (int round = 0; round < 3; ++round) {
      for (uint64_t& word : c.replay.bitmap) word = rng();
      c.counters.replay_top = 5000 + rng() % 100000;
      c.counters.replay_top_word = rng();
      RestartReplayWindow(&c);
      // Even numbers up to 200 in order, then a jump over several words.
      std::set<uint32_t> seen;
      for (uint32_t seq = 2; seq <= 200; seq += 2) seen.insert(seq);
      const uint32_t jump = 200 + w / 2 + 130;
      seen.insert(jump);
      for (uint32_t seq : seen) {
        ASSERT_EQ(detail::ReplayCheck(c.params, c.counters, c.replay, seq), kOk) << seq;
        detail::ReplayAccept(c.params, c.counters, c.replay, seq);
      }
      for (uint32_t seq = 1; seq <= jump + 10; ++seq) {
        const Reason want = jump - std::min(jump, seq) >= w && seq <= jump ? Reason::k_esp_too_old
                            : seen.count(seq)                         ? Reason::k_esp_replayed
                                                                      : kOk;
        ASSERT_EQ(detail::ReplayCheck(c.params, c.counters, c.replay, seq), want)
            << "w=" << w << " round " << round << " seq " << seq;
      }
    }
  }
}

TEST_F(EspInbound, BadPadding) {
  InstallDefault();
  const Bytes iv = RandomBytes(16);
  Bytes payload = RandomBytes(20);
  // Valid: 20 + 10 pad + 2 = 32.
  Bytes pt = OraclePlaintext(oracle_, payload, 17);
  EXPECT_EQ(Decrypt(OracleSealRaw(oracle_, 1, iv, pt)), kOk);
  EXPECT_EQ(last_.payload_len, 20u);
  // Wrong pattern byte (RFC 4303 2.4: 1, 2, 3, ...).
  Bytes wrong = pt;
  wrong[20 + 4] = 0x00;
  EXPECT_EQ(Decrypt(OracleSealRaw(oracle_, 2, iv, wrong)),
            Reason::k_esp_bad_padding);
  // Pad length longer than the plaintext.
  Bytes too_long = pt;
  too_long[30] = 31;
  EXPECT_EQ(Decrypt(OracleSealRaw(oracle_, 3, iv, too_long)),
            Reason::k_esp_bad_padding);
  too_long[30] = 255;
  EXPECT_EQ(Decrypt(OracleSealRaw(oracle_, 4, iv, too_long)),
            Reason::k_esp_bad_padding);
  // Largest valid pad: 30 bytes 1..30, pad length 30, next header: no data.
  Bytes all_pad;
  for (int i = 1; i <= 30; ++i) all_pad.push_back(static_cast<uint8_t>(i));
  all_pad.push_back(30);
  all_pad.push_back(59);  // RFC 4303 2.6: dummy packet
  EXPECT_EQ(Decrypt(OracleSealRaw(oracle_, 5, iv, all_pad)), kOk);
  EXPECT_EQ(last_.payload_len, 0u);
  EXPECT_EQ(last_.next_header, 59);
  // A padding failure is still an authentic packet: its number is used.
  EXPECT_EQ(Decrypt(OracleSealRaw(oracle_, 2, iv, pt)), Reason::k_esp_replayed);
}

// Every pad length 0..40 (RFC 4303 allows up to 255) and every corrupted
// position: the 1, 2, 3, ... check must notice each single-byte change.
TEST_F(EspInbound, EveryPaddingLengthAndPosition) {
  InstallDefault(0);
  const Bytes iv = RandomBytes(16);
  uint32_t seq = 1;
  for (uint32_t pad = 0; pad <= 40; ++pad) {
    const uint32_t payload_len = (16 - (pad + 2) % 16) % 16 + 16;
    Bytes pt = RandomBytes(payload_len);
    for (uint32_t i = 1; i <= pad; ++i) pt.push_back(static_cast<uint8_t>(i));
    pt.push_back(static_cast<uint8_t>(pad));
    pt.push_back(17);
    ASSERT_EQ(pt.size() % 16, 0u);
    ASSERT_EQ(Decrypt(OracleSealRaw(oracle_, seq++, iv, pt)), kOk) << pad;
    EXPECT_EQ(last_.payload_len, payload_len);
    for (uint32_t k = 0; k < pad; ++k) {
      Bytes bad = pt;
      bad[payload_len + k] ^= static_cast<uint8_t>(1u << (k % 8));
      ASSERT_EQ(Decrypt(OracleSealRaw(oracle_, seq++, iv, bad)),
                Reason::k_esp_bad_padding)
          << "pad " << pad << " position " << k;
    }
  }
}

TEST_F(EspInbound, TruncatedAndBadLength) {
  InstallDefault();
  Bytes good = Seal(1, 30);  // 8 + 16 + 32 + 12 = 68
  ASSERT_EQ(good.size(), 68u);
  for (size_t len : {0ul, 3ul, 7ul}) {
    Bytes p(good.begin(), good.begin() + len);
    InboundJob j = Job(p);
    engine_.DecryptBurst(&j, 1);
    EXPECT_EQ(j.verdict, Reason::k_esp_truncated) << len;
  }
  // Header present, but no room for IV + ICV + trailer.
  for (size_t len : {8ul, 24ul, 37ul}) {
    Bytes p(good.begin(), good.begin() + len);
    EXPECT_EQ(Decrypt(p), Reason::k_esp_truncated) << len;
  }
  // Ciphertext not whole AES blocks (RFC 3602 3).
  for (size_t len : {39ul, 50ul, 67ul, 69ul, 75ul}) {
    Bytes p = good;
    p.resize(len, 0);
    EXPECT_EQ(Decrypt(p), Reason::k_esp_bad_length) << len;
  }
  Install(Cipher::kDes3Cbc, 24, Integ::kHmacSha1_96);
  Bytes des = Seal(1, 30);  // 8 + 8 + 32 + 12
  des.pop_back();
  EXPECT_EQ(Decrypt(des), Reason::k_esp_bad_length);
  EXPECT_EQ(DecryptSeq(1), kOk);  // the refusals did not touch the window
}

// --- Lifetimes ---------------------------------------------------------------

class EspOutbound : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(engine_.Init()); }
  void Install(Cipher c = Cipher::kAesCbc, uint8_t klen = 16,
               Integ i = Integ::kHmacSha1_96) {
    FillRecord(&rec_, SaDir::kOutbound, c, klen, i, 0xDEF00002);
  }
  void Commit() { ASSERT_EQ(InitSaContext(rec_, &sa_->ctx), InitResult::kOk); }

  // n jobs of `len` payload bytes each, buffers with room.
  std::vector<OutboundJob> Burst(size_t n, uint32_t len) {
    bufs_.assign(n, Bytes(64 + len + 64, 0));
    std::vector<OutboundJob> jobs(n);
    for (size_t i = 0; i < n; ++i) {
      jobs[i] = OutboundJob{};
      jobs[i].sa = &sa_->ctx;
      jobs[i].payload = bufs_[i].data() + 64;
      jobs[i].payload_len = len;
      jobs[i].headroom = 64;
      jobs[i].tailroom = 64;
      jobs[i].next_header = 17;
    }
    engine_.EncryptBurst(jobs.data(), static_cast<uint16_t>(n));
    return jobs;
  }

  Engine engine_;
  shm::SaRecord rec_{};
  std::unique_ptr<AlignedSa> sa_ = std::make_unique<AlignedSa>();
  std::vector<Bytes> bufs_;
};

TEST_F(EspOutbound, PacketLifetimesSoftOnceHardDrops) {
  Install();
  rec_.soft_packets = 5;
  rec_.hard_packets = 10;
  Commit();
  auto jobs = Burst(16, 100);
  for (size_t i = 0; i < 16; ++i) {
    EXPECT_EQ(jobs[i].verdict, i < 10 ? kOk : Reason::k_esp_lifetime_expired)
        << i;
    const uint8_t want = i == 4    ? kEventSoftLifetime
                         : i == 10 ? kEventHardLifetime
                                   : 0;
    EXPECT_EQ(jobs[i].events, want) << i;
  }
  jobs = Burst(4, 100);
  for (const OutboundJob& j : jobs) {
    EXPECT_EQ(j.verdict, Reason::k_esp_lifetime_expired);
    EXPECT_EQ(j.events, 0);  // each event only once per SA
  }
}

TEST_F(EspOutbound, ByteLifetimes) {
  Install(Cipher::kAesGcm16, 16, Integ::kNone);
  rec_.soft_bytes = 1000;
  rec_.hard_bytes = 2000;
  Commit();
  // Bytes before each packet: 0, 300, ..., 1800 pass; 2100 does not.
  auto jobs = Burst(9, 300);
  for (size_t i = 0; i < 9; ++i) {
    EXPECT_EQ(jobs[i].verdict, i < 7 ? kOk : Reason::k_esp_lifetime_expired)
        << i;
    EXPECT_EQ((jobs[i].events & kEventSoftLifetime) != 0, i == 3) << i;
    EXPECT_EQ((jobs[i].events & kEventHardLifetime) != 0, i == 7) << i;
  }
}

TEST_F(EspInbound, InboundLifetimesCountVerifiedPacketsOnly) {
  FillRecord(&rec_, SaDir::kInbound, Cipher::kAesCbc, 32,
             Integ::kHmacSha256_128, 0xABC00001);
  rec_.soft_packets = 3;
  rec_.hard_packets = 6;
  ASSERT_EQ(InitSaContext(rec_, &sa_->ctx), InitResult::kOk);
  oracle_ = OracleFromRecord(rec_);
  std::vector<Bytes> pkts;
  for (uint32_t s = 1; s <= 8; ++s) pkts.push_back(Seal(s));
  pkts[1].back() ^= 1;  // a forgery: does not count
  std::vector<InboundJob> jobs;
  for (Bytes& p : pkts) jobs.push_back(Job(p));
  engine_.DecryptBurst(jobs.data(), static_cast<uint16_t>(jobs.size()));
  const Reason want[] = {kOk, Reason::k_esp_bad_icv, kOk, kOk, kOk, kOk, kOk,
                         Reason::k_esp_lifetime_expired};
  const uint8_t want_events[] = {0, 0, 0, kEventSoftLifetime, 0, 0, 0,
                                 kEventHardLifetime};
  for (size_t i = 0; i < jobs.size(); ++i) {
    EXPECT_EQ(jobs[i].verdict, want[i]) << i;
    EXPECT_EQ(jobs[i].events, want_events[i]) << i;
  }
  // Expired: refused before any crypto from now on.
  Bytes p9 = Seal(9);
  InboundJob j = Job(p9);
  const Bytes before = p9;
  engine_.DecryptBurst(&j, 1);
  EXPECT_EQ(j.verdict, Reason::k_esp_lifetime_expired);
  EXPECT_EQ(j.events, 0);
  EXPECT_EQ(p9, before);  // not even decrypted in place
}

TEST_F(EspOutbound, SequenceOverflowWithoutEsn) {
  Install();
  Commit();
  sa_->ctx.counters.next_seq.store(0xFFFFFFFEu);
  auto jobs = Burst(4, 64);
  EXPECT_EQ(jobs[0].verdict, kOk);
  EXPECT_EQ(jobs[0].seq, 0xFFFFFFFEu);
  EXPECT_EQ(jobs[1].verdict, kOk);
  EXPECT_EQ(jobs[1].seq, 0xFFFFFFFFu);
  EXPECT_EQ(jobs[2].verdict, Reason::k_esp_seq_overflow);
  EXPECT_EQ(jobs[2].events, kEventSeqOverflow);
  EXPECT_EQ(jobs[3].verdict, Reason::k_esp_seq_overflow);
  EXPECT_EQ(jobs[3].events, 0);
  jobs = Burst(2, 64);
  EXPECT_EQ(jobs[0].verdict, Reason::k_esp_seq_overflow);
  EXPECT_EQ(jobs[0].events, 0);
}

TEST_F(EspOutbound, BadJobArgumentsLeaveTheBufferAlone) {
  Install();
  Commit();
  Bytes buf(200, 0x5A);
  OutboundJob j{};
  j.sa = &sa_->ctx;
  j.payload = buf.data() + 23;  // one byte short of AES-CBC headroom (24)
  j.payload_len = 100;
  j.headroom = 23;
  j.tailroom = 77;
  j.next_header = 17;
  engine_.EncryptBurst(&j, 1);
  EXPECT_EQ(j.verdict, Reason::k_esp_crypto_error);
  j.headroom = 24;
  j.payload = buf.data() + 24;
  j.tailroom = static_cast<uint16_t>(EspTailroom(sa_->ctx, 100) - 1);
  engine_.EncryptBurst(&j, 1);
  EXPECT_EQ(j.verdict, Reason::k_esp_crypto_error);
  EXPECT_EQ(buf, Bytes(200, 0x5A));
  EXPECT_EQ(sa_->ctx.counters.next_seq.load(), 1u);  // nothing reserved
  j.tailroom = static_cast<uint16_t>(EspTailroom(sa_->ctx, 100));
  engine_.EncryptBurst(&j, 1);
  EXPECT_EQ(j.verdict, kOk);
  EXPECT_EQ(j.esp_len, EspPacketLen(sa_->ctx, 100));
  EXPECT_EQ(j.esp, buf.data());
}

TEST(EspHelpers, RoomAndMaxPayload) {
  auto sa = std::make_unique<AlignedSa>();
  shm::SaRecord rec{};
  FillRecord(&rec, SaDir::kOutbound, Cipher::kAesCbc, 16, Integ::kHmacSha1_96,
             1);
  ASSERT_EQ(InitSaContext(rec, &sa->ctx), InitResult::kOk);
  EXPECT_EQ(EspHeadroom(sa->ctx), 24u);
  EXPECT_EQ(EspTailroom(sa->ctx, 14), 2u + 12u);   // 14 + 2 = 16: no pad
  EXPECT_EQ(EspTailroom(sa->ctx, 15), 15u + 2u + 12u);
  EXPECT_EQ(EspMaxTailroom(sa->ctx), 15u + 2u + 12u);
  // Seed 004: 1400-byte budget.
  const uint32_t max = EspMaxPayload(sa->ctx, 1400);
  EXPECT_LE(EspPacketLen(sa->ctx, max), 1400u);
  EXPECT_GT(EspPacketLen(sa->ctx, max + 1), 1400u);
  for (uint32_t budget = 0; budget < 300; ++budget) {
    const uint32_t m = EspMaxPayload(sa->ctx, budget);
    if (m > 0) {
      EXPECT_LE(EspPacketLen(sa->ctx, m), budget);
    }
    EXPECT_GT(EspPacketLen(sa->ctx, m + 1), budget);
  }
}

// --- Concurrency: one outbound SA, two workers -------------------------------

TEST(EspConcurrency, OutboundSequenceNumbersUniqueAcrossThreads) {
  auto sa = std::make_unique<AlignedSa>();
  shm::SaRecord rec{};
  FillRecord(&rec, SaDir::kOutbound, Cipher::kAesGcm16, 16, Integ::kNone, 77);
  ASSERT_EQ(InitSaContext(rec, &sa->ctx), InitResult::kOk);
  constexpr int kBursts = 300, kBurst = 32;
  std::vector<uint32_t> seqs[2];
  std::vector<Bytes> last_packets[2];
  auto worker = [&](int t) {
    Engine engine;
    if (!engine.Init()) return;
    std::vector<Bytes> bufs(kBurst, Bytes(64 + 200 + 64));
    OutboundJob jobs[kBurst];
    for (int b = 0; b < kBursts; ++b) {
      for (int i = 0; i < kBurst; ++i) {
        jobs[i] = OutboundJob{};
        jobs[i].sa = &sa->ctx;
        jobs[i].payload = bufs[i].data() + 64;
        jobs[i].payload_len = 200;
        jobs[i].headroom = jobs[i].tailroom = 64;
        jobs[i].next_header = 17;
      }
      engine.EncryptBurst(jobs, kBurst);
      for (int i = 0; i < kBurst; ++i) {
        if (jobs[i].verdict == kOk) seqs[t].push_back(jobs[i].seq);
      }
    }
    for (int i = 0; i < kBurst; ++i) {
      last_packets[t].emplace_back(jobs[i].esp, jobs[i].esp + jobs[i].esp_len);
    }
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  ASSERT_EQ(seqs[0].size(), size_t{kBursts * kBurst});
  ASSERT_EQ(seqs[1].size(), size_t{kBursts * kBurst});
  std::set<uint32_t> all(seqs[0].begin(), seqs[0].end());
  all.insert(seqs[1].begin(), seqs[1].end());
  EXPECT_EQ(all.size(), size_t{2 * kBursts * kBurst});  // unique
  EXPECT_EQ(*all.begin(), 1u);                          // and dense
  EXPECT_EQ(*all.rbegin(), uint32_t{2 * kBursts * kBurst});
  // The packets really carry those numbers and open with the oracle.
  const OracleSa oracle = OracleFromRecord(rec);
  for (int t = 0; t < 2; ++t) {
    for (const Bytes& p : last_packets[t]) {
      const Opened o = OracleOpen(oracle, p.data(), p.size());
      ASSERT_TRUE(o.ok) << o.error;
      EXPECT_EQ(all.count(o.seq), 1u);
    }
  }
  EXPECT_EQ(LifetimePackets(sa->ctx), uint64_t{2 * kBursts * kBurst});
}

// --- Robustness: random, truncated, mutated input -----------------------------

TEST_F(EspInbound, FuzzMutatedPacketsNeverCrashNorPass) {
  std::mt19937 rng(2024);
  const struct {
    Cipher c;
    uint8_t k;
    Integ i;
  } suites[] = {{Cipher::kAesCbc, 16, Integ::kHmacSha1_96},
                {Cipher::kAesGcm16, 32, Integ::kNone},
                {Cipher::kDes3Cbc, 24, Integ::kHmacSha256_96}};
  for (const auto& s : suites) {
    Install(s.c, s.k, s.i, 64);
    for (int round = 0; round < 60; ++round) {
      constexpr int kN = 40;
      std::vector<Bytes> pkts(kN);
      std::vector<bool> pristine(kN);
      std::vector<int> kinds(kN);
      std::vector<InboundJob> jobs(kN);
      for (int i = 0; i < kN; ++i) {
        const uint32_t seq = static_cast<uint32_t>(round * kN + i + 1);
        Bytes p = Seal(seq, rng() % 300);
        const int kind = static_cast<int>(rng() % 6);
        pristine[i] = false;
        kinds[i] = kind;
        if (kind == 0) {
          p[rng() % p.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
        } else if (kind == 1) {
          p.resize(rng() % p.size());
        } else if (kind == 2) {
          for (auto& byte : p) byte = static_cast<uint8_t>(rng());
          p[0] = static_cast<uint8_t>(rec_.spi >> 24);  // keep the SPI
          p[1] = static_cast<uint8_t>(rec_.spi >> 16);
          p[2] = static_cast<uint8_t>(rec_.spi >> 8);
          p[3] = static_cast<uint8_t>(rec_.spi);
        } else if (kind == 3) {
          p.insert(p.end(), 1 + rng() % 40, static_cast<uint8_t>(rng()));
        } else if (kind == 4) {
          p.assign(rng() % 64, static_cast<uint8_t>(rng()));
        } else {
          pristine[i] = true;
        }
        pkts[i] = std::move(p);
        jobs[i] = Job(pkts[i]);  // empty: esp may be null, len 0
      }
      engine_.DecryptBurst(jobs.data(), kN);
      for (int i = 0; i < kN; ++i) {
        if (pristine[i]) {
          EXPECT_EQ(jobs[i].verdict, kOk);
        } else {
          EXPECT_NE(jobs[i].verdict, kOk)
              << "mutated packet accepted: mutation " << kinds[i] << " suite "
              << static_cast<int>(s.c) << " len " << pkts[i].size();
        }
        if (jobs[i].verdict == kOk) {
          EXPECT_GE(jobs[i].payload, pkts[i].data());
          EXPECT_LE(jobs[i].payload + jobs[i].payload_len,
                    pkts[i].data() + pkts[i].size());
        }
      }
    }
  }
}

}  // namespace
}  // namespace vpn::esp::test

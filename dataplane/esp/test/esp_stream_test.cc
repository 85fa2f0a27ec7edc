// The streaming API (Engine::DecryptSubmit / EncryptSubmit / *Drain, and
// the zero-copy StageInbound / SubmitInbound / DrainInbound): jobs
// stay in intel-ipsec-mb's lanes across calls. Checked against the OpenSSL
// oracle (esp_oracle.h): every packet comes back exactly once with the
// caller's context, in submission order per SA; the replay window moves only
// for authentic packets, also when duplicates or forgeries are in flight
// together; lifetimes count across calls; the in-flight bound holds; a
// synchronous call while jobs are in flight is refused, not corrupted.
#include <gtest/gtest.h>
#include <intel-ipsec-mb.h>

#include <map>
#include <memory>
#include <random>
#include <vector>

#include "esp.h"
#include "esp_oracle.h"

namespace vpn::esp::test {
namespace {

using shm::Cipher;
using shm::Integ;
using shm::SaDir;

// IMIX-like sizes so lanes hold jobs of different lengths.
size_t PickLen(std::mt19937& rng) {
  static const size_t kSizes[] = {40, 40, 40, 40, 40, 40, 40, 560, 560, 560, 560, 1380};
  return kSizes[rng() % 12];
}

// Random burst sizes, and runs of exactly 32 (the worker's burst) starting
// from an empty queue, which make a submission end exactly at the end of
// intel-ipsec-mb's job queue (256 entries) while jobs are in flight.
bool FixedPhase(size_t submitted) { return (submitted / 256) % 2 == 1; }
int BurstSize(std::mt19937& rng, size_t submitted) {
  return FixedPhase(submitted) ? 32 : int(1 + rng() % 48);
}

struct Sa {
  shm::SaRecord rec{};
  std::unique_ptr<AlignedSa> ctx = std::make_unique<AlignedSa>();
  OracleSa oracle;
};

void MakeSa(Sa* sa, SaDir dir, uint32_t spi, Cipher c = Cipher::kAesCbc, uint8_t klen = 16,
            Integ i = Integ::kHmacSha1_96) {
  FillRecord(&sa->rec, dir, c, klen, i, spi);
  ASSERT_EQ(InitSaContext(sa->rec, &sa->ctx->ctx), InitResult::kOk);
  sa->oracle = OracleFromRecord(sa->rec);
}

class EspStream : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { ASSERT_TRUE(engine_.Init(/*validate_jobs=*/GetParam())); }
  Engine engine_;
  std::mt19937 rng_{4303};
};

// Outbound: random bursts over 4 SAs, collected across calls and a final
// drain; the oracle opens every packet; sequence numbers per SA are 1..n in
// the order the jobs were submitted and come back in that order.
TEST_P(EspStream, EncryptStreamMatchesOracleAndKeepsOrder) {
  constexpr int kSas = 4, kPackets = 1500;
  Sa sas[kSas];
  for (int s = 0; s < kSas; ++s) MakeSa(&sas[s], SaDir::kOutbound, 0x1000 + s);
  std::vector<Bytes> bufs(kPackets), payloads(kPackets);
  std::vector<OutboundJob> done(kPackets + Engine::kMaxInFlight);
  std::vector<int> seen(kPackets, 0);
  std::map<int, std::vector<uint32_t>> order;  // SA -> packet ids as returned
  size_t n_done = 0;
  int next = 0;
  uint32_t max_in_flight = 0;
  auto take = [&](uint16_t nd, const OutboundJob* d) {
    for (uint16_t k = 0; k < nd; ++k) {
      const uint32_t id = d[k].user_aux;
      ASSERT_LT(id, uint32_t(kPackets));
      ++seen[id];
      EXPECT_EQ(d[k].user, &bufs[id]);
      EXPECT_EQ(d[k].user_ctx, &sas[id % kSas]);
      ASSERT_EQ(d[k].verdict, kOk) << id;
      const Opened o = OracleOpen(sas[id % kSas].oracle, d[k].esp, d[k].esp_len);
      ASSERT_TRUE(o.ok) << o.error;
      EXPECT_EQ(o.payload, payloads[id]);
      EXPECT_EQ(o.seq, d[k].seq);
      order[id % kSas].push_back(d[k].seq);
      ++n_done;
    }
  };
  bool fixed = false;
  while (next < kPackets) {
    if (FixedPhase(next) && !fixed) take(engine_.EncryptDrain(done.data()), done.data());
    fixed = FixedPhase(next);
    const int burst = std::min<int>(BurstSize(rng_, next), kPackets - next);
    std::vector<OutboundJob> jobs(burst);
    for (int b = 0; b < burst; ++b, ++next) {
      const size_t len = PickLen(rng_);
      payloads[next] = RandomBytes(len);
      bufs[next].assign(kMaxHeadroom + len + kMaxTailroom, 0);
      std::memcpy(bufs[next].data() + kMaxHeadroom, payloads[next].data(), len);
      OutboundJob& j = jobs[b];
      j = OutboundJob{};
      j.sa = &sas[next % kSas].ctx->ctx;
      j.payload = bufs[next].data() + kMaxHeadroom;
      j.payload_len = uint32_t(len);
      j.headroom = kMaxHeadroom;
      j.tailroom = kMaxTailroom;
      j.next_header = 17;
      j.user = &bufs[next];
      j.user_ctx = &sas[next % kSas];
      j.user_aux = uint32_t(next);
    }
    const uint16_t nd = engine_.EncryptSubmit(jobs.data(), uint16_t(burst), done.data());
    max_in_flight = std::max(max_in_flight, engine_.OutboundInFlight());
    ASSERT_EQ(IMB_QUEUE_SIZE(engine_.outbound_mgr()), engine_.OutboundInFlight());
    take(nd, done.data());
  }
  EXPECT_LE(max_in_flight, Engine::kMaxInFlight);
  take(engine_.EncryptDrain(done.data()), done.data());
  EXPECT_EQ(engine_.InFlight(), 0u);
  EXPECT_EQ(n_done, size_t(kPackets));
  for (int i = 0; i < kPackets; ++i) EXPECT_EQ(seen[i], 1) << i;
  for (auto& [sa, seqs] : order) {
    for (size_t k = 0; k < seqs.size(); ++k) EXPECT_EQ(seqs[k], k + 1) << "SA " << sa;
  }
}

// Inbound: the oracle seals packets for 3 SAs, including duplicates of
// earlier packets (some still in flight when their copy is submitted) and
// forgeries with a far-ahead sequence number. Each genuine number is
// accepted exactly once, forgeries never move the window (the next genuine
// packets still pass), and per SA the accepted packets come back in
// submission order.
TEST_P(EspStream, DecryptStreamReplayAndOrder) {
  constexpr int kSas = 3, kPerSa = 500;
  Sa sas[kSas];
  for (int s = 0; s < kSas; ++s) MakeSa(&sas[s], SaDir::kInbound, 0x2000 + s);
  struct Pkt {
    Bytes data;
    Bytes payload;
    int sa;
    uint32_t seq;
    bool forged;
  };
  std::vector<Pkt> pkts;
  uint32_t seq[kSas] = {};
  for (int n = 0; n < kSas * kPerSa; ++n) {
    const int s = n % kSas;
    const uint32_t r = rng_() % 20;
    if (r == 0 && seq[s] > 0) {  // duplicate of a recent packet
      for (size_t k = pkts.size(); k-- > 0;) {
        if (pkts[k].sa == s && !pkts[k].forged) {
          pkts.push_back(pkts[k]);
          break;
        }
      }
      continue;
    }
    Pkt p;
    p.sa = s;
    p.payload = RandomBytes(PickLen(rng_));
    if (r == 1) {  // forgery: far ahead, ICV broken
      p.forged = true;
      p.seq = seq[s] + 500;
      p.data = OracleSeal(sas[s].oracle, p.seq, p.payload, 17);
      p.data[p.data.size() - 1] ^= 0x01;
    } else {
      p.forged = false;
      p.seq = ++seq[s];
      p.data = OracleSeal(sas[s].oracle, p.seq, p.payload, 17);
    }
    pkts.push_back(std::move(p));
  }
  std::vector<InboundJob> done(pkts.size() + Engine::kMaxInFlight);
  std::map<std::pair<int, uint32_t>, int> accepted;
  std::vector<uint32_t> last_seq(kSas, 0);
  size_t returned = 0, bad_icv = 0, replayed = 0;
  auto take = [&](uint16_t nd) {
    for (uint16_t k = 0; k < nd; ++k) {
      const InboundJob& j = done[k];
      const Pkt& p = pkts[j.user_aux];
      EXPECT_EQ(j.user, &pkts[j.user_aux]);
      ++returned;
      if (p.forged) {
        EXPECT_EQ(j.verdict, Reason::k_esp_bad_icv);
        ++bad_icv;
        continue;
      }
      if (j.verdict == Reason::k_esp_replayed) {
        ++replayed;
        continue;
      }
      ASSERT_EQ(j.verdict, kOk) << "seq " << p.seq;
      EXPECT_EQ(Bytes(j.payload, j.payload + j.payload_len), p.payload);
      EXPECT_GT(p.seq, last_seq[p.sa]) << "SA " << p.sa << " out of order";
      last_seq[p.sa] = p.seq;
      ++accepted[{p.sa, p.seq}];
    }
  };
  size_t next = 0;
  bool fixed = false;
  while (next < pkts.size()) {
    if (FixedPhase(next) && !fixed) take(engine_.DecryptDrain(done.data()));
    fixed = FixedPhase(next);
    const size_t burst = std::min<size_t>(BurstSize(rng_, next), pkts.size() - next);
    std::vector<InboundJob> jobs(burst);
    for (size_t b = 0; b < burst; ++b, ++next) {
      InboundJob& j = jobs[b];
      j = InboundJob{};
      j.sa = &sas[pkts[next].sa].ctx->ctx;
      j.esp = pkts[next].data.data();
      j.len = uint32_t(pkts[next].data.size());
      j.user = &pkts[next];
      j.user_aux = uint32_t(next);
    }
    take(engine_.DecryptSubmit(jobs.data(), uint16_t(burst), done.data()));
    EXPECT_LE(engine_.InboundInFlight(), Engine::kMaxInFlight);
    // intel-ipsec-mb's own view of its queue agrees with the engine's (1.3
    // miscounts a wrapped queue: the engine must never let it wrap).
    ASSERT_EQ(IMB_QUEUE_SIZE(engine_.mgr()), engine_.InboundInFlight());
  }
  take(engine_.DecryptDrain(done.data()));
  EXPECT_EQ(returned, pkts.size());
  EXPECT_EQ(engine_.InFlight(), 0u);
  for (int s = 0; s < kSas; ++s) {
    for (uint32_t q = 1; q <= seq[s]; ++q) {
      EXPECT_EQ((accepted[{s, q}]), 1) << "SA " << s << " seq " << q;
    }
  }
  EXPECT_GT(bad_icv, 0u);
  EXPECT_GT(replayed, 0u);
  EXPECT_EQ(bad_icv + replayed + accepted.size(), pkts.size());
  // Lifetime counters count the verified packets only, across calls.
  for (int s = 0; s < kSas; ++s) {
    EXPECT_EQ(sas[s].ctx->ctx.counters.packets.load(), seq[s]);
  }
}

// Jobs refused by the cheap checks come back at once; a synchronous call
// while streamed jobs are in flight is refused without touching them.
TEST_P(EspStream, RefusalsAndMixingWithSynchronousCalls) {
  Sa in;
  MakeSa(&in, SaDir::kInbound, 0x3000);
  std::vector<Bytes> pkts;
  for (uint32_t q = 1; q <= 20; ++q) pkts.push_back(OracleSeal(in.oracle, q, RandomBytes(560), 17));
  std::vector<InboundJob> jobs(20), done(20 + Engine::kMaxInFlight);
  for (uint32_t k = 0; k < 20; ++k) {
    jobs[k] = InboundJob{};
    jobs[k].sa = &in.ctx->ctx;
    jobs[k].esp = pkts[k].data();
    jobs[k].len = k == 7 ? 4 : uint32_t(pkts[k].size());  // 7: truncated
    jobs[k].user_aux = k;
  }
  uint16_t nd = engine_.DecryptSubmit(jobs.data(), 20, done.data());
  size_t total = nd;
  bool saw_truncated = false;
  for (uint16_t k = 0; k < nd; ++k) {
    if (done[k].user_aux == 7) {
      EXPECT_EQ(done[k].verdict, Reason::k_esp_truncated);
      saw_truncated = true;
    }
  }
  EXPECT_TRUE(saw_truncated);
  if (engine_.InboundInFlight() != 0) {
    Bytes extra = OracleSeal(in.oracle, 100, RandomBytes(40), 17);
    InboundJob j{};
    j.sa = &in.ctx->ctx;
    j.esp = extra.data();
    j.len = uint32_t(extra.size());
    engine_.DecryptBurst(&j, 1);
    EXPECT_EQ(j.verdict, Reason::k_esp_crypto_error);
  }
  nd = engine_.DecryptDrain(done.data());
  total += nd;
  EXPECT_EQ(total, 20u);
  EXPECT_EQ(engine_.DecryptDrain(done.data()), 0);
  // Back to synchronous use once drained.
  Bytes again = OracleSeal(in.oracle, 21, RandomBytes(40), 17);
  InboundJob j{};
  j.sa = &in.ctx->ctx;
  j.esp = again.data();
  j.len = uint32_t(again.size());
  engine_.DecryptBurst(&j, 1);
  EXPECT_EQ(j.verdict, kOk);
}

// The zero-copy API (StageInbound / SubmitInbound / DrainInbound): jobs
// filled in the engine's ring come back in staging order as spans, each
// exactly once, across many wraps of the ring; jobs refused by the cheap
// checks (truncated, replayed) wait behind older jobs still in the lanes
// and never push the ring past its bound.
TEST_P(EspStream, ZeroCopyRingKeepsStagingOrder) {
  Sa in;
  MakeSa(&in, SaDir::kInbound, 0x4000);
  constexpr uint32_t kPackets = 3000;
  std::vector<Bytes> pkts;
  for (uint32_t q = 1; q <= kPackets; ++q) {
    pkts.push_back(OracleSeal(in.oracle, q, RandomBytes(PickLen(rng_)), 17));
  }
  // Replays in buffers of their own (jobs decrypt in place).
  std::vector<Bytes> dups(kPackets);
  for (uint32_t i = 41; i < kPackets; i += 3) dups[i] = pkts[i - 40];
  uint32_t staged = 0, returned = 0, ok = 0;
  auto take = [&](const InboundSpans& s) {
    for (int part = 0; part < 2; ++part) {
      for (uint16_t k = 0; k < s.n[part]; ++k) {
        const InboundJob& j = s.p[part][k];
        ASSERT_EQ(j.user_aux, returned);  // staging order
        ++returned;
        ASSERT_NE(j.verdict, kPending);
        const uint32_t id = j.user_aux / 2;
        if (j.user_aux % 2 == 1) {
          EXPECT_TRUE(j.verdict == Reason::k_esp_truncated ||
                      j.verdict == Reason::k_esp_replayed)
              << id;
        } else {
          EXPECT_EQ(j.verdict, kOk) << id;
          ok += j.verdict == kOk;
          EXPECT_EQ(j.seq, id + 1);
        }
      }
    }
  };
  uint32_t id = 0;
  while (id < kPackets) {
    const int burst = 1 + int(rng_() % 31);  // two jobs per packet
    for (int b = 0; b < burst && id < kPackets; ++b, ++id) {
      InboundJob* j = engine_.StageInbound();
      j->sa = &in.ctx->ctx;
      j->esp = pkts[id].data();
      j->len = uint32_t(pkts[id].size());
      j->user_aux = staged++;
      // A refused companion: truncated, or a replay of a packet already
      // accepted (refused by the pre-check).
      InboundJob* r = engine_.StageInbound();
      r->sa = &in.ctx->ctx;
      const bool dup = !dups[id].empty();
      r->esp = dup ? dups[id].data() : pkts[id].data();
      r->len = dup ? uint32_t(dups[id].size()) : 4;
      r->user_aux = staged++;
    }
    take(engine_.SubmitInbound());
    ASSERT_LE(engine_.InFlight(), uint32_t(Engine::kMaxInFlight));
    ASSERT_EQ(IMB_QUEUE_SIZE(engine_.mgr()), engine_.InboundInFlight());
  }
  take(engine_.DrainInbound());
  EXPECT_EQ(returned, staged);
  EXPECT_EQ(ok, kPackets);
  EXPECT_EQ(engine_.InFlight(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Validate, EspStream, ::testing::Bool());

}  // namespace
}  // namespace vpn::esp::test

// Independent oracle: for every algorithm combination, the engine's packets
// must open with OpenSSL and OpenSSL's packets must open with the engine,
// byte for byte, over many payload sizes and in bursts that cross the
// engine's internal chunk size.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <set>
#include <string>

#include "esp.h"
#include "esp_oracle.h"

namespace vpn::esp::test {
namespace {

struct Combo {
  shm::Cipher cipher;
  uint8_t key_len;
  shm::Integ integ;
  bool validate = false;  // Engine::Init(validate_jobs)
};

std::string ComboName(const ::testing::TestParamInfo<Combo>& info) {
  const Combo& c = info.param;
  static const char* kCipher[] = {"null", "AesCbc", "Des3Cbc", "DesCbc",
                                  "AesGcm"};
  static const char* kInteg[] = {"", "Sha1_96", "Sha256_128", "Sha384_192",
                                 "Sha512_256", "Sha256_96"};
  return std::string(kCipher[static_cast<int>(c.cipher)]) +
         std::to_string(c.key_len * 8) + kInteg[static_cast<int>(c.integ)] +
         (c.validate ? "_Validated" : "");
}

std::vector<Combo> AllCombos() {
  std::vector<Combo> out;
  const shm::Integ integs[] = {
      shm::Integ::kHmacSha1_96, shm::Integ::kHmacSha256_128,
      shm::Integ::kHmacSha384_192, shm::Integ::kHmacSha512_256,
      shm::Integ::kHmacSha256_96};
  for (shm::Integ i : integs) {
    for (uint8_t k : {16, 24, 32}) out.push_back({shm::Cipher::kAesCbc, k, i});
    out.push_back({shm::Cipher::kDes3Cbc, 24, i});
    out.push_back({shm::Cipher::kDesCbc, 8, i});
  }
  out.push_back({shm::Cipher::kAesGcm16, 16, shm::Integ::kNone});
  out.push_back({shm::Cipher::kAesGcm16, 32, shm::Integ::kNone});
  // Everything again with intel-ipsec-mb's own job validation on: an
  // invalid job would then show up as esp_crypto_error.
  const size_t n = out.size();
  for (size_t i = 0; i < n; ++i) {
    out.push_back(out[i]);
    out.back().validate = true;
  }
  return out;
}

// Payload sizes: every size up to 80 (all padding lengths for every block
// size), then boundaries around common MTUs, then random ones.
std::vector<uint32_t> Sizes(std::mt19937& rng) {
  std::vector<uint32_t> s;
  for (uint32_t i = 0; i <= 80; ++i) s.push_back(i);
  for (uint32_t v : {127u, 128u, 129u, 255u, 256u, 511u, 1000u, 1023u, 1024u,
                     1399u, 1400u, 1401u, 1438u, 1472u, 1500u, 4000u, 9000u,
                     16383u}) {
    s.push_back(v);
  }
  std::uniform_int_distribution<uint32_t> d(1, 2000);
  for (int i = 0; i < 40; ++i) s.push_back(d(rng));
  return s;
}

constexpr uint32_t kRoom = 64;  // head/tailroom the test buffers give

class EspOracle : public ::testing::TestWithParam<Combo> {
 protected:
  void SetUp() override {
    const Combo& c = GetParam();
    ASSERT_TRUE(engine_.Init(c.validate));
    FillRecord(&out_rec_, shm::SaDir::kOutbound, c.cipher, c.key_len, c.integ,
               0x10000001);
    FillRecord(&in_rec_, shm::SaDir::kInbound, c.cipher, c.key_len, c.integ,
               0x20000002, kMaxReplayWindow);
    ASSERT_EQ(InitSaContext(out_rec_, &out_->ctx), InitResult::kOk);
    ASSERT_EQ(InitSaContext(in_rec_, &in_->ctx), InitResult::kOk);
  }

  Engine engine_;
  shm::SaRecord out_rec_{}, in_rec_{};
  std::unique_ptr<AlignedSa> out_ = std::make_unique<AlignedSa>();
  std::unique_ptr<AlignedSa> in_ = std::make_unique<AlignedSa>();
};

TEST_P(EspOracle, EngineEncryptOpenSslDecrypts) {
  std::mt19937 rng(1234);
  const std::vector<uint32_t> sizes = Sizes(rng);
  const OracleSa oracle = OracleFromRecord(out_rec_);
  const size_t n = sizes.size();  // > Engine::kChunk: crosses chunks
  std::vector<Bytes> bufs(n), payloads(n);
  std::vector<OutboundJob> jobs(n);
  for (size_t i = 0; i < n; ++i) {
    payloads[i] = RandomBytes(sizes[i]);
    bufs[i].assign(kRoom + sizes[i] + kRoom, 0xEE);
    std::copy(payloads[i].begin(), payloads[i].end(), bufs[i].begin() + kRoom);
    OutboundJob& j = jobs[i];
    j = OutboundJob{};
    j.sa = &out_->ctx;
    j.payload = bufs[i].data() + kRoom;
    j.payload_len = sizes[i];
    j.headroom = kRoom;
    j.tailroom = kRoom;
    j.next_header = static_cast<uint8_t>(i % 3 == 0 ? 17 : i);
  }
  engine_.EncryptBurst(jobs.data(), static_cast<uint16_t>(n));

  std::set<Bytes> ivs;
  for (size_t i = 0; i < n; ++i) {
    SCOPED_TRACE("payload " + std::to_string(sizes[i]));
    const OutboundJob& j = jobs[i];
    ASSERT_EQ(j.verdict, kOk) << InfoOf(j.verdict).name;
    EXPECT_EQ(j.seq, i + 1);  // RFC 4303 3.3.3: starts at 1, no gaps
    ASSERT_EQ(j.esp, j.payload - EspHeadroom(out_->ctx));
    ASSERT_EQ(j.esp_len, EspPacketLen(out_->ctx, sizes[i]));
    // Nothing written outside [esp, esp + esp_len).
    const size_t start = static_cast<size_t>(j.esp - bufs[i].data());
    for (size_t b = 0; b < start; ++b) ASSERT_EQ(bufs[i][b], 0xEE);
    for (size_t b = start + j.esp_len; b < bufs[i].size(); ++b) {
      ASSERT_EQ(bufs[i][b], 0xEE);
    }
    const Opened o = OracleOpen(oracle, j.esp, j.esp_len);
    ASSERT_TRUE(o.ok) << o.error;
    EXPECT_EQ(o.spi, out_rec_.spi);
    EXPECT_EQ(o.seq, i + 1);
    EXPECT_EQ(o.payload, payloads[i]);
    EXPECT_EQ(o.next_header, j.next_header);
    if (GetParam().cipher == shm::Cipher::kAesGcm16) {
      // RFC 4106 3.1: our IV is the (unique) sequence number.
      Bytes expect_iv(8, 0);
      for (int b = 0; b < 4; ++b) expect_iv[4 + b] = uint8_t(j.seq >> (24 - 8 * b));
      EXPECT_EQ(o.iv, expect_iv);
    }
    ivs.insert(o.iv);
  }
  EXPECT_EQ(ivs.size(), n);  // no IV ever repeats
}

TEST_P(EspOracle, OpenSslEncryptEngineDecrypts) {
  std::mt19937 rng(99);
  const std::vector<uint32_t> sizes = Sizes(rng);
  const OracleSa oracle = OracleFromRecord(in_rec_);
  const size_t n = sizes.size();
  std::vector<Bytes> pkts(n), payloads(n);
  std::vector<InboundJob> jobs(n);
  // Sequence numbers out of order but inside the window, as a peer sending
  // from several cores would produce.
  std::vector<uint32_t> seqs(n);
  for (size_t i = 0; i < n; ++i) seqs[i] = static_cast<uint32_t>(i + 1);
  std::shuffle(seqs.begin(), seqs.end(), rng);
  for (size_t i = 0; i < n; ++i) {
    payloads[i] = RandomBytes(sizes[i]);
    pkts[i] = OracleSeal(oracle, seqs[i], payloads[i],
                         static_cast<uint8_t>(i % 3 == 0 ? 17 : i));
    jobs[i] = InboundJob{};
    jobs[i].sa = &in_->ctx;
    jobs[i].esp = pkts[i].data();
    jobs[i].len = static_cast<uint32_t>(pkts[i].size());
  }
  engine_.DecryptBurst(jobs.data(), static_cast<uint16_t>(n));
  for (size_t i = 0; i < n; ++i) {
    SCOPED_TRACE("payload " + std::to_string(sizes[i]));
    const InboundJob& j = jobs[i];
    ASSERT_EQ(j.verdict, kOk) << InfoOf(j.verdict).name;
    EXPECT_EQ(j.seq, seqs[i]);
    EXPECT_EQ(j.next_header, i % 3 == 0 ? 17 : static_cast<uint8_t>(i));
    ASSERT_EQ(j.payload, pkts[i].data() + EspHeadroom(in_->ctx));
    EXPECT_EQ(Bytes(j.payload, j.payload + j.payload_len), payloads[i]);
    EXPECT_EQ(j.events, 0);
  }
  EXPECT_EQ(in_->ctx.counters.packets.load(), n);
  uint64_t bytes = 0;
  for (uint32_t s : sizes) bytes += s;
  EXPECT_EQ(in_->ctx.counters.bytes.load(), bytes);

  // Replaying the whole set: every one refused, none decrypted.
  std::vector<Bytes> again(n);
  for (size_t i = 0; i < n; ++i) {
    again[i] = OracleSeal(oracle, seqs[i], payloads[i], 17);
    jobs[i].esp = again[i].data();
    jobs[i].len = static_cast<uint32_t>(again[i].size());
  }
  engine_.DecryptBurst(jobs.data(), static_cast<uint16_t>(n));
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(jobs[i].verdict, Reason::k_esp_replayed);
  }
}

// Engine to engine, both directions sharing keys, and mixed SAs in a burst.
TEST_P(EspOracle, EngineRoundTripMixedWithOtherSuite) {
  // A second, different SA pair (AES-128-CBC/SHA1) interleaved in the burst.
  shm::SaRecord other_out{}, other_in{};
  FillRecord(&other_out, shm::SaDir::kOutbound, shm::Cipher::kAesCbc, 16,
             shm::Integ::kHmacSha1_96, 0x30000003);
  std::unique_ptr<AlignedSa> o_out = std::make_unique<AlignedSa>();
  std::unique_ptr<AlignedSa> o_in = std::make_unique<AlignedSa>();
  ASSERT_EQ(InitSaContext(other_out, &o_out->ctx), InitResult::kOk);
  std::memcpy(&other_in.cipher_key, other_out.cipher_key, 32);
  FillRecord(&other_in, shm::SaDir::kInbound, shm::Cipher::kAesCbc, 16,
             shm::Integ::kHmacSha1_96, 0x30000003);
  std::memcpy(other_in.cipher_key, other_out.cipher_key, 32);
  std::memcpy(other_in.integ_key, other_out.integ_key, 64);
  ASSERT_EQ(InitSaContext(other_in, &o_in->ctx), InitResult::kOk);
  // Our inbound SA with the outbound keys.
  std::memcpy(in_rec_.cipher_key, out_rec_.cipher_key, 32);
  std::memcpy(in_rec_.integ_key, out_rec_.integ_key, 64);
  std::memcpy(in_rec_.salt, out_rec_.salt, 4);
  in_rec_.spi = out_rec_.spi;
  ASSERT_EQ(InitSaContext(in_rec_, &in_->ctx), InitResult::kOk);

  constexpr size_t n = 150;
  std::vector<Bytes> bufs(n), payloads(n);
  std::vector<OutboundJob> out(n);
  for (size_t i = 0; i < n; ++i) {
    payloads[i] = RandomBytes((i * 37) % 1500);
    bufs[i].assign(kRoom + payloads[i].size() + kRoom, 0);
    std::copy(payloads[i].begin(), payloads[i].end(), bufs[i].begin() + kRoom);
    out[i] = OutboundJob{};
    out[i].sa = (i % 3 == 1) ? &o_out->ctx : &out_->ctx;
    out[i].payload = bufs[i].data() + kRoom;
    out[i].payload_len = static_cast<uint32_t>(payloads[i].size());
    out[i].headroom = out[i].tailroom = kRoom;
    out[i].next_header = 17;
  }
  engine_.EncryptBurst(out.data(), n);
  std::vector<InboundJob> in(n);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(out[i].verdict, kOk);
    in[i] = InboundJob{};
    in[i].sa = (i % 3 == 1) ? &o_in->ctx : &in_->ctx;
    in[i].esp = out[i].esp;
    in[i].len = out[i].esp_len;
  }
  engine_.DecryptBurst(in.data(), n);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(in[i].verdict, kOk) << i << " " << InfoOf(in[i].verdict).name;
    EXPECT_EQ(Bytes(in[i].payload, in[i].payload + in[i].payload_len),
              payloads[i]);
    EXPECT_EQ(in[i].next_header, 17);
  }
}

INSTANTIATE_TEST_SUITE_P(AllAlgorithms, EspOracle,
                         ::testing::ValuesIn(AllCombos()), ComboName);

}  // namespace
}  // namespace vpn::esp::test

// The ESP engine's DecryptBurst (dataplane/esp) on arbitrary bytes with a
// fixed inbound SA, and on packets sealed by the independent OpenSSL oracle
// (esp/test/esp_oracle.h) from fuzzed plaintext (payload, padding, pad
// length, next header all chosen by the fuzzer), so the checks after the
// ICV (padding, lengths, replay, lifetimes) are reached.
//
// Setup byte: bits 0-1 suite (AES-128-CBC/HMAC-SHA1-96, AES-256-GCM-16,
// 3DES/HMAC-SHA1-96, AES-256-CBC/HMAC-SHA-256-128), bit 2 anti-replay
// window 64 (else off), bit 3 tiny lifetimes (soft 2, hard 4 packets).
// Records, kinds modulo 2: 0 raw ESP bytes (SPI onward); 1 sealed:
// seq(4) iv-byte(1) plaintext... All records form one burst.
//
// Oracle: a job the engine accepts must open with the oracle to the same
// payload and next header; with replay and lifetimes off, a packet the
// oracle opens (whole blocks) must be accepted.
#include <cstring>
#include <memory>
#include <vector>

#include "esp.h"
#include "esp_oracle.h"
#include "fuzz_common.h"
#include "records.h"

namespace vpn::esp {
namespace {

using fuzz::Cursor;
using fuzz::Record;
using fuzz::RecordReader;
using test::Bytes;

constexpr uint32_t kSpi = 0x0A5A0003;

void Fill(shm::SaRecord* rec, uint8_t setup) {
  static const struct {
    shm::Cipher cipher;
    uint8_t key_len;
    shm::Integ integ;
  } kSuites[] = {
      {shm::Cipher::kAesCbc, 16, shm::Integ::kHmacSha1_96},
      {shm::Cipher::kAesGcm16, 32, shm::Integ::kNone},
      {shm::Cipher::kDes3Cbc, 24, shm::Integ::kHmacSha1_96},
      {shm::Cipher::kAesCbc, 32, shm::Integ::kHmacSha256_128},
  };
  const auto& s = kSuites[setup & 3];
  test::FillRecord(rec, shm::SaDir::kInbound, s.cipher, s.key_len, s.integ, kSpi,
                   (setup & 4) ? 64 : 0);
  // Fixed keys: every run of an input behaves the same.
  for (int i = 0; i < 32; ++i) rec->cipher_key[i] = uint8_t(0x11 * (i + 1));
  for (int i = 0; i < 64; ++i) rec->integ_key[i] = uint8_t(0x07 * (i + 3));
  std::memcpy(rec->salt, "\x01\x02\x03\x04", 4);
  if (setup & 8) {
    rec->soft_packets = 2;
    rec->hard_packets = 4;
  }
}

Engine& TheEngine() {
  static Engine* e = [] {
    auto* x = new Engine();
    FUZZ_CHECK(x->Init(/*validate_jobs=*/true));
    return x;
  }();
  return *e;
}

void Run(RecordReader& in) {
  const uint8_t setup = in.Setup();
  shm::SaRecord rec{};
  Fill(&rec, setup);
  auto sa = std::make_unique<test::AlignedSa>();
  FUZZ_CHECK(InitSaContext(rec, &sa->ctx) == InitResult::kOk);
  const test::OracleSa oracle = test::OracleFromRecord(rec);
  const bool strict = !(setup & 0x0C);

  // Each packet in its own exact-size heap buffer, so ASan sees overreads.
  std::vector<std::unique_ptr<uint8_t[]>> bufs;
  std::vector<Bytes> originals;
  std::vector<InboundJob> jobs;
  Record r;
  while (in.Next(&r)) {
    Bytes pkt;
    if (r.kind % 2 == 0) {
      pkt.assign(r.data.begin(), r.data.end());
    } else {
      Cursor c(r.data);
      const uint32_t seq = c.U32();
      const Bytes iv(test::OracleIvLen(oracle), c.U8());
      auto pt = c.Rest();
      pkt = test::OracleSealRaw(oracle, seq, iv, Bytes(pt.begin(), pt.end()));
    }
    auto buf = std::make_unique<uint8_t[]>(pkt.size() + 1);
    if (!pkt.empty()) std::memcpy(buf.get(), pkt.data(), pkt.size());
    InboundJob j{};
    j.sa = &sa->ctx;
    j.esp = buf.get();
    j.len = uint32_t(pkt.size());
    jobs.push_back(j);
    bufs.push_back(std::move(buf));
    originals.push_back(std::move(pkt));
  }
  if (jobs.empty()) return;
  TheEngine().DecryptBurst(jobs.data(), uint16_t(jobs.size()));

  for (size_t i = 0; i < jobs.size(); ++i) {
    const InboundJob& j = jobs[i];
    const Bytes& pkt = originals[i];
    test::Opened o = test::OracleOpen(oracle, pkt.data(), pkt.size());
    if (j.verdict == kOk) {
      FUZZ_CHECK(o.ok);
      FUZZ_CHECK(j.next_header == o.next_header);
      FUZZ_CHECK(j.payload_len == o.payload.size());
      FUZZ_CHECK(j.payload >= j.esp && j.payload + j.payload_len <= j.esp + j.len);
      FUZZ_CHECK(j.payload_len == 0 || std::memcmp(j.payload, o.payload.data(), j.payload_len) == 0);
    } else if (strict && o.ok && o.spi == kSpi) {
      const size_t ct = pkt.size() - 8 - test::OracleIvLen(oracle) - test::OracleIcvLen(oracle);
      if (ct % test::OracleAlign(oracle) == 0) {
        std::fprintf(stderr, "engine refused (reason %u) a packet the oracle opens\n",
                     unsigned(j.verdict));
        FUZZ_CHECK(false);
      }
    }
  }
  WipeSaContext(&sa->ctx);
}

}  // namespace
}  // namespace vpn::esp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vpn::fuzz::QuietLogs();
  vpn::fuzz::RecordReader in({data, size});
  vpn::esp::Run(in);
  return 0;
}

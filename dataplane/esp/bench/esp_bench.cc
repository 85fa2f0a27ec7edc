// esp_bench: cycles per packet of the ESP engine against raw intel-ipsec-mb
// on the same buffers, on this core.
//
//   esp_bench [--trials N] [--bursts N] [--cpu N] [--json FILE]
//
// For each suite (AES-128-CBC + HMAC-SHA1-96, AES-128-GCM) and payload mix
// (64 B, 1400 B, IMIX 7:4:1 of 64/576/1400 B), bursts of 32:
//   raw-job   chained cipher+hash jobs via IMB_GET_NEXT_JOB/IMB_SUBMIT_JOB,
//             flushed at the end of each burst (crypto only: no header, IV,
//             padding, replay or ICV compare work);
//   raw-burst the same jobs via IMB_GET_NEXT_BURST/IMB_SUBMIT_BURST_NOCHECK
//             (what the engine uses: the strictest baseline);
//   engine    Engine::DecryptBurst / EncryptBurst.
// Decrypt runs restore the pristine packets before every burst (untimed) and
// reset the SA's replay window before every trial. Timing is rdtsc around
// the crypto call only; min and median over the trials. Cross-check: TSC
// ticks per thread-CPU ns over each whole trial (the TSC rate if the thread
// was never descheduled). Raw and engine trials are interleaved so that machine
// noise hits both alike.
#include <intel-ipsec-mb.h>
#include <sched.h>
#include <time.h>
#include <x86intrin.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "esp.h"

namespace vpn::esp::bench {
namespace {

constexpr uint32_t kBurst = 32;
constexpr uint32_t kRoom = 64;
constexpr uint32_t kBufSize = kRoom + 1500 + kRoom;

inline uint64_t Tsc() {
  _mm_lfence();
  const uint64_t t = __rdtsc();
  _mm_lfence();
  return t;
}

inline uint64_t ThreadNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// TSC rate against CLOCK_MONOTONIC over ~50 ms (TSC ticks are wall time).
double TscGhz() {
  timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  const uint64_t t0 = Tsc();
  do {
    clock_gettime(CLOCK_MONOTONIC, &b);
  } while ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec) < 5e7);
  const uint64_t t1 = Tsc();
  const double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
  return double(t1 - t0) / ns;
}

std::string CpuModel() {
  FILE* f = std::fopen("/proc/cpuinfo", "r");
  if (f == nullptr) return "?";
  char line[256];
  std::string model = "?";
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::strncmp(line, "model name", 10) == 0) {
      const char* colon = std::strchr(line, ':');
      if (colon != nullptr) model = colon + 2;
      if (!model.empty() && model.back() == '\n') model.pop_back();
      break;
    }
  }
  std::fclose(f);
  return model;
}

struct Options {
  int trials = 9;
  int bursts = 64;
  int cpu = -1;
  const char* json = nullptr;
};

struct Sample {
  double cycles_per_pkt;
  // Whole-trial TSC ticks per thread-CPU nanosecond: the TSC rate (2.79 here)
  // when the thread ran undisturbed, lower when it was descheduled.
  double tsc_per_cpu_ns;
};

struct Result {
  std::string suite, mix, op, impl;
  double esp_bytes_avg;
  double min_cycles, median_cycles, median_tsc_per_cpu_ns;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::vector<uint32_t> PayloadSizes(const std::string& mix, uint32_t n) {
  std::vector<uint32_t> s;
  if (mix == "imix") {
    // Simple IMIX 7:4:1 (64 / 576 / 1400 byte payloads), shuffled once.
    std::vector<uint32_t> pattern;
    for (int i = 0; i < 7; ++i) pattern.push_back(64);
    for (int i = 0; i < 4; ++i) pattern.push_back(576);
    pattern.push_back(1400);
    std::mt19937 rng(42);
    while (s.size() < n) {
      std::shuffle(pattern.begin(), pattern.end(), rng);
      s.insert(s.end(), pattern.begin(), pattern.end());
    }
    s.resize(n);
  } else {
    s.assign(n, static_cast<uint32_t>(std::stoul(mix)));
  }
  return s;
}

// One SA pair (same keys) for a suite, and its packets.
struct Setup {
  bool gcm;
  shm::SaRecord out_rec{}, in_rec{};
  std::unique_ptr<SaContext> out = std::make_unique<SaContext>();
  std::unique_ptr<SaContext> in = std::make_unique<SaContext>();
  // bursts x kBurst packets: pristine ESP packets and payload sizes.
  std::vector<std::vector<uint8_t>> pristine;
  std::vector<uint32_t> sizes;
  double esp_avg = 0;
};

void FillRecord(shm::SaRecord* r, shm::SaDir dir, bool gcm) {
  r->state = shm::SlotState::kActive;
  r->dir = dir;
  r->cipher = gcm ? shm::Cipher::kAesGcm16 : shm::Cipher::kAesCbc;
  r->integ = gcm ? shm::Integ::kNone : shm::Integ::kHmacSha1_96;
  r->spi = 0x12345678;
  r->cipher_key_len = 16;
  r->integ_key_len = gcm ? 0 : 20;
  r->replay_window = kDefaultReplayWindow;
  for (int i = 0; i < 32; ++i) r->cipher_key[i] = uint8_t(i * 7 + 1);
  for (int i = 0; i < 64; ++i) r->integ_key[i] = uint8_t(i * 13 + 5);
  for (int i = 0; i < 4; ++i) r->salt[i] = uint8_t(0xA0 + i);
}

bool BuildSetup(Engine& engine, bool gcm, const std::string& mix, int bursts,
                Setup* s) {
  s->gcm = gcm;
  FillRecord(&s->out_rec, shm::SaDir::kOutbound, gcm);
  FillRecord(&s->in_rec, shm::SaDir::kInbound, gcm);
  if (InitSaContext(s->out_rec, s->out.get()) != InitResult::kOk ||
      InitSaContext(s->in_rec, s->in.get()) != InitResult::kOk) {
    return false;
  }
  const uint32_t n = static_cast<uint32_t>(bursts) * kBurst;
  s->sizes = PayloadSizes(mix, n);
  s->pristine.assign(n, std::vector<uint8_t>(kBufSize, 0));
  std::vector<OutboundJob> jobs(kBurst);
  double total = 0;
  for (uint32_t b = 0; b < n; b += kBurst) {
    for (uint32_t i = 0; i < kBurst; ++i) {
      std::vector<uint8_t>& buf = s->pristine[b + i];
      for (uint32_t k = 0; k < s->sizes[b + i]; ++k) buf[kRoom + k] = uint8_t(k);
      jobs[i] = OutboundJob{};
      jobs[i].sa = s->out.get();
      jobs[i].payload = buf.data() + kRoom;
      jobs[i].payload_len = s->sizes[b + i];
      jobs[i].headroom = jobs[i].tailroom = kRoom;
      jobs[i].next_header = 17;
    }
    engine.EncryptBurst(jobs.data(), kBurst);
    for (uint32_t i = 0; i < kBurst; ++i) {
      if (jobs[i].verdict != kOk) return false;
      // Keep the packet at offset kRoom - headroom: store it from byte 0.
      std::vector<uint8_t>& buf = s->pristine[b + i];
      std::memmove(buf.data(), jobs[i].esp, jobs[i].esp_len);
      buf.resize(jobs[i].esp_len);
      total += jobs[i].esp_len;
    }
  }
  s->esp_avg = total / n;
  // Fresh outbound counters for the timed runs.
  return InitSaContext(s->out_rec, s->out.get()) == InitResult::kOk;
}

// Work buffers of one burst (kept hot, as in a worker).
struct Work {
  alignas(64) uint8_t buf[kBurst][kBufSize];
  alignas(64) uint8_t tag[kBurst][64];
  alignas(16) uint8_t iv[kBurst][16];
};

void Restore(const Setup& s, uint32_t first, Work* w) {
  for (uint32_t i = 0; i < kBurst; ++i) {
    const std::vector<uint8_t>& p = s.pristine[first + i];
    std::memcpy(w->buf[i], p.data(), p.size());
  }
}

// Chained crypto only, as a caller of intel-ipsec-mb with no ESP logic.
void FillRawJob(IMB_JOB* j, const Setup& s, const SaParams& p, uint8_t* esp,
                uint32_t esp_len, bool decrypt, uint8_t* tag, uint8_t* iv) {
  const uint32_t hdr = kEspHeaderLen + p.iv_len;
  const uint32_t ct = esp_len - hdr - p.icv_len;
  j->src = esp;
  j->dst = esp + hdr;
  j->cipher_start_src_offset_in_bytes = hdr;
  j->msg_len_to_cipher_in_bytes = ct;
  j->key_len_in_bytes = IMB_KEY_128_BYTES;
  j->enc_keys = p.enc_keys;
  j->dec_keys = p.dec_keys;
  j->cipher_direction = decrypt ? IMB_DIR_DECRYPT : IMB_DIR_ENCRYPT;
  j->chain_order = decrypt ? IMB_ORDER_HASH_CIPHER : IMB_ORDER_CIPHER_HASH;
  j->auth_tag_output = decrypt ? tag : esp + hdr + ct;
  j->auth_tag_output_len_in_bytes = p.icv_len;
  if (s.gcm) {
    std::memcpy(iv, p.salt, 4);
    std::memcpy(iv + 4, esp + 8, 8);
    j->cipher_mode = IMB_CIPHER_GCM;
    j->hash_alg = IMB_AUTH_AES_GMAC;
    j->iv = iv;
    j->iv_len_in_bytes = 12;
    j->u.GCM.aad = esp;
    j->u.GCM.aad_len_in_bytes = 8;
    j->hash_start_src_offset_in_bytes = hdr;
    j->msg_len_to_hash_in_bytes = ct;
  } else {
    j->cipher_mode = IMB_CIPHER_CBC;
    j->hash_alg = IMB_AUTH_HMAC_SHA_1;
    j->iv = esp + 8;
    j->iv_len_in_bytes = 16;
    j->u.HMAC._hashed_auth_key_xor_ipad = p.ipad_state;
    j->u.HMAC._hashed_auth_key_xor_opad = p.opad_state;
    j->hash_start_src_offset_in_bytes = 0;
    j->msg_len_to_hash_in_bytes = esp_len - p.icv_len;
  }
}

uint32_t RawBurstJobApi(IMB_MGR* m, const Setup& s, const SaParams& p,
                        Work* w, const uint32_t* lens, bool decrypt) {
  uint32_t done = 0;
  for (uint32_t i = 0; i < kBurst; ++i) {
    IMB_JOB* j = IMB_GET_NEXT_JOB(m);
    FillRawJob(j, s, p, w->buf[i], lens[i], decrypt, w->tag[i], w->iv[i]);
    for (j = IMB_SUBMIT_JOB(m); j != nullptr; j = IMB_GET_COMPLETED_JOB(m)) {
      done += j->status == IMB_STATUS_COMPLETED;
    }
  }
  for (IMB_JOB* j = IMB_FLUSH_JOB(m); j != nullptr; j = IMB_FLUSH_JOB(m)) {
    done += j->status == IMB_STATUS_COMPLETED;
  }
  return done;
}

uint32_t RawBurstBurstApi(IMB_MGR* m, const Setup& s, const SaParams& p,
                          Work* w, const uint32_t* lens, bool decrypt) {
  IMB_JOB* jobs[kBurst];
  const uint32_t got = IMB_GET_NEXT_BURST(m, kBurst, jobs);
  for (uint32_t i = 0; i < got; ++i) {
    FillRawJob(jobs[i], s, p, w->buf[i], lens[i], decrypt, w->tag[i], w->iv[i]);
  }
  uint32_t done = IMB_SUBMIT_BURST_NOCHECK(m, got, jobs);
  if (done < got) done += IMB_FLUSH_BURST(m, got - done, jobs);
  return done;
}

enum class Impl { kRawJob, kRawBurst, kEngine };

// One trial over all bursts; returns cycles and CPU ns per packet.
Sample Trial(Engine& engine, Setup& s, Work* w, bool decrypt, Impl impl) {
  const uint32_t n = static_cast<uint32_t>(s.pristine.size());
  uint64_t cycles = 0;
  const uint64_t trial_ns0 = ThreadNs();
  const uint64_t trial_tsc0 = Tsc();
  if (decrypt && impl == Impl::kEngine) {
    if (InitSaContext(s.in_rec, s.in.get()) != InitResult::kOk) std::abort();
  }
  const SaParams& p = decrypt ? s.in->params : s.out->params;
  InboundJob in[kBurst];
  OutboundJob out[kBurst];
  uint32_t lens[kBurst];
  for (uint32_t b = 0; b < n; b += kBurst) {
    if (decrypt) {
      Restore(s, b, w);
      for (uint32_t i = 0; i < kBurst; ++i) {
        lens[i] = static_cast<uint32_t>(s.pristine[b + i].size());
        in[i] = InboundJob{};
        in[i].sa = s.in.get();
        in[i].esp = w->buf[i];
        in[i].len = lens[i];
      }
    } else {
      for (uint32_t i = 0; i < kBurst; ++i) {
        lens[i] = static_cast<uint32_t>(s.pristine[b + i].size());
        out[i] = OutboundJob{};
        out[i].sa = s.out.get();
        out[i].payload = w->buf[i] + kRoom;
        out[i].payload_len = s.sizes[b + i];
        out[i].headroom = out[i].tailroom = kRoom;
        out[i].next_header = 17;
      }
    }
    const uint64_t t0 = Tsc();
    uint32_t ok = kBurst;
    switch (impl) {
      case Impl::kRawJob:
        ok = RawBurstJobApi(engine.mgr(), s, p, w, lens, decrypt);
        break;
      case Impl::kRawBurst:
        ok = RawBurstBurstApi(engine.mgr(), s, p, w, lens, decrypt);
        break;
      case Impl::kEngine:
        if (decrypt) {
          engine.DecryptBurst(in, kBurst);
        } else {
          engine.EncryptBurst(out, kBurst);
        }
        break;
    }
    cycles += Tsc() - t0;
    if (impl == Impl::kEngine) {
      for (uint32_t i = 0; i < kBurst; ++i) {
        const Reason v = decrypt ? in[i].verdict : out[i].verdict;
        if (v != kOk) {
          std::fprintf(stderr, "engine verdict %s\n",
                       std::string(InfoOf(v).name).c_str());
          std::abort();
        }
      }
    } else if (ok != kBurst) {
      std::fprintf(stderr, "raw jobs failed\n");
      std::abort();
    }
  }
  const double trial_tsc = double(Tsc() - trial_tsc0);
  const double trial_ns = double(ThreadNs() - trial_ns0);
  return {double(cycles) / n, trial_ns > 0 ? trial_tsc / trial_ns : 0};
}

}  // namespace
}  // namespace vpn::esp::bench

int main(int argc, char** argv) {
  using namespace vpn::esp;
  using namespace vpn::esp::bench;
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--json") opt.json = next();
    else if (a == "--trials") opt.trials = std::max(1, std::atoi(next()));
    else if (a == "--bursts") opt.bursts = std::max(1, std::atoi(next()));
    else if (a == "--cpu") opt.cpu = std::atoi(next());
    else {
      std::fprintf(stderr,
                   "usage: esp_bench [--trials N] [--bursts N] [--cpu N] "
                   "[--json FILE]\n");
      return 2;
    }
  }
  const int cpu = opt.cpu >= 0 ? opt.cpu : sched_getcpu();
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    std::fprintf(stderr, "warning: could not pin to cpu %d\n", cpu);
  }

  auto engine = std::make_unique<Engine>();
  if (!engine->Init()) {
    std::fprintf(stderr, "Engine::Init failed\n");
    return 1;
  }
  auto work = std::make_unique<Work>();
  std::vector<Result> results;
  const double tsc_ghz = TscGhz();
  const std::string model = CpuModel();
  std::printf("esp_bench: %s, cpu %d, TSC %.3f GHz, intel-ipsec-mb %s (%s), "
              "burst %u, %d trials x %d bursts\n\n",
              model.c_str(), cpu, tsc_ghz, IMB_VERSION_STR,
              engine->ArchName(), kBurst, opt.trials, opt.bursts);

  struct SuiteDef {
    const char* name;
    bool gcm;
  };
  const SuiteDef suites[] = {{"aes128-cbc-hmac-sha1-96", false},
                             {"aes128-gcm-16", true}};
  const char* mixes[] = {"64", "1400", "imix"};
  const char* impl_names[] = {"raw-job", "raw-burst", "engine"};
  for (const SuiteDef& sd : suites) {
    for (const char* mix : mixes) {
      Setup setup;
      if (!BuildSetup(*engine, sd.gcm, mix, opt.bursts, &setup)) {
        std::fprintf(stderr, "setup failed\n");
        return 1;
      }
      for (bool decrypt : {true, false}) {
        std::vector<Sample> samples[3];
        // Warm-up, then interleaved trials.
        for (int impl = 0; impl < 3; ++impl) {
          Trial(*engine, setup, work.get(), decrypt, Impl(impl));
        }
        for (int t = 0; t < opt.trials; ++t) {
          for (int impl = 0; impl < 3; ++impl) {
            samples[impl].push_back(
                Trial(*engine, setup, work.get(), decrypt, Impl(impl)));
          }
        }
        for (int impl = 0; impl < 3; ++impl) {
          std::vector<double> c, ns;
          for (const Sample& s : samples[impl]) {
            c.push_back(s.cycles_per_pkt);
            ns.push_back(s.tsc_per_cpu_ns);
          }
          results.push_back({sd.name, mix, decrypt ? "decrypt" : "encrypt",
                             impl_names[impl], setup.esp_avg,
                             *std::min_element(c.begin(), c.end()), Median(c),
                             Median(ns)});
        }
      }
    }
  }

  std::printf("| suite | payload | op | ESP bytes (avg) | raw-job min / med "
              "| raw-burst min / med | engine min / med | engine / raw-job "
              "(med) | engine / raw-burst (med) |\n");
  std::printf("|---|---|---|---:|---:|---:|---:|---:|---:|\n");
  for (size_t i = 0; i + 2 < results.size(); i += 3) {
    const Result& rj = results[i];
    const Result& rb = results[i + 1];
    const Result& en = results[i + 2];
    std::printf("| %s | %s | %s | %.0f | %.0f / %.0f | %.0f / %.0f | %.0f / "
                "%.0f | %.3f | %.3f |\n",
                rj.suite.c_str(), rj.mix.c_str(), rj.op.c_str(),
                rj.esp_bytes_avg, rj.min_cycles, rj.median_cycles,
                rb.min_cycles, rb.median_cycles, en.min_cycles,
                en.median_cycles, en.median_cycles / rj.median_cycles,
                en.median_cycles / rb.median_cycles);
  }
  std::printf("\ncycles/packet (rdtsc, TSC ticks). --json adds tsc_per_cpu_ns "
              "(whole trial: ~TSC GHz if never descheduled).\n");

  if (opt.json != nullptr) {
    FILE* f = std::fopen(opt.json, "w");
    if (f == nullptr) {
      std::perror(opt.json);
      return 1;
    }
    std::fprintf(f, "[\n");
    for (size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      std::fprintf(f,
                   "  {\"suite\": \"%s\", \"payload\": \"%s\", \"op\": \"%s\", "
                   "\"impl\": \"%s\", \"burst\": %u, \"trials\": %d, "
                   "\"esp_bytes_avg\": %.1f, \"min_cycles_per_pkt\": %.1f, "
                   "\"median_cycles_per_pkt\": %.1f, "
                   "\"median_tsc_per_cpu_ns\": %.3f, \"tsc_ghz\": %.3f, "
                   "\"arch\": \"%s\"}%s\n",
                   r.suite.c_str(), r.mix.c_str(), r.op.c_str(),
                   r.impl.c_str(), kBurst, opt.trials, r.esp_bytes_avg,
                   r.min_cycles, r.median_cycles, r.median_tsc_per_cpu_ns,
                   tsc_ghz, engine->ArchName(), i + 1 < results.size() ? "," : "");
    }
    std::fprintf(f, "]\n");
    std::fclose(f);
  }
  return 0;
}

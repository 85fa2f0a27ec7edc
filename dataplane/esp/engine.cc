// The per-worker ESP engine: bursts of jobs in, intel-ipsec-mb bursts out.
//
// Per chunk of up to kChunk jobs:
//   1. cheap checks per job (lengths, SPI, anti-replay pre-check, expiry);
//   2. outbound: per-SA reservation of sequence numbers and lifetime counts
//      (one fetch_add per SA), then header/IV/padding/trailer writes;
//   3. one IMB_GET_NEXT_BURST / IMB_SUBMIT_BURST round, jobs filled by a
//      template per Suite (no per-packet indirect calls); synchronous calls
//      then IMB_FLUSH_BURST, streaming ones leave the rest in the lanes;
//   4. completions, which intel-ipsec-mb returns in submission order:
//      inbound ICV compare (constant time), replay window update, padding;
//   5. inbound: per-SA lifetime accounting of the packets that verified.
#include <intel-ipsec-mb.h>
#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "esp.h"
#include "hmac_pads.h"
#include "imb_queue.h"
#include "lifetime.h"
#include "replay.h"

namespace vpn::esp {

namespace {

using detail::FlushImb;
using detail::JobSlot;
using detail::MakeRoom;
using detail::SubmitImb;
using detail::Uniform;

inline uint32_t LoadBe32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}

inline void StoreBe32(uint8_t* p, uint32_t v) {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Compares without an early exit, so the time taken does not tell a forger
// how many leading ICV bytes were right. Every ICV length we support (12, 16,
// 24, 32) is a multiple of 4.
inline bool ConstantTimeEqual(const uint8_t* a, const uint8_t* b, uint32_t n) {
  uint64_t diff = 0;
  uint32_t i = 0;
  for (; i + 8 <= n; i += 8) diff |= Load64(a + i) ^ Load64(b + i);
  for (; i + 4 <= n; i += 4) diff |= Load32(a + i) ^ Load32(b + i);
  return diff == 0;
}

// RFC 4303 2.4: padding bytes are 1, 2, 3, ... (up to 255 of them).
struct PadTable {
  uint8_t bytes[256 + 8];
  constexpr PadTable() : bytes() {
    for (int i = 0; i < 256 + 8; ++i) bytes[i] = static_cast<uint8_t>(i + 1);
  }
};
constexpr PadTable kPad;
const uint8_t* const kPadBytes = kPad.bytes;

// pad[0..len) == 1, 2, ..., len. Data is authenticated by now: no need for
// constant time, but word compares keep it cheap.
inline bool PaddingValid(const uint8_t* pad, uint32_t len) {
  uint64_t diff = 0;
  if (len >= 8) {
    for (uint32_t i = 0; i + 8 <= len; i += 8) {
      diff |= Load64(pad + i) ^ Load64(kPadBytes + i);
    }
    // The last (possibly overlapping) word covers the tail.
    diff |= Load64(pad + len - 8) ^ Load64(kPadBytes + len - 8);
  } else if (len >= 4) {
    diff = (Load32(pad) ^ Load32(kPadBytes)) |
           (Load32(pad + len - 4) ^ Load32(kPadBytes + len - 4));
  } else {
    for (uint32_t i = 0; i < len; ++i) diff |= pad[i] ^ kPadBytes[i];
  }
  return diff == 0;
}

template <Suite S>
struct Traits;
template <>
struct Traits<Suite::kAesCbcHmac> {
  static constexpr IMB_CIPHER_MODE kMode = IMB_CIPHER_CBC;
  static constexpr uint32_t kIvLen = 16, kAlign = 16;
  static constexpr bool kAead = false;
};
template <>
struct Traits<Suite::kDes3CbcHmac> {
  static constexpr IMB_CIPHER_MODE kMode = IMB_CIPHER_DES3;
  static constexpr uint32_t kIvLen = 8, kAlign = 8;
  static constexpr bool kAead = false;
};
template <>
struct Traits<Suite::kDesCbcHmac> {
  static constexpr IMB_CIPHER_MODE kMode = IMB_CIPHER_DES;
  static constexpr uint32_t kIvLen = 8, kAlign = 8;
  static constexpr bool kAead = false;
};
template <>
struct Traits<Suite::kAesGcm> {
  static constexpr IMB_CIPHER_MODE kMode = IMB_CIPHER_GCM;
  static constexpr uint32_t kIvLen = 8, kAlign = 4;
  static constexpr bool kAead = true;
};

// Common IMB_JOB fields. hdr = ESP header + IV, ct_len = bytes encrypted.
template <Suite S>
inline void FillCommon(IMB_JOB* j, const SaParams& p, uint8_t* esp,
                       uint32_t ct_len, JobSlot& slot) {
  using T = Traits<S>;
  constexpr uint32_t hdr = kEspHeaderLen + T::kIvLen;
  j->src = esp;
  j->dst = esp + hdr;
  j->cipher_start_src_offset_in_bytes = hdr;
  j->msg_len_to_cipher_in_bytes = ct_len;
  j->cipher_mode = T::kMode;
  j->key_len_in_bytes = p.key_len;
  j->enc_keys = p.enc_keys;
  j->dec_keys = p.dec_keys;
  j->auth_tag_output_len_in_bytes = p.imb_tag_len;
  if constexpr (T::kAead) {
    // RFC 4106 4: nonce = salt || explicit IV; 5: AAD = SPI || seq (no ESN).
    std::memcpy(slot.iv, p.salt, 4);
    std::memcpy(slot.iv + 4, esp + kEspHeaderLen, 8);
    j->iv = slot.iv;
    j->iv_len_in_bytes = 12;
    j->hash_alg = IMB_AUTH_AES_GMAC;
    j->u.GCM.aad = esp;
    j->u.GCM.aad_len_in_bytes = kEspHeaderLen;
    j->hash_start_src_offset_in_bytes = hdr;
    j->msg_len_to_hash_in_bytes = ct_len;
  } else {
    // RFC 4303 2.8 / 3.3.4: the ICV covers SPI through the ciphertext.
    j->iv = esp + kEspHeaderLen;
    j->iv_len_in_bytes = T::kIvLen;
    j->hash_alg = static_cast<IMB_HASH_ALG>(p.imb_hash);
    j->u.HMAC._hashed_auth_key_xor_ipad = p.ipad_state;
    j->u.HMAC._hashed_auth_key_xor_opad = p.opad_state;
    j->hash_start_src_offset_in_bytes = 0;
    j->msg_len_to_hash_in_bytes = hdr + ct_len;
  }
}

template <Suite S>
inline void FillDecrypt(IMB_JOB* j, InboundJob& job, JobSlot& slot) {
  const SaParams& p = job.sa->params;
  constexpr uint32_t hdr = kEspHeaderLen + Traits<S>::kIvLen;
  FillCommon<S>(j, p, job.esp, job.len - hdr - p.icv_len, slot);
  // Verify the ICV over the ciphertext, then decrypt in place.
  j->cipher_direction = IMB_DIR_DECRYPT;
  j->chain_order = IMB_ORDER_HASH_CIPHER;
  j->auth_tag_output = slot.tag;
}

template <Suite S>
inline void FillEncrypt(IMB_JOB* j, OutboundJob& job, JobSlot& slot,
                        const uint8_t* cbc_iv) {
  using T = Traits<S>;
  const SaParams& p = job.sa->params;
  constexpr uint32_t hdr = kEspHeaderLen + T::kIvLen;
  uint8_t* esp = job.payload - hdr;
  StoreBe32(esp, p.spi);
  StoreBe32(esp + 4, job.seq);
  if constexpr (T::kAead) {
    // RFC 4106 3.1: the IV must never repeat under a key; the sequence
    // number is unique per SA (no ESN, so the high half is zero).
    StoreBe32(esp + kEspHeaderLen, 0);
    StoreBe32(esp + kEspHeaderLen + 4, job.seq);
  } else {
    std::memcpy(esp + kEspHeaderLen, cbc_iv, T::kIvLen);
  }
  uint8_t* trailer = job.payload + job.payload_len;
  const uint32_t pad =
      (T::kAlign - (job.payload_len + kEspTrailerLen) % T::kAlign) % T::kAlign;
  std::memcpy(trailer, kPadBytes, pad);
  trailer[pad] = static_cast<uint8_t>(pad);
  trailer[pad + 1] = job.next_header;
  const uint32_t ct_len = job.payload_len + pad + kEspTrailerLen;
  uint8_t* icv = trailer + pad + kEspTrailerLen;
  job.esp = esp;
  job.esp_len = hdr + ct_len + p.icv_len;

  FillCommon<S>(j, p, esp, ct_len, slot);
  j->cipher_direction = IMB_DIR_ENCRYPT;
  j->chain_order = IMB_ORDER_CIPHER_HASH;
  // Truncated tags intel-ipsec-mb cannot produce (SHA-256-96) go through the
  // slot and are copied on completion.
  j->auth_tag_output = p.imb_tag_len == p.icv_len ? icv : slot.tag;
}

void CompleteDecrypt(IMB_JOB* j) {
  detail::InRec& rec = *static_cast<detail::InRec*>(j->user_data);
  InboundJob& job = rec.job;
  const JobSlot& slot = rec.slot;
  if (j->status != IMB_STATUS_COMPLETED) {
    job.verdict = Reason::k_esp_crypto_error;
    return;
  }
  SaContext& sa = *job.sa;
  const SaParams& p = sa.params;
  if (!ConstantTimeEqual(slot.tag, job.esp + job.len - p.icv_len, p.icv_len)) {
    job.verdict = Reason::k_esp_bad_icv;
    return;
  }
  // Authentic: now, and only now, the window moves (RFC 4303 3.4.3).
  const Reason replay = detail::ReplayCheck(p, sa.replay, job.seq);
  if (replay != kOk) {
    job.verdict = replay;
    return;
  }
  detail::ReplayAccept(p, sa.replay, job.seq);

  uint8_t* pt = job.esp + kEspHeaderLen + p.iv_len;
  const uint32_t pt_len = job.len - kEspHeaderLen - p.iv_len - p.icv_len;
  const uint32_t pad_len = pt[pt_len - 2];
  job.next_header = pt[pt_len - 1];
  if (pad_len + kEspTrailerLen > pt_len) {
    job.verdict = Reason::k_esp_bad_padding;
    return;
  }
  // RFC 4303 2.4: the receiver SHOULD check the 1, 2, 3, ... pattern.
  if (!PaddingValid(pt + pt_len - kEspTrailerLen - pad_len, pad_len)) {
    job.verdict = Reason::k_esp_bad_padding;
    return;
  }
  job.payload = pt;
  job.payload_len = pt_len - kEspTrailerLen - pad_len;
  job.verdict = kOk;
}

void CompleteEncrypt(IMB_JOB* j) {
  detail::OutRec& rec = *static_cast<detail::OutRec*>(j->user_data);
  OutboundJob& job = rec.job;
  if (j->status != IMB_STATUS_COMPLETED) {
    job.verdict = Reason::k_esp_crypto_error;
    return;
  }
  const SaParams& p = job.sa->params;
  uint8_t* icv = job.esp + job.esp_len - p.icv_len;
  if (j->auth_tag_output != icv) std::memcpy(icv, rec.slot.tag, p.icv_len);
  job.verdict = kOk;
}

// The engine's record of an intel-ipsec-mb job: same index in the queue.
template <class Rec>
Rec& RecOf(IMB_MGR* m, Rec* recs, IMB_JOB* j) {
  return recs[j - m->jobs];
}
// A completed job's record: user_data was set to it at submission (cheaper
// than the index, a division by sizeof(IMB_JOB)).
template <class Rec>
Rec& DoneRec(IMB_JOB* j) {
  return *static_cast<Rec*>(j->user_data);
}

// Checks that need no crypto. false: verdict set, job not submitted.
bool PrecheckInbound(InboundJob& job) {
  job.events = 0;
  job.next_header = 0;
  job.seq = 0;
  job.payload = nullptr;
  job.payload_len = 0;
  job.verdict = kOk;
  SaContext* sa = job.sa;
  if (sa == nullptr || sa->params.suite == kInvalidSuite ||
      sa->params.dir != shm::SaDir::kInbound) {
    job.verdict = Reason::k_esp_crypto_error;
    return false;
  }
  const SaParams& p = sa->params;
  if (job.len < kEspHeaderLen) {
    job.verdict = Reason::k_esp_truncated;
    return false;
  }
  if (job.esp == nullptr) {
    job.verdict = Reason::k_esp_crypto_error;
    return false;
  }
  // The SA was found from the SPI's index bits; the full SPI (with its random
  // check bits, shm_abi.h MakeSpi) must match too.
  if (LoadBe32(job.esp) != p.spi) {
    job.verdict = Reason::k_esp_unknown_spi;
    return false;
  }
  job.seq = LoadBe32(job.esp + 4);
  const uint32_t overhead = kEspHeaderLen + p.iv_len + p.icv_len;
  if (job.len < overhead + kEspTrailerLen) {
    job.verdict = Reason::k_esp_truncated;
    return false;
  }
  const uint32_t ct_len = job.len - overhead;
  // RFC 4303 2.4 / RFC 3602 3: CBC ciphertext is whole blocks.
  if (job.len > 65535 ||
      (p.suite != Suite::kAesGcm && ct_len % p.pad_align != 0)) {
    job.verdict = Reason::k_esp_bad_length;
    return false;
  }
  const Reason replay = detail::ReplayCheck(p, sa->replay, job.seq);
  if (replay != kOk) {
    job.verdict = replay;
    return false;
  }
  if (detail::HardExpired(*sa)) {
    detail::ClaimEvent(*sa, kEventHardLifetime, &job.events);
    job.verdict = Reason::k_esp_lifetime_expired;
    return false;
  }
  return true;
}

bool PrecheckOutbound(OutboundJob& job) {
  job.events = 0;
  job.seq = 0;
  job.esp = nullptr;
  job.esp_len = 0;
  job.verdict = kOk;
  const SaContext* sa = job.sa;
  if (sa == nullptr || job.payload == nullptr ||
      sa->params.suite == kInvalidSuite ||
      sa->params.dir != shm::SaDir::kOutbound ||
      job.headroom < EspHeadroom(*sa) ||
      job.payload_len > kMaxEspLen ||
      job.tailroom < EspTailroom(*sa, job.payload_len) ||
      EspPacketLen(*sa, job.payload_len) > kMaxEspLen) {
    job.verdict = Reason::k_esp_crypto_error;  // the caller's bug: no room
    return false;
  }
  return true;
}

}  // namespace

Engine::~Engine() {
  if (in_.mgr != nullptr) free_mb_mgr(in_.mgr);
  if (out_.mgr != nullptr) free_mb_mgr(out_.mgr);
  if (iv_mgr_ != nullptr) free_mb_mgr(iv_mgr_);
  delete[] in_.recs;
  delete[] out_.recs;
  detail::SecureZero(iv_key_enc_, sizeof(iv_key_enc_));
  detail::SecureZero(iv_key_dec_, sizeof(iv_key_dec_));
  detail::SecureZero(iv_buf_, sizeof(iv_buf_));
}

namespace {

IMB_MGR* NewMgr() {
  IMB_MGR* m = alloc_mb_mgr(0);
  if (m == nullptr) return nullptr;
  IMB_ARCH arch = IMB_ARCH_NONE;
  init_mb_mgr_auto(m, &arch);
  if (imb_get_errno(m) != 0 || arch == IMB_ARCH_NONE) {
    free_mb_mgr(m);
    return nullptr;
  }
  return m;
}

}  // namespace

bool Engine::Init(bool validate_jobs) {
  validate_jobs_ = validate_jobs;
  if (in_.mgr != nullptr) return true;
  uint8_t seed[24];
  size_t got = 0;
  while (got < sizeof(seed)) {
    const ssize_t r = getrandom(seed + got, sizeof(seed) - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  IMB_MGR* in = NewMgr();
  IMB_MGR* out = NewMgr();
  IMB_MGR* iv = NewMgr();
  auto* in_recs = new (std::nothrow) detail::InRec[IMB_MAX_JOBS];
  auto* out_recs = new (std::nothrow) detail::OutRec[IMB_MAX_JOBS];
  if (in == nullptr || out == nullptr || iv == nullptr || in_recs == nullptr ||
      out_recs == nullptr) {
    for (IMB_MGR* m : {in, out, iv}) {
      if (m != nullptr) free_mb_mgr(m);
    }
    delete[] in_recs;
    delete[] out_recs;
    detail::SecureZero(seed, sizeof(seed));
    return false;
  }
  IMB_AES_KEYEXP_128(iv, seed, iv_key_enc_, iv_key_dec_);
  std::memcpy(&iv_nonce_, seed + 16, sizeof(iv_nonce_));
  detail::SecureZero(seed, sizeof(seed));
  in_ = {in, in_recs, 0};
  out_ = {out, out_recs, 0};
  iv_mgr_ = iv;
  return true;
}

const char* Engine::ArchName() const {
  if (in_.mgr == nullptr) return "none";
  switch (in_.mgr->used_arch) {
    case IMB_ARCH_NOAESNI: return "noaesni";
    case IMB_ARCH_SSE: return "sse";
    case IMB_ARCH_AVX: return "avx";
    case IMB_ARCH_AVX2: return "avx2";
    case IMB_ARCH_AVX512: return "avx512";
    default: return "unknown";
  }
}

// n unpredictable 16-byte IVs, consecutive (esp.h, iv_buf_): refills the
// whole batch with one ECB job when fewer than n are left, on a manager of
// its own (the outbound one may hold jobs in flight). nullptr if
// intel-ipsec-mb failed (then no CBC packet may be sent).
const uint8_t* Engine::TakeCbcIvs(uint16_t n) {
  if (iv_left_ < n) {
    for (uint32_t i = 0; i < kIvBatch; ++i) {
      const uint64_t ctr = iv_counter_++;
      std::memcpy(iv_buf_ + 16 * i, &iv_nonce_, 8);
      std::memcpy(iv_buf_ + 16 * i + 8, &ctr, 8);
    }
    IMB_JOB* j = IMB_GET_NEXT_JOB(iv_mgr_);
    j->cipher_mode = IMB_CIPHER_ECB;
    j->cipher_direction = IMB_DIR_ENCRYPT;
    j->chain_order = IMB_ORDER_CIPHER_HASH;
    j->hash_alg = IMB_AUTH_NULL;
    j->key_len_in_bytes = IMB_KEY_128_BYTES;
    j->enc_keys = iv_key_enc_;
    j->dec_keys = iv_key_dec_;
    j->src = iv_buf_;
    j->dst = iv_buf_;  // in place: ECB works block by block
    j->cipher_start_src_offset_in_bytes = 0;
    j->msg_len_to_cipher_in_bytes = sizeof(iv_buf_);
    j->iv = nullptr;
    j->iv_len_in_bytes = 0;
    j->user_data = nullptr;
    IMB_JOB* done = IMB_SUBMIT_JOB(iv_mgr_);
    if (done == nullptr) done = IMB_FLUSH_JOB(iv_mgr_);
    if (done == nullptr || done->status != IMB_STATUS_COMPLETED) {
      iv_left_ = 0;
      return nullptr;
    }
    iv_left_ = kIvBatch;
  }
  const uint8_t* iv = iv_buf_ + 16 * (kIvBatch - iv_left_);
  iv_left_ -= n;
  return iv;
}

// --- Synchronous API ---------------------------------------------------------

void Engine::DecryptBurst(InboundJob* jobs, uint16_t n) {
  if (in_.in_flight != 0) {
    for (uint16_t i = 0; i < n; ++i) jobs[i].verdict = Reason::k_esp_crypto_error;
    return;
  }
  IMB_JOB* out[kMaxInFlight + kChunk];
  while (n > 0) {
    const uint16_t c = n < kChunk ? n : kChunk;
    DecryptChunk(jobs, c, /*sync=*/true, nullptr);
    FinishDecrypt(out, FlushImb(in_.mgr, in_.in_flight, out), nullptr);
    jobs += c;
    n -= c;
  }
}

void Engine::EncryptBurst(OutboundJob* jobs, uint16_t n) {
  if (out_.in_flight != 0) {
    for (uint16_t i = 0; i < n; ++i) jobs[i].verdict = Reason::k_esp_crypto_error;
    return;
  }
  IMB_JOB* out[kMaxInFlight + kChunk];
  while (n > 0) {
    const uint16_t c = n < kChunk ? n : kChunk;
    EncryptChunk(jobs, c, /*sync=*/true, nullptr);
    FinishEncrypt(out, FlushImb(out_.mgr, out_.in_flight, out), nullptr);
    jobs += c;
    n -= c;
  }
}

// --- Streaming API -----------------------------------------------------------

uint16_t Engine::DecryptSubmit(InboundJob* jobs, uint16_t n, InboundJob* done) {
  uint16_t nd = 0;
  while (n > 0) {
    const uint16_t c = n < kChunk ? n : kChunk;
    nd += DecryptChunk(jobs, c, /*sync=*/false, done + nd);
    jobs += c;
    n -= c;
  }
  return nd;
}

uint16_t Engine::EncryptSubmit(OutboundJob* jobs, uint16_t n, OutboundJob* done) {
  uint16_t nd = 0;
  while (n > 0) {
    const uint16_t c = n < kChunk ? n : kChunk;
    nd += EncryptChunk(jobs, c, /*sync=*/false, done + nd);
    jobs += c;
    n -= c;
  }
  return nd;
}

uint16_t Engine::DecryptDrain(InboundJob* done) {
  if (in_.in_flight == 0) return 0;
  IMB_JOB* out[kMaxInFlight];
  return FinishDecrypt(out, FlushImb(in_.mgr, in_.in_flight, out), done);
}

uint16_t Engine::EncryptDrain(OutboundJob* done) {
  if (out_.in_flight == 0) return 0;
  IMB_JOB* out[kMaxInFlight];
  return FinishEncrypt(out, FlushImb(out_.mgr, out_.in_flight, out), done);
}

// --- Per chunk ---------------------------------------------------------------

// Completions of intel-ipsec-mb jobs, in submission order: ICV, replay
// window, padding (CompleteDecrypt), then lifetimes, which count
// authenticated packets only. The SA is the owner worker's (esp.h), so the
// counts are plain loads and stores per packet (lifetime.h CountInbound).
// Results go back to the caller's job (synchronous) or into done[].
uint16_t Engine::FinishDecrypt(IMB_JOB** completed, uint32_t n, InboundJob* done) {
  if (n == 0) return 0;
  in_.in_flight -= n;
  uint16_t nd = 0;
  for (uint32_t i = 0; i < n; ++i) {
    CompleteDecrypt(completed[i]);
    detail::InRec& rec = DoneRec<detail::InRec>(completed[i]);
    InboundJob& job = rec.job;
    if (job.verdict == kOk) {
      job.verdict = detail::CountInbound(*job.sa, job.payload_len, &job.events);
    }
    if (rec.home != nullptr) {
      *rec.home = job;
    } else {
      done[nd++] = job;
    }
  }
  return nd;
}

uint16_t Engine::FinishEncrypt(IMB_JOB** completed, uint32_t n, OutboundJob* done) {
  if (n == 0) return 0;
  out_.in_flight -= n;
  uint16_t nd = 0;
  for (uint32_t i = 0; i < n; ++i) {
    CompleteEncrypt(completed[i]);
    detail::OutRec& rec = DoneRec<detail::OutRec>(completed[i]);
    if (rec.home != nullptr) {
      *rec.home = rec.job;
    } else {
      done[nd++] = rec.job;
    }
  }
  return nd;
}

uint16_t Engine::DecryptChunk(InboundJob* jobs, uint16_t n, bool sync, InboundJob* done) {
  // Two stages: prefetch every SA of the chunk, then check and fill, so the
  // misses of many SAs overlap instead of stalling one packet at a time.
  for (uint16_t i = 0; i < n; ++i) {
    if (jobs[i].sa != nullptr && (i == 0 || jobs[i].sa != jobs[i - 1].sa)) {
      PrefetchSaContext(jobs[i].sa, /*decrypt=*/true);
    }
  }
  uint16_t nd = 0;
  uint16_t todo[kChunk];
  uint16_t m = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (PrecheckInbound(jobs[i])) {
      todo[m++] = i;
    } else if (!sync) {
      done[nd++] = jobs[i];
    }
  }
  if (m == 0) return nd;

  IMB_JOB* out[kMaxInFlight + kChunk];
  uint32_t n_out = 0;
  n_out = MakeRoom(in_.mgr, in_.in_flight, m, out);
  IMB_JOB* imb[kChunk];
  const uint32_t got = IMB_GET_NEXT_BURST(in_.mgr, m, imb);
  for (uint32_t k = got; k < m; ++k) {
    InboundJob& job = jobs[todo[k]];
    job.verdict = Reason::k_esp_crypto_error;  // queue full: cannot happen
    if (!sync) done[nd++] = job;
  }
  for (uint32_t k = 0; k < got; ++k) {
    detail::InRec& rec = RecOf(in_.mgr, in_.recs, imb[k]);
    rec.job = jobs[todo[k]];
    rec.home = sync ? &jobs[todo[k]] : nullptr;
    imb[k]->user_data = &rec;
    switch (rec.job.sa->params.suite) {
      case Suite::kAesCbcHmac:
        FillDecrypt<Suite::kAesCbcHmac>(imb[k], rec.job, rec.slot);
        break;
      case Suite::kDes3CbcHmac:
        FillDecrypt<Suite::kDes3CbcHmac>(imb[k], rec.job, rec.slot);
        break;
      case Suite::kDesCbcHmac:
        FillDecrypt<Suite::kDesCbcHmac>(imb[k], rec.job, rec.slot);
        break;
      case Suite::kAesGcm:
      default:
        FillDecrypt<Suite::kAesGcm>(imb[k], rec.job, rec.slot);
        break;
    }
  }
  in_.in_flight += got;
  n_out += SubmitImb(in_.mgr, validate_jobs_, imb, got, out + n_out);
  if (!sync && got != 0 && Uniform(imb, got)) {
    n_out += FlushImb(in_.mgr, in_.in_flight - n_out, out + n_out);
  }
  return nd + FinishDecrypt(out, n_out, sync ? nullptr : done + nd);
}

uint16_t Engine::EncryptChunk(OutboundJob* jobs, uint16_t n, bool sync, OutboundJob* done) {
  for (uint16_t i = 0; i < n; ++i) {
    if (jobs[i].sa != nullptr && (i == 0 || jobs[i].sa != jobs[i - 1].sa)) {
      PrefetchSaContext(jobs[i].sa, /*decrypt=*/false);
    }
  }
  uint16_t nd = 0;
  auto refuse = [&](OutboundJob& job) {
    if (!sync) done[nd++] = job;
  };
  detail::SaGroups groups;
  uint16_t group_of[kChunk];
  uint16_t valid[kChunk];
  uint16_t m = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (!PrecheckOutbound(jobs[i])) {
      refuse(jobs[i]);
      continue;
    }
    group_of[i] = groups.Add(jobs[i].sa, jobs[i].payload_len);
    valid[m++] = i;
  }
  if (m == 0) return nd;
  // Sequence numbers and byte counts for the whole chunk, one atomic
  // fetch_add each per SA: unique per SA whatever worker sends.
  groups.Reserve();

  uint16_t todo[kChunk];
  uint16_t t = 0;
  uint16_t n_cbc = 0;
  for (uint16_t k = 0; k < m; ++k) {
    OutboundJob& job = jobs[valid[k]];
    uint64_t seq, packets_before, bytes_before;
    groups.Next(group_of[valid[k]], job.payload_len, &seq, &packets_before,
                &bytes_before);
    // RFC 4303 3.3.3: without ESN the counter must not cycle; the SA must
    // be rekeyed before 2^32 - 1 is passed.
    if (seq > UINT32_MAX) {
      detail::ClaimEvent(*job.sa, kEventSeqOverflow, &job.events);
      job.verdict = Reason::k_esp_seq_overflow;
      refuse(job);
      continue;
    }
    job.verdict = detail::LifetimeStep(*job.sa, packets_before, bytes_before,
                                       job.payload_len, &job.events);
    if (job.verdict != kOk) {
      refuse(job);
      continue;
    }
    job.seq = static_cast<uint32_t>(seq);
    todo[t++] = valid[k];
    if (job.sa->params.suite != Suite::kAesGcm) ++n_cbc;
  }
  if (t == 0) return nd;
  const uint8_t* iv = n_cbc != 0 ? TakeCbcIvs(n_cbc) : nullptr;
  if (n_cbc != 0 && iv == nullptr) {
    uint16_t kept = 0;
    for (uint16_t k = 0; k < t; ++k) {
      OutboundJob& job = jobs[todo[k]];
      if (job.sa->params.suite == Suite::kAesGcm) {
        todo[kept++] = todo[k];
      } else {
        job.verdict = Reason::k_esp_crypto_error;
        refuse(job);
      }
    }
    t = kept;
    if (t == 0) return nd;
  }

  IMB_JOB* out[kMaxInFlight + kChunk];
  uint32_t n_out = 0;
  n_out = MakeRoom(out_.mgr, out_.in_flight, t, out);
  IMB_JOB* imb[kChunk];
  const uint32_t got = IMB_GET_NEXT_BURST(out_.mgr, t, imb);
  for (uint32_t k = got; k < t; ++k) {
    OutboundJob& job = jobs[todo[k]];
    job.verdict = Reason::k_esp_crypto_error;
    refuse(job);
  }
  for (uint32_t k = 0; k < got; ++k) {
    detail::OutRec& rec = RecOf(out_.mgr, out_.recs, imb[k]);
    rec.job = jobs[todo[k]];
    rec.home = sync ? &jobs[todo[k]] : nullptr;
    imb[k]->user_data = &rec;
    switch (rec.job.sa->params.suite) {
      case Suite::kAesCbcHmac:
        FillEncrypt<Suite::kAesCbcHmac>(imb[k], rec.job, rec.slot, iv);
        iv += 16;
        break;
      case Suite::kDes3CbcHmac:
        FillEncrypt<Suite::kDes3CbcHmac>(imb[k], rec.job, rec.slot, iv);
        iv += 16;
        break;
      case Suite::kDesCbcHmac:
        FillEncrypt<Suite::kDesCbcHmac>(imb[k], rec.job, rec.slot, iv);
        iv += 16;
        break;
      case Suite::kAesGcm:
      default:
        FillEncrypt<Suite::kAesGcm>(imb[k], rec.job, rec.slot, nullptr);
        break;
    }
  }
  out_.in_flight += got;
  n_out += SubmitImb(out_.mgr, validate_jobs_, imb, got, out + n_out);
  if (!sync && got != 0 && Uniform(imb, got)) {
    n_out += FlushImb(out_.mgr, out_.in_flight - n_out, out + n_out);
  }
  return nd + FinishEncrypt(out, n_out, sync ? nullptr : done + nd);
}

}  // namespace vpn::esp

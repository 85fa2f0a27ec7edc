// The per-worker ESP engine: rings of jobs in, intel-ipsec-mb bursts out.
//
// Per submission of up to kChunk staged jobs, all in place in the ring:
//   1. prefetch the SA contexts, then cheap checks per job (lengths, SPI,
//      anti-replay pre-check, expiry); refused jobs get their verdict;
//   2. outbound: per-SA reservation of sequence numbers and bytes (one
//      fetch_add each per SA), then header/IV/padding/trailer writes;
//   3. one IMB_GET_NEXT_BURST / IMB_SUBMIT_BURST round, jobs filled by a
//      template per Suite (job_ops.h); a submission of equal lengths is
//      flushed at once, others stay in the lanes;
//   4. completions, which intel-ipsec-mb returns in submission order, are
//      finished in place: inbound ICV compare (constant time), replay window
//      update, padding, lifetime count (job_ops.h CompleteDecrypt);
//   5. the finished prefix of the ring goes back as spans (no copies).
#include <intel-ipsec-mb.h>
#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "esp.h"
#include "hmac_pads.h"
#include "imb_queue.h"
#include "job_ops.h"
#include "lifetime.h"

namespace vpn::esp {

namespace {

using detail::FlushImb;
using detail::JobSlot;
using detail::MakeRoom;
using detail::Ring;
using detail::SubmitImb;
using detail::Uniform;

constexpr uint32_t kMask = Engine::kRing - 1;
static_assert((Engine::kRing & kMask) == 0, "kRing: a power of two");
// Held after a submission (at most kMaxInFlight, else everything is
// completed) plus the next submission's staged jobs.
static_assert(Engine::kMaxInFlight + Engine::kMaxStaged <= Engine::kRing);

// The finished prefix of [ret, sub), handed back as up to two spans (the
// ring wraps). A job refused before submission waits here behind older
// jobs still in intel-ipsec-mb, so per SA the caller sees staging order.
template <class Job>
JobSpans<Job> Collect(Ring<Job>& r) {
  uint32_t e = r.ret;
  while (e != r.sub && r.jobs[e & kMask].verdict != kPending) ++e;
  const uint32_t a = r.ret & kMask;
  const uint32_t n = e - r.ret;
  const uint32_t first = n < Engine::kRing - a ? n : Engine::kRing - a;
  r.ret = e;
  // Nothing held or staged: restart at entry 0, so steady bursts reuse the
  // same cache-hot entries instead of walking 256 jobs and slots (34 KB)
  // through L1 next to 1400-byte packets. The spans stay valid: entries are
  // only rewritten by the next Stage.
  if (e == r.head) r.head = r.sub = r.ret = 0;
  return {{r.jobs + a, r.jobs}, {uint16_t(first), uint16_t(n - first)}};
}

template <class Job>
void StageCopy(Job* slot, const Job& job) {
  *slot = job;
  slot->verdict = kPending;
}

template <class Job>
uint16_t CopyOut(const JobSpans<Job>& s, Job* done) {
  std::memcpy(done, s.p[0], s.n[0] * sizeof(Job));
  std::memcpy(done + s.n[0], s.p[1], s.n[1] * sizeof(Job));
  return uint16_t(s.size());
}

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

template <class Job>
void FreeRing(Ring<Job>& r) {
  if (r.mgr != nullptr) free_mb_mgr(r.mgr);
  delete[] r.jobs;
  delete[] r.slots;
  r = Ring<Job>{};
}

template <class Job>
bool NewRing(Ring<Job>& r) {
  r.mgr = NewMgr();
  r.jobs = new (std::nothrow) Job[Engine::kRing];
  r.slots = new (std::nothrow) JobSlot[Engine::kRing];
  return r.mgr != nullptr && r.jobs != nullptr && r.slots != nullptr;
}

}  // namespace

Engine::~Engine() {
  FreeRing(in_);
  FreeRing(out_);
  if (iv_mgr_ != nullptr) free_mb_mgr(iv_mgr_);
  detail::SecureZero(iv_key_enc_, sizeof(iv_key_enc_));
  detail::SecureZero(iv_key_dec_, sizeof(iv_key_dec_));
  detail::SecureZero(iv_buf_, sizeof(iv_buf_));
}

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
  iv_mgr_ = NewMgr();
  if (!NewRing(in_) || !NewRing(out_) || iv_mgr_ == nullptr) {
    FreeRing(in_);
    FreeRing(out_);
    if (iv_mgr_ != nullptr) free_mb_mgr(iv_mgr_);
    iv_mgr_ = nullptr;
    detail::SecureZero(seed, sizeof(seed));
    return false;
  }
  IMB_AES_KEYEXP_128(iv_mgr_, seed, iv_key_enc_, iv_key_dec_);
  std::memcpy(&iv_nonce_, seed + 16, sizeof(iv_nonce_));
  detail::SecureZero(seed, sizeof(seed));
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

// --- Completions ---------------------------------------------------------------

void Engine::FinishDecrypt(IMB_JOB** completed, uint32_t n) {
  in_.imb -= n;
  for (uint32_t i = 0; i < n; ++i) detail::CompleteDecrypt(completed[i]);
}

void Engine::FinishEncrypt(IMB_JOB** completed, uint32_t n) {
  out_.imb -= n;
  for (uint32_t i = 0; i < n; ++i) detail::CompleteEncrypt(completed[i]);
}

// --- Submissions -----------------------------------------------------------------

// The SA contexts of the staged jobs [sub, head), each once per run of
// jobs on the same SA.
template <class Job>
void TouchSubmission(const Ring<Job>& r) {
  const SaContext* prev = nullptr;
  uint64_t sum = 0;
  for (uint32_t i = r.sub; i != r.head; ++i) {
    const SaContext* sa = r.jobs[i & kMask].sa;
    if (sa != nullptr && sa != prev) sum += TouchSaContext(sa);
    prev = sa;
  }
  asm volatile("" : : "r"(sum));  // the loads are the point
}

void Engine::SubmitStagedIn() {
  Ring<InboundJob>& r = in_;
  const uint32_t n = r.head - r.sub;
  if (n == 0) return;
  // Two stages: load every SA of the submission (TouchSaContext), then
  // check and fill, so the misses of many SAs overlap instead of stalling
  // one at a time inside intel-ipsec-mb.
  TouchSubmission(r);
  uint16_t todo[kChunk];
  uint32_t m = 0;
  for (uint32_t i = r.sub; i != r.head; ++i) {
    if (detail::PrecheckInbound(r.jobs[i & kMask])) todo[m++] = uint16_t(i & kMask);
  }
  r.sub = r.head;
  if (m == 0) return;

  IMB_JOB* out[kMaxInFlight + kChunk];
  FinishDecrypt(out, MakeRoom(r.mgr, r.imb, m, out));
  IMB_JOB* imb[kChunk];
  const uint32_t got = IMB_GET_NEXT_BURST(r.mgr, m, imb);
  for (uint32_t k = got; k < m; ++k) {
    r.jobs[todo[k]].verdict = Reason::k_esp_crypto_error;  // cannot happen
  }
  for (uint32_t k = 0; k < got; ++k) {
    InboundJob& job = r.jobs[todo[k]];
    JobSlot& slot = r.slots[todo[k]];
    imb[k]->user_data = &job;
    imb[k]->user_data2 = &slot;
    switch (job.sa->params.suite) {
      case Suite::kAesCbcHmac:
        if (job.sa->params.cbc_sha1_96) {
          detail::FillDecrypt<Suite::kAesCbcHmac, true>(imb[k], job, slot);
        } else {
          detail::FillDecrypt<Suite::kAesCbcHmac>(imb[k], job, slot);
        }
        break;
      case Suite::kDes3CbcHmac:
        detail::FillDecrypt<Suite::kDes3CbcHmac>(imb[k], job, slot);
        break;
      case Suite::kDesCbcHmac:
        detail::FillDecrypt<Suite::kDesCbcHmac>(imb[k], job, slot);
        break;
      case Suite::kAesGcm:
      default:
        detail::FillDecrypt<Suite::kAesGcm>(imb[k], job, slot);
        break;
    }
  }
  r.imb += got;
  uint32_t n_out = SubmitImb(r.mgr, validate_jobs_, imb, got, out);
  if (got != 0 && Uniform(imb, got)) {
    n_out += FlushImb(r.mgr, r.imb - n_out, out + n_out);
  }
  FinishDecrypt(out, n_out);
}

void Engine::SubmitStagedOut() {
  Ring<OutboundJob>& r = out_;
  const uint32_t n = r.head - r.sub;
  if (n == 0) return;
  TouchSubmission(r);  // as SubmitStagedIn
  detail::SaGroups groups;
  uint16_t group_of[kChunk];
  uint16_t valid[kChunk];
  uint32_t m = 0;
  for (uint32_t i = r.sub; i != r.head; ++i) {
    OutboundJob& job = r.jobs[i & kMask];
    if (!detail::PrecheckOutbound(job)) continue;
    group_of[m] = groups.Add(job.sa, job.payload_len);
    valid[m++] = uint16_t(i & kMask);
  }
  r.sub = r.head;
  if (m == 0) return;
  // Sequence numbers and byte counts for the whole submission, one atomic
  // fetch_add each per SA: unique per SA whatever worker sends.
  groups.Reserve();

  uint16_t todo[kChunk];
  uint32_t t = 0;
  uint16_t n_cbc = 0;
  for (uint32_t k = 0; k < m; ++k) {
    OutboundJob& job = r.jobs[valid[k]];
    uint64_t seq, packets_before, bytes_before;
    groups.Next(group_of[k], job.payload_len, &seq, &packets_before, &bytes_before);
    // RFC 4303 3.3.3: without ESN the counter must not cycle; the SA must
    // be rekeyed before 2^32 - 1 is passed.
    if (seq > UINT32_MAX) {
      detail::ClaimEvent(*job.sa, kEventSeqOverflow, &job.events);
      job.verdict = Reason::k_esp_seq_overflow;
      continue;
    }
    const Reason life =
        detail::LifetimeStep(*job.sa, packets_before, bytes_before, job.payload_len, &job.events);
    if (life != kOk) {
      job.verdict = life;
      continue;
    }
    job.seq = static_cast<uint32_t>(seq);
    todo[t++] = valid[k];
    if (job.sa->params.suite != Suite::kAesGcm) ++n_cbc;
  }
  if (t == 0) return;
  const uint8_t* iv = n_cbc != 0 ? TakeCbcIvs(n_cbc) : nullptr;
  if (n_cbc != 0 && iv == nullptr) {
    uint32_t kept = 0;
    for (uint32_t k = 0; k < t; ++k) {
      OutboundJob& job = r.jobs[todo[k]];
      if (job.sa->params.suite == Suite::kAesGcm) {
        todo[kept++] = todo[k];
      } else {
        job.verdict = Reason::k_esp_crypto_error;
      }
    }
    t = kept;
    if (t == 0) return;
  }

  IMB_JOB* out[kMaxInFlight + kChunk];
  FinishEncrypt(out, MakeRoom(r.mgr, r.imb, t, out));
  IMB_JOB* imb[kChunk];
  const uint32_t got = IMB_GET_NEXT_BURST(r.mgr, t, imb);
  for (uint32_t k = got; k < t; ++k) r.jobs[todo[k]].verdict = Reason::k_esp_crypto_error;
  for (uint32_t k = 0; k < got; ++k) {
    OutboundJob& job = r.jobs[todo[k]];
    JobSlot& slot = r.slots[todo[k]];
    imb[k]->user_data = &job;
    imb[k]->user_data2 = &slot;
    switch (job.sa->params.suite) {
      case Suite::kAesCbcHmac:
        if (job.sa->params.cbc_sha1_96) {
          detail::FillEncrypt<Suite::kAesCbcHmac, true>(imb[k], job, slot, iv);
        } else {
          detail::FillEncrypt<Suite::kAesCbcHmac>(imb[k], job, slot, iv);
        }
        iv += 16;
        break;
      case Suite::kDes3CbcHmac:
        detail::FillEncrypt<Suite::kDes3CbcHmac>(imb[k], job, slot, iv);
        iv += 16;
        break;
      case Suite::kDesCbcHmac:
        detail::FillEncrypt<Suite::kDesCbcHmac>(imb[k], job, slot, iv);
        iv += 16;
        break;
      case Suite::kAesGcm:
      default:
        detail::FillEncrypt<Suite::kAesGcm>(imb[k], job, slot, nullptr);
        break;
    }
  }
  r.imb += got;
  uint32_t n_out = SubmitImb(r.mgr, validate_jobs_, imb, got, out);
  if (got != 0 && Uniform(imb, got)) {
    n_out += FlushImb(r.mgr, r.imb - n_out, out + n_out);
  }
  FinishEncrypt(out, n_out);
}

// --- Streaming without copies ----------------------------------------------------

InboundSpans Engine::SubmitInbound() {
  SubmitStagedIn();
  // Keep room for the next kMaxStaged: finished jobs may wait behind one
  // still in intel-ipsec-mb (refused ones), so bound what is held.
  if (in_.sub - in_.ret > kMaxInFlight) {
    IMB_JOB* out[kMaxInFlight];
    FinishDecrypt(out, FlushImb(in_.mgr, in_.imb, out));
  }
  return Collect(in_);
}

InboundSpans Engine::DrainInbound() {
  SubmitStagedIn();
  IMB_JOB* out[kMaxInFlight];
  FinishDecrypt(out, FlushImb(in_.mgr, in_.imb, out));
  return Collect(in_);
}

OutboundSpans Engine::SubmitOutbound() {
  SubmitStagedOut();
  if (out_.sub - out_.ret > kMaxInFlight) {
    IMB_JOB* out[kMaxInFlight];
    FinishEncrypt(out, FlushImb(out_.mgr, out_.imb, out));
  }
  return Collect(out_);
}

OutboundSpans Engine::SubmitOutbound(const OutboundJob* jobs, uint16_t n) {
  for (uint16_t i = 0; i < n; ++i) StageCopy(StageOutbound(), jobs[i]);
  return SubmitOutbound();
}

OutboundSpans Engine::DrainOutbound() {
  SubmitStagedOut();
  IMB_JOB* out[kMaxInFlight];
  FinishEncrypt(out, FlushImb(out_.mgr, out_.imb, out));
  return Collect(out_);
}

// --- Copying API ---------------------------------------------------------------

void Engine::DecryptBurst(InboundJob* jobs, uint16_t n) {
  if (in_.head != in_.ret) {
    for (uint16_t i = 0; i < n; ++i) jobs[i].verdict = Reason::k_esp_crypto_error;
    return;
  }
  while (n > 0) {
    const uint16_t c = n < kMaxStaged ? n : kMaxStaged;
    for (uint16_t i = 0; i < c; ++i) StageCopy(StageInbound(), jobs[i]);
    // Nothing was held before: the c jobs come back together, in order.
    CopyOut(DrainInbound(), jobs);
    jobs += c;
    n -= c;
  }
}

void Engine::EncryptBurst(OutboundJob* jobs, uint16_t n) {
  if (out_.head != out_.ret) {
    for (uint16_t i = 0; i < n; ++i) jobs[i].verdict = Reason::k_esp_crypto_error;
    return;
  }
  while (n > 0) {
    const uint16_t c = n < kMaxStaged ? n : kMaxStaged;
    for (uint16_t i = 0; i < c; ++i) StageCopy(StageOutbound(), jobs[i]);
    CopyOut(DrainOutbound(), jobs);
    jobs += c;
    n -= c;
  }
}

uint16_t Engine::DecryptSubmit(const InboundJob* jobs, uint16_t n, InboundJob* done) {
  uint16_t nd = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (StagedInbound() == kMaxStaged) nd += CopyOut(SubmitInbound(), done + nd);
    StageCopy(StageInbound(), jobs[i]);
  }
  return nd + CopyOut(SubmitInbound(), done + nd);
}

uint16_t Engine::EncryptSubmit(const OutboundJob* jobs, uint16_t n, OutboundJob* done) {
  uint16_t nd = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (StagedOutbound() == kMaxStaged) nd += CopyOut(SubmitOutbound(), done + nd);
    StageCopy(StageOutbound(), jobs[i]);
  }
  return nd + CopyOut(SubmitOutbound(), done + nd);
}

uint16_t Engine::DecryptDrain(InboundJob* done) { return CopyOut(DrainInbound(), done); }

uint16_t Engine::EncryptDrain(OutboundJob* done) { return CopyOut(DrainOutbound(), done); }

}  // namespace vpn::esp

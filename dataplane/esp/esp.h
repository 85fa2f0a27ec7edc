// ESP (RFC 4303) transport-mode crypto engine for the dataplane workers.
//
// Built on intel-ipsec-mb 1.3, independent of DPDK: it works on byte buffers
// (pointer + length), so the dataplane passes rte_pktmbuf data pointers and
// the tests run without EAL.
//
// Objects and threads
//   SaContext  one per ESP SA. InitSaContext() fills it from a shm::SaRecord
//              on a non-worker thread (housekeeping/installer) BEFORE any
//              worker sees the pointer (publish it with a release store).
//              It holds self-referencing key pointers: never copy or move it;
//              construct it in place (placement new into 64-byte aligned
//              memory such as rte_zmalloc(..., 64)) and free it only after
//              every worker passed a quiescent point (shm_abi.h kFreePending).
//   Engine     one per worker thread; owns an IMB_MGR. Not thread-safe.
//
// Concurrency contract (the dataplane MUST follow it)
//   * Inbound SA: its replay window and lifetime counts are written without
//     atomic read-modify-writes, so each inbound SA must be processed by ONE
//     worker at a time (e.g. RSS/flow steering by SPI, or a fixed owner
//     worker per SA). Two workers decrypting on the same inbound SaContext
//     concurrently is a data race.
//   * Outbound SA: any number of workers may encrypt on the same SaContext.
//     Each submission reserves its sequence numbers and bytes with one
//     atomic fetch_add each per SA, so numbers are unique per SA whatever
//     core sends (RFC 4303 section 3.3.3); packets of one SA sent from two
//     cores may leave out of order, which the peer's replay window absorbs.
//   * Soft/hard/overflow events fire once per SA (see Event; claimed with an
//     atomic fetch_or).
//
// Key material layouts (AES-GCM's precomputed tables) depend on the
// intel-ipsec-mb code path; InitSaContext and every Engine both pick it with
// init_mb_mgr_auto, so they agree inside one process.
//
// Per-packet path: no allocation, no locks, no syscalls, no logging.
//
// Typical use (inbound; the dataplane workers use the zero-copy streaming
// calls instead, see Engine):
//   InboundJob jobs[32];                 // one per ESP packet of the burst
//   jobs[i] = {sa, esp_hdr_ptr, esp_len_through_icv, mbuf};
//   engine.DecryptBurst(jobs, n);
//   if (jobs[i].verdict != kOk) count(jobs[i].verdict), drop;
//   else payload = [jobs[i].payload, +payload_len), check next_header (17);
//   if (jobs[i].events) punt kSaSoftLifetime / kSaHardLifetime once.
// Outbound: build the UDP/L2TP payload with EspHeadroom() bytes free before
// it and EspTailroom() after it, EncryptBurst, then prepend the outer
// IPv4 (+UDP 4500 for NAT-T) header in front of jobs[i].esp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "vpn/reasons.h"
#include "vpn/shm_abi.h"

struct IMB_MGR;  // intel-ipsec-mb; its header stays out of ours (it defines
                 // macros such as SHA1, DES, GCM).
struct IMB_JOB;

namespace vpn::esp {

// Verdict of a job that succeeded. Any other value is the esp_* drop reason
// to count (vpn::Reason, drop_reasons.def).
inline constexpr Reason kOk = Reason::kCount;

// --- Sizes -----------------------------------------------------------------

inline constexpr uint32_t kEspHeaderLen = 8;   // SPI + sequence (RFC 4303 2)
inline constexpr uint32_t kEspTrailerLen = 2;  // pad length + next header
inline constexpr uint32_t kMaxIvLen = 16;
inline constexpr uint32_t kMaxIcvLen = 32;     // HMAC-SHA2-512-256
inline constexpr uint32_t kMaxBlockSize = 16;
// Upper bounds over every supported algorithm, for buffer planning.
inline constexpr uint32_t kMaxHeadroom = kEspHeaderLen + kMaxIvLen;  // 24
inline constexpr uint32_t kMaxTailroom =
    (kMaxBlockSize - 1) + kEspTrailerLen + kMaxIcvLen;              // 49
// A job whose ESP packet would exceed this is refused (IPv4 total length).
inline constexpr uint32_t kMaxEspLen = 65535 - 20 - 8;

// Anti-replay window in packets (RFC 4303 3.4.3). SaRecord::replay_window
// gives it per SA: 0 disables anti-replay, otherwise 1..kMaxReplayWindow.
// kDefaultReplayWindow is what the control plane should put in the record.
inline constexpr uint32_t kDefaultReplayWindow = 1024;
inline constexpr uint32_t kMaxReplayWindow = 4096;

// Job output flags: events to punt to the control plane, each set on exactly
// one job per SA over the SA's life.
enum Event : uint8_t {
  kEventSoftLifetime = 0x01,  // punt shm::PuntKind::kSaSoftLifetime
  kEventHardLifetime = 0x02,  // punt shm::PuntKind::kSaHardLifetime
  kEventSeqOverflow = 0x04,   // punt shm::PuntKind::kSaSeqOverflow
};

// --- SA context --------------------------------------------------------------

enum class InitResult : uint8_t {
  kOk = 0,
  kUnsupportedCipher,     // kNull, unknown value
  kBadCipherKeyLength,
  kUnsupportedInteg,      // unknown value, none with CBC, HMAC with GCM
  kBadIntegKeyLength,
  kWeakCipherRefused,     // DES/3DES without shm::kSaFlagAllowWeak
  kEsnUnsupported,        // shm::kSaFlagEsn: IKEv1 has no ESN
  kBadReplayWindow,       // > kMaxReplayWindow
  kCryptoInitFailed,      // intel-ipsec-mb manager or key schedule failed
};
const char* InitResultName(InitResult r);

// The engine's internal dispatch key: one template instantiation each.
enum class Suite : uint8_t {
  kAesCbcHmac = 0,
  kDes3CbcHmac = 1,
  kDesCbcHmac = 2,
  kAesGcm = 3,
  kInvalid = 0xFF,  // not initialised, or InitSaContext failed
};
inline constexpr Suite kInvalidSuite = Suite::kInvalid;

// Read-only after InitSaContext and shared by every worker, except
// events_fired (written at most three times over the SA's life).
//
// Cache lines per packet matter with many SAs (docs/perf.md): with 100k
// sessions every line an SA's packet touches is a miss. The first 240 bytes
// (AES-128) or 304 (AES-192/256) hold everything an AES-CBC + HMAC-SHA-1 SA
// reads per packet, contiguously: line 0 the scalars and the two HMAC-SHA-1
// states, then the key schedule of the SA's direction (an SA only ever
// decrypts or only encrypts, so the other schedule is not kept). Other
// suites keep their material in the cold part behind it, reached through
// pointers.
//
// Neither HMAC state may straddle a line: with the outer state across lines
// 0 and 1 (as until session 9) an outbound packet at 100k sessions cost
// ~100 cycles (12 %) more, with no more lines read (docs/perf.md).
struct alignas(64) SaParams {
  // --- [0, 24): per-packet scalars ---
  Suite suite = kInvalidSuite;
  shm::SaDir dir;
  shm::Cipher cipher;
  shm::Integ integ;
  uint8_t iv_len;        // bytes on the wire: 16 AES-CBC, 8 DES/3DES/GCM
  uint8_t icv_len;       // bytes on the wire
  uint8_t pad_align;     // ESP payload+pad+trailer multiple of this:
                         // cipher block (16/8), 4 for GCM (RFC 4303 2.4)
  uint8_t imb_tag_len;   // tag length asked from intel-ipsec-mb (>= icv_len)
  uint8_t key_len;       // cipher key bytes (IMB_KEY_SIZE_BYTES for AES)
  uint8_t imb_cipher;    // IMB_CIPHER_MODE
  uint8_t imb_hash;      // IMB_HASH_ALG
  uint8_t flags;         // shm::kSaFlag*
  uint32_t spi;          // host order
  uint16_t replay_window;     // 0 = anti-replay off; <= kMaxReplayWindow
  uint16_t replay_word_mask;  // ring words - 1 (power of two)
  // AES-CBC (any key size) + HMAC-SHA1-96: the engine's constant-geometry
  // instantiation (job_ops.h Geo<true>) handles it.
  uint8_t cbc_sha1_96;
  // Lifetime events already reported (Event bits, claimed with fetch_or):
  // rare writes, so it may share the read-mostly line.
  std::atomic<uint8_t> events_fired;
  uint8_t unused_[2];
  // --- [24, 64): HMAC-SHA-1 inner/outer hash states after one block of
  // key^ipad / key^opad (RFC 2104), intel-ipsec-mb's digest layout (5
  // words each). Other hashes: hmac_state in the cold part.
  uint8_t sha1_ipad[20];
  uint8_t sha1_opad[20];
  // --- [64, 304): AES-CBC key schedule of the SA's direction (11, 13 or
  // 15 round keys; encryption schedule outbound, decryption inbound).
  // AES-128 ends at 240: four lines for the whole per-packet state.
  alignas(16) uint8_t aes_keys[16 * 15];

  // --- cold: the generic path (Geo<false>) and other suites ---
  alignas(64) const void* enc_keys;  // self-referencing pointers
  const void* dec_keys;
  const uint8_t* ipad_state;
  const uint8_t* opad_state;
  const void* des3_keys[3];  // 3DES: intel-ipsec-mb wants 3 schedule pointers
  uint8_t salt[4];           // AES-GCM (RFC 4106 4); GCM reads the cold
                             // part's key data anyway
  // DES/3DES: 3 x 128 B schedules; GCM: struct gcm_key_data (1008 B).
  // static_asserts in sa_context.cc.
  alignas(64) uint8_t key_material[1024];
  // HMAC-SHA-256/384/512 states: ipad at 0, opad at 64.
  alignas(64) uint8_t hmac_state[128];
};

// Inbound anti-replay bitmap (RFC 4303 3.4.3, Appendix A; ring of words as
// RFC 6479); the window's top, and the word that holds it, are in
// SaCounters (replay.h). Written only by the worker that owns the inbound
// SA.
struct alignas(64) ReplayState {
  static constexpr uint32_t kWords = 128;  // power of two >= 4096/64 + 1
  uint64_t bitmap[kWords];                 // bit (seq % (words*64)) = seen
};

// The SA's mutable line, and the lifetime limits every packet compares it
// with (read-only; here so a packet reads one line for both). Its own line
// so the writes do not false-share with the keys. Outbound: any worker,
// atomic read-modify-writes (next_seq, bytes); the packet count is
// next_seq - 1 (LifetimePackets). Inbound: written by the owner worker
// only, with relaxed loads and stores (lifetime.h, replay.h). An SA is only
// ever one direction, so inbound's owner-only fields and outbound's shared
// ones never contend.
struct alignas(64) SaCounters {
  union {
    // Outbound: the next sequence number to use.
    std::atomic<uint64_t> next_seq{0};
    // Inbound: the replay bitmap word of replay_top (bits of sequence
    // numbers 64 * (replay_top / 64) ...), kept here instead of in its
    // ring slot so that in-order packets read and write this line only
    // (replay.h; one DRAM line less per packet with many SAs).
    uint64_t replay_top_word;
  };
  std::atomic<uint64_t> bytes;      // payload bytes processed
  std::atomic<uint64_t> packets;    // inbound only
  uint64_t replay_top;              // inbound: highest authenticated
                                    // sequence number (window's right edge)
  // Lifetimes; 0 in the record ("unlimited") is stored as UINT64_MAX.
  // Bytes are payload bytes (the upper-layer data, not the ESP overhead).
  // Hard limit N: the first N packets (or the packets while fewer than N
  // bytes went before them) pass, later ones get esp_lifetime_expired and
  // one job carries kEventHardLifetime. The soft event rides on the packet
  // that reaches the soft limit. Inbound counts only verified packets.
  uint64_t soft_bytes;
  uint64_t hard_bytes;
  uint64_t soft_packets;
  uint64_t hard_packets;
};
static_assert(sizeof(SaCounters) == 64);

struct alignas(64) SaContext {
  SaContext() = default;
  SaContext(const SaContext&) = delete;
  SaContext& operator=(const SaContext&) = delete;

  SaParams params;
  SaCounters counters;
  ReplayState replay;
};

// Restarts the anti-replay window empty by resetting only what the counter
// line holds: the top (0) and, inbound (outbound SAs keep next_seq in that
// storage), the top's word. The ring keeps its old words, which can then
// never decide a verdict: a ring word is read only for a word before top's
// (replay.h ReplayCheck), and as top moves up from word 0 every word it
// leaves is written back and every word it skips cleared (ReplayAccept),
// so each word below top's was rewritten since the restart (test
// EspReplayModel.RestartOverGarbageIsAnEmptyWindow). The perf harness
// restarts its 100k windows between passes over the same precomputed
// sequence numbers: one line per SA instead of the ring's sixteen more,
// which with two workers flooded the memory the other worker was being
// timed on.
inline void RestartReplayWindow(SaContext* ctx) {
  ctx->counters.replay_top = 0;
  if (ctx->params.dir == shm::SaDir::kInbound) ctx->counters.replay_top_word = 0;
}

// Empties the anti-replay window, the ring included (InitSaContext: no
// words of a previous occupant of the memory are kept, whatever the
// argument above).
inline void ResetReplayWindow(SaContext* ctx) {
  std::memset(&ctx->replay, 0, sizeof ctx->replay);
  RestartReplayWindow(ctx);
}

// Packets counted against the SA's lifetime: inbound the verified ones,
// outbound every sequence number reserved.
inline uint64_t LifetimePackets(const SaContext& sa) {
  return sa.params.dir == shm::SaDir::kInbound
             ? sa.counters.packets.load(std::memory_order_relaxed)
             : sa.counters.next_seq.load(std::memory_order_relaxed) - 1;
}

// Software prefetch of the lines of an SA context a packet reads (with many
// SAs each is a cache miss; docs/perf.md): for AES-CBC + HMAC-SHA-1 the
// first four lines of the parameters (scalars, HMAC states, AES-128's key
// schedule; AES-192/256 read a fifth, other suites their cold material,
// which the engine then misses) and the counter line (sequence number,
// replay window top, lifetime counts and limits). Addresses only, nothing
// is loaded (a load would wait for the line just asked for).
inline void PrefetchSaContext(const SaContext* sa) {
  const auto* p = reinterpret_cast<const char*>(&sa->params);
  __builtin_prefetch(p);
  __builtin_prefetch(p + 64);
  __builtin_prefetch(p + 128);
  __builtin_prefetch(p + 192);
  __builtin_prefetch(&sa->counters, 1);  // written by both directions
}

// The same lines, loaded: the engine's pass over a submission right before
// intel-ipsec-mb reads them. A core keeps only so many misses in flight and
// drops prefetches beyond them (dp_bench --mode memory: of a batch of 32+
// lines about half are lost), while loads are never dropped and the
// out-of-order core overlaps the independent ones: with 100k SAs this pass
// instead of a prefetch pass made packets 12-15 % cheaper at 64 B
// (docs/perf.md, session 8). Returns a sum the caller consumes so the loads
// stay.
inline uint64_t TouchSaContext(const SaContext* sa) {
  const auto* p = reinterpret_cast<const uint64_t*>(&sa->params);
  return p[0] + p[8] + p[16] + p[24] + sa->counters.bytes.load(std::memory_order_relaxed);
}

// Fills *ctx from rec (a consistent copy, see shm::ReadConsistent). Resets the
// replay window, the sequence counter (first packet sent is 1) and the
// lifetime counters. On failure *ctx is left unusable (suite kInvalid, keys
// wiped): jobs on it get esp_crypto_error. Call on a non-worker thread; it
// may allocate (a thread-local intel-ipsec-mb manager for key schedules).
InitResult InitSaContext(const shm::SaRecord& rec, SaContext* ctx);

// Wipes the key material (when the SA is freed, after quiescence); jobs on
// it then get esp_crypto_error.
void WipeSaContext(SaContext* ctx);

// --- Buffer planning (outbound) ----------------------------------------------

// Bytes the engine writes before the payload: ESP header + IV.
inline uint32_t EspHeadroom(const SaContext& sa) {
  return kEspHeaderLen + sa.params.iv_len;
}
// Bytes the engine writes after the payload: padding + trailer + ICV.
inline uint32_t EspTailroom(const SaContext& sa, uint32_t payload_len) {
  const uint32_t a = sa.params.pad_align;
  const uint32_t pad = (a - (payload_len + kEspTrailerLen) % a) % a;
  return pad + kEspTrailerLen + sa.params.icv_len;
}
// Upper bound of EspTailroom for any payload length.
inline uint32_t EspMaxTailroom(const SaContext& sa) {
  return sa.params.pad_align - 1u + kEspTrailerLen + sa.params.icv_len;
}
// ESP packet length (SPI through ICV) for a payload.
inline uint32_t EspPacketLen(const SaContext& sa, uint32_t payload_len) {
  return EspHeadroom(sa) + payload_len + EspTailroom(sa, payload_len);
}
// Largest payload whose ESP packet fits in esp_budget bytes (0 if none).
uint32_t EspMaxPayload(const SaContext& sa, uint32_t esp_budget);

// --- Jobs --------------------------------------------------------------------

struct InboundJob {
  // In.
  SaContext* sa;     // inbound SA found from the SPI
  uint8_t* esp;      // the ESP header (SPI); decrypted in place
  uint32_t len;      // bytes from the SPI through the ICV
  void* user;        // opaque to the engine (e.g. the rte_mbuf*)
  // Opaque too (the streaming API hands jobs back later: caller context).
  // No default member initialisers: the dataplane keeps arrays of jobs on
  // the stack per burst and must not pay for zeroing them.
  const void* user_ctx;
  uint32_t user_aux;
  // Out.
  Reason verdict;    // kOk or esp_truncated, esp_unknown_spi (the full SPI
                     // differs from sa's), esp_bad_length, esp_replayed,
                     // esp_too_old, esp_bad_icv, esp_bad_padding,
                     // esp_lifetime_expired, esp_crypto_error (bad job:
                     // null/uninitialised/outbound SA; or library failure).
                     // On esp_bad_icv/esp_bad_padding the buffer may have
                     // been decrypted in place: drop it.
  uint8_t events;    // Event bits (kEventSoftLifetime / kEventHardLifetime)
  uint8_t next_header;  // RFC 4303 2.6; the caller checks it (UDP = 17;
                        // 59 = dummy packet, discard)
  uint32_t seq;      // sequence number from the header (0 if truncated)
  uint8_t* payload;  // decrypted upper-layer data (transport mode), inside
                     // [esp, esp+len): esp + EspHeadroom(*sa)
  uint32_t payload_len;  // without padding/trailer/ICV
};

struct OutboundJob {
  // In.
  SaContext* sa;        // outbound SA
  uint8_t* payload;     // upper-layer data (e.g. UDP header); encrypted in
                        // place
  uint32_t payload_len;
  uint16_t headroom;    // writable bytes before payload: >= EspHeadroom(*sa)
  uint16_t tailroom;    // writable bytes after payload+payload_len:
                        // >= EspTailroom(*sa, payload_len)
  uint8_t next_header;  // 17 for UDP (L2TP)
  void* user;           // opaque to the engine
  const void* user_ctx;  // opaque too (see InboundJob)
  uint32_t user_aux;
  // Out.
  Reason verdict;       // kOk, esp_seq_overflow, esp_lifetime_expired,
                        // esp_crypto_error (also: bad job arguments)
  uint8_t events;       // Event bits
  uint32_t seq;         // sequence number written (0 if none reserved)
  uint8_t* esp;         // kOk only: payload - EspHeadroom(*sa); prepend the
                        // outer headers in front of it
  uint32_t esp_len;     // kOk only: SPI through ICV =
                        // EspPacketLen(*sa, payload_len)
};

// --- Engine ------------------------------------------------------------------

// Marks a job the engine still holds (staged or inside intel-ipsec-mb);
// never the verdict of a job handed back.
inline constexpr Reason kPending = static_cast<Reason>(0xFFFF);

// Finished jobs handed back in place, without copying: at most two runs of
// the engine's job ring (it wraps), in order.
template <class Job>
struct JobSpans {
  Job* p[2];
  uint16_t n[2];
  uint32_t size() const { return uint32_t(n[0]) + n[1]; }
};
using InboundSpans = JobSpans<InboundJob>;
using OutboundSpans = JobSpans<OutboundJob>;

namespace detail {
struct alignas(64) JobSlot {  // scratch of one in-flight job: one line
  uint8_t iv[16];             // GCM: salt || explicit IV (RFC 4106 4)
  uint8_t tag[48];            // computed ICV (decrypt; truncated outputs;
                              // intel-ipsec-mb asks for at most 32 bytes)
};
// One direction's jobs: a ring the caller fills in place (Stage), the
// engine checks, submits and completes in place, and hands back as spans.
// Free-running positions (mod 2^32), entries at position & (kRing - 1):
// [ret, sub) submitted, not yet handed back (finished ones have a verdict
// other than kPending); [sub, head) staged.
template <class Job>
struct Ring {
  IMB_MGR* mgr = nullptr;
  Job* jobs = nullptr;
  JobSlot* slots = nullptr;  // same index as jobs
  uint32_t head = 0, sub = 0, ret = 0;
  uint32_t imb = 0;          // jobs inside intel-ipsec-mb
};
}  // namespace detail

// One per worker. Jobs of one submission may mix SAs and algorithms; they go
// to intel-ipsec-mb as one burst (IMB_SUBMIT_BURST), and come back in
// submission order, so the replay window of an SA sees its packets in
// submission order.
//
// Streaming without copies (what the dataplane uses): the caller fills jobs
// in the engine's ring (StageInbound), submits them (SubmitInbound), and
// gets back whatever finished, this call's or earlier calls' jobs, in
// staging order, as spans of the ring. intel-ipsec-mb's multi-buffer lanes
// keep jobs across calls; DrainInbound completes everything. Jobs refused by
// the cheap checks (never submitted to intel-ipsec-mb) come back once every
// job staged before them did. Returned spans stay valid until the next
// Stage/Submit/Drain call of that direction. Everything a job points to
// (SA context, buffer) must stay valid until it comes back.
//
// Copying API on top of the ring (tests, tools, traffic generation):
//   * synchronous: DecryptBurst / EncryptBurst return with every job done;
//   * streaming: DecryptSubmit / EncryptSubmit copy jobs in and finished
//     jobs out to done[]; DecryptDrain / EncryptDrain complete everything.
// Do not mix the synchronous calls with streamed jobs in flight in the same
// direction (the synchronous call then refuses its jobs with
// esp_crypto_error). Inbound and outbound use separate intel-ipsec-mb
// managers, so one direction's completions never come back from the
// other's calls.
class alignas(64) Engine {
 public:
  // At most this many jobs staged per submission (one intel-ipsec-mb burst).
  static constexpr uint16_t kChunk = 64;
  static constexpr uint16_t kMaxStaged = kChunk;
  // At most this many jobs inside intel-ipsec-mb per direction; a submission
  // that would exceed it completes the oldest first.
  static constexpr uint16_t kMaxInFlight = 128;
  // Ring entries per direction. A submission that would leave more than
  // kMaxInFlight jobs held (jobs refused by the cheap checks wait behind
  // older ones still in intel-ipsec-mb) completes everything, so staged +
  // held never exceed kMaxInFlight + kMaxStaged <= kRing.
  static constexpr uint32_t kRing = 256;

  Engine() = default;
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Allocates the IMB_MGRs (alloc_mb_mgr + init_mb_mgr_auto: AVX-512 here,
  // AVX2 under valgrind), the rings, and seeds the CBC IV generator from
  // getrandom(). Returns false on failure (then nothing else may be called).
  // validate_jobs: let intel-ipsec-mb re-validate every job (IMB_SUBMIT_BURST
  // instead of _NOCHECK). The engine's own checks already cover what it
  // checks; this costs ~30 cycles/packet and is meant for debugging.
  bool Init(bool validate_jobs = false);

  // --- Streaming without copies ---
  // The next job to fill: set the inputs (sa, esp, len, user, user_ctx,
  // user_aux); the engine sets the outputs. Precondition: fewer than
  // kMaxStaged jobs staged (StagedInbound()).
  InboundJob* StageInbound() {
    InboundJob* j = &in_.jobs[in_.head++ & (kRing - 1)];
    j->verdict = kPending;
    return j;
  }
  uint16_t StagedInbound() const { return uint16_t(in_.head - in_.sub); }
  // Verify, anti-replay, decrypt, check padding, account lifetimes (every
  // output set whatever the verdict).
  InboundSpans SubmitInbound();
  InboundSpans DrainInbound();  // staged ones too
  // Outbound: inputs sa, payload, payload_len, headroom, tailroom,
  // next_header, user, user_ctx, user_aux. Writes ESP header, IV, padding,
  // trailer; encrypts; writes the ICV.
  OutboundJob* StageOutbound() {
    OutboundJob* j = &out_.jobs[out_.head++ & (kRing - 1)];
    j->verdict = kPending;
    return j;
  }
  uint16_t StagedOutbound() const { return uint16_t(out_.head - out_.sub); }
  OutboundSpans SubmitOutbound();
  // Stages copies of jobs[0..n) (n <= kMaxStaged - StagedOutbound()), then
  // submits.
  OutboundSpans SubmitOutbound(const OutboundJob* jobs, uint16_t n);
  OutboundSpans DrainOutbound();

  // --- Copying API ---
  // Each job's outputs are set whatever its verdict; n may exceed kChunk.
  // Precondition: nothing streamed in flight in that direction (else every
  // job gets esp_crypto_error).
  void DecryptBurst(InboundJob* jobs, uint16_t n);
  void EncryptBurst(OutboundJob* jobs, uint16_t n);
  // jobs[0..n) are copied in; finished jobs (any call's) are copied to
  // done[], which needs room for n + kMaxInFlight jobs; returns how many.
  uint16_t DecryptSubmit(const InboundJob* jobs, uint16_t n, InboundJob* done);
  uint16_t EncryptSubmit(const OutboundJob* jobs, uint16_t n, OutboundJob* done);
  // Completes every job in flight; done needs room for kMaxInFlight jobs.
  uint16_t DecryptDrain(InboundJob* done);
  uint16_t EncryptDrain(OutboundJob* done);

  // Jobs not handed back yet (staged, inside intel-ipsec-mb, or finished
  // behind one that is), both directions.
  uint32_t InFlight() const {
    return (in_.head - in_.ret) + (out_.head - out_.ret);
  }
  // Jobs inside intel-ipsec-mb (at most kMaxInFlight per direction).
  uint32_t InboundInFlight() const { return in_.imb; }
  uint32_t OutboundInFlight() const { return out_.imb; }

  // "avx512", "avx2", "avx", "sse", "noaesni".
  const char* ArchName() const;
  // The inbound manager (empty between synchronous calls and after a drain).
  IMB_MGR* mgr() const { return in_.mgr; }
  IMB_MGR* outbound_mgr() const { return out_.mgr; }

 private:
  void SubmitStagedIn();
  void SubmitStagedOut();
  void FinishDecrypt(IMB_JOB** completed, uint32_t n);
  void FinishEncrypt(IMB_JOB** completed, uint32_t n);
  const uint8_t* TakeCbcIvs(uint16_t n);

  detail::Ring<InboundJob> in_;
  detail::Ring<OutboundJob> out_;
  IMB_MGR* iv_mgr_ = nullptr;  // the IV generator's (always empty) manager
  bool validate_jobs_ = false;
  // CBC IV generator (RFC 3602 2.4: IVs must be unpredictable): AES-128-ECB
  // of (per-engine random nonce, per-engine counter) under a random
  // per-engine key (getrandom()). A PRP under a secret key: seeing any
  // number of earlier IVs tells nothing about the next one, and the
  // (nonce, counter) inputs never repeat, so neither do the IVs. Made
  // kIvBatch at a time (one intel-ipsec-mb ECB job amortised over 256
  // packets instead of one per chunk: the job set-up dominated at 32) and
  // consumed in order; IVs left over when a refill is due are discarded,
  // never reused. They sit only in this engine's memory until written.
  static constexpr uint32_t kIvBatch = 256;
  alignas(16) uint8_t iv_key_enc_[16 * 15] = {};
  alignas(16) uint8_t iv_key_dec_[16 * 15] = {};
  alignas(64) uint8_t iv_buf_[kIvBatch * 16] = {};
  uint32_t iv_left_ = 0;  // unused IVs at the end of iv_buf_
  uint64_t iv_counter_ = 0;
  uint64_t iv_nonce_ = 0;
};

}  // namespace vpn::esp

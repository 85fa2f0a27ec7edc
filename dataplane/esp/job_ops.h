// The engine's per-job steps (engine.cc), inline: byte helpers, the
// intel-ipsec-mb job fill per suite (one template instantiation each, no
// per-packet indirect calls), the cheap checks before submission and the
// completion of a finished job.
#pragma once

#include <intel-ipsec-mb.h>

#include <cstdint>
#include <cstring>

#include "esp.h"
#include "lifetime.h"
#include "replay.h"

namespace vpn::esp::detail {

// intel-ipsec-mb writes imb_tag_len bytes (at most kMaxIcvLen) into the slot.
static_assert(sizeof(JobSlot::tag) >= kMaxIcvLen);

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
inline constexpr PadTable kPad;
inline const uint8_t* const kPadBytes = kPad.bytes;

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

// RFC 4303 2.4 padding 1, 2, ..., len (len < 256) with fixed-size,
// possibly overlapping moves instead of a variable-length memcpy call.
inline void CopyPad(uint8_t* dst, uint32_t len) {
  if (len >= 8) {
    for (uint32_t i = 0; i + 8 <= len; i += 8) std::memcpy(dst + i, kPadBytes + i, 8);
    std::memcpy(dst + len - 8, kPadBytes + len - 8, 8);
  } else if (len >= 4) {
    std::memcpy(dst, kPadBytes, 4);
    std::memcpy(dst + len - 4, kPadBytes + len - 4, 4);
  } else {
    for (uint32_t i = 0; i < len; ++i) dst[i] = kPadBytes[i];
  }
}

// Per-SA geometry read per packet. F: the SA is AES-CBC + HMAC-SHA1-96
// (SaParams::cbc_sha1_96, what Windows and most L2TP/IPsec clients use): its
// lengths and algorithm are compile-time constants in that instantiation,
// so the common path loads and branches on none of them (RFC 3602 IV 16,
// RFC 2404 ICV 12, block 16).
template <bool F>
struct Geo {
  static uint32_t Iv(const SaParams& p) { return F ? 16u : p.iv_len; }
  static uint32_t Icv(const SaParams& p) { return F ? 12u : p.icv_len; }
  static uint32_t Align(const SaParams& p) { return F ? 16u : p.pad_align; }
  static uint32_t Tag(const SaParams& p) { return F ? 12u : p.imb_tag_len; }
  static IMB_HASH_ALG Hash(const SaParams& p) {
    return F ? IMB_AUTH_HMAC_SHA_1 : static_cast<IMB_HASH_ALG>(p.imb_hash);
  }
  // Key material: for F the hot part's own fields (InitSaContext checks),
  // so the packet never reads the cold pointers (one miss less per packet
  // with many SAs; PrefetchSaContext does not fetch them). The hot part
  // holds the direction's schedule only; intel-ipsec-mb reads the one of
  // the job's direction.
  static const void* EncKeys(const SaParams& p) { return F ? p.aes_keys : p.enc_keys; }
  static const void* DecKeys(const SaParams& p) { return F ? p.aes_keys : p.dec_keys; }
  static const uint8_t* Ipad(const SaParams& p) { return F ? p.sha1_ipad : p.ipad_state; }
  static const uint8_t* Opad(const SaParams& p) { return F ? p.sha1_opad : p.opad_state; }
};

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
template <Suite S, bool F>
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
  j->enc_keys = Geo<F>::EncKeys(p);
  j->dec_keys = Geo<F>::DecKeys(p);
  j->auth_tag_output_len_in_bytes = Geo<F>::Tag(p);
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
    j->hash_alg = Geo<F>::Hash(p);
    j->u.HMAC._hashed_auth_key_xor_ipad = Geo<F>::Ipad(p);
    j->u.HMAC._hashed_auth_key_xor_opad = Geo<F>::Opad(p);
    j->hash_start_src_offset_in_bytes = 0;
    j->msg_len_to_hash_in_bytes = hdr + ct_len;
  }
}

template <Suite S, bool F = false>
inline void FillDecrypt(IMB_JOB* j, InboundJob& job, JobSlot& slot) {
  const SaParams& p = job.sa->params;
  constexpr uint32_t hdr = kEspHeaderLen + Traits<S>::kIvLen;
  FillCommon<S, F>(j, p, job.esp, job.len - hdr - Geo<F>::Icv(p), slot);
  // Verify the ICV over the ciphertext, then decrypt in place.
  j->cipher_direction = IMB_DIR_DECRYPT;
  j->chain_order = IMB_ORDER_HASH_CIPHER;
  j->auth_tag_output = slot.tag;
}

template <Suite S, bool F = false>
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
  CopyPad(trailer, pad);
  trailer[pad] = static_cast<uint8_t>(pad);
  trailer[pad + 1] = job.next_header;
  const uint32_t ct_len = job.payload_len + pad + kEspTrailerLen;
  uint8_t* icv = trailer + pad + kEspTrailerLen;
  job.esp = esp;
  job.esp_len = hdr + ct_len + Geo<F>::Icv(p);

  FillCommon<S, F>(j, p, esp, ct_len, slot);
  j->cipher_direction = IMB_DIR_ENCRYPT;
  j->chain_order = IMB_ORDER_CIPHER_HASH;
  // Truncated tags intel-ipsec-mb cannot produce (SHA-256-96) go through the
  // slot and are copied on completion.
  j->auth_tag_output = Geo<F>::Tag(p) == Geo<F>::Icv(p) ? icv : slot.tag;
}

// A finished decrypt job (user_data: the job, user_data2: its slot): ICV,
// replay window, padding, then the lifetime count of the authentic packet.
template <bool F>
inline void CompleteDecryptAs(InboundJob& job, const JobSlot& slot) {
  SaContext& sa = *job.sa;
  const SaParams& p = sa.params;
  const uint32_t icv_len = Geo<F>::Icv(p), iv_len = Geo<F>::Iv(p);
  if (!ConstantTimeEqual(slot.tag, job.esp + job.len - icv_len, icv_len)) {
    job.verdict = Reason::k_esp_bad_icv;
    return;
  }
  // Authentic: now, and only now, the window moves (RFC 4303 3.4.3). The
  // pre-check ran before submission; another packet of this SA in flight
  // with the same number may have been accepted since.
  const Reason replay = ReplayCheck(p, sa.counters, sa.replay, job.seq);
  if (replay != kOk) {
    job.verdict = replay;
    return;
  }
  ReplayAccept(p, sa.counters, sa.replay, job.seq);

  uint8_t* pt = job.esp + kEspHeaderLen + iv_len;
  const uint32_t pt_len = job.len - kEspHeaderLen - iv_len - icv_len;
  const uint32_t pad_len = pt[pt_len - 2];
  job.next_header = pt[pt_len - 1];
  // RFC 4303 2.4: the receiver SHOULD check the 1, 2, 3, ... pattern.
  if (pad_len + kEspTrailerLen > pt_len ||
      !PaddingValid(pt + pt_len - kEspTrailerLen - pad_len, pad_len)) {
    job.verdict = Reason::k_esp_bad_padding;
    return;
  }
  job.payload = pt;
  job.payload_len = pt_len - kEspTrailerLen - pad_len;
  // Lifetimes count authenticated packets only (RFC 4301 4.4.2.1).
  job.verdict = CountInbound(sa, job.payload_len, &job.events);
}

inline void CompleteDecrypt(IMB_JOB* j) {
  InboundJob& job = *static_cast<InboundJob*>(j->user_data);
  const JobSlot& slot = *static_cast<const JobSlot*>(j->user_data2);
  if (j->status != IMB_STATUS_COMPLETED) {
    job.verdict = Reason::k_esp_crypto_error;
  } else if (job.sa->params.cbc_sha1_96) {
    CompleteDecryptAs<true>(job, slot);
  } else {
    CompleteDecryptAs<false>(job, slot);
  }
}

inline void CompleteEncrypt(IMB_JOB* j) {
  OutboundJob& job = *static_cast<OutboundJob*>(j->user_data);
  if (j->status != IMB_STATUS_COMPLETED) {
    job.verdict = Reason::k_esp_crypto_error;
    return;
  }
  const SaParams& p = job.sa->params;
  if (p.cbc_sha1_96) {  // the tag went straight to the packet
    job.verdict = kOk;
    return;
  }
  uint8_t* icv = job.esp + job.esp_len - p.icv_len;
  if (j->auth_tag_output != icv) {
    std::memcpy(icv, static_cast<const JobSlot*>(j->user_data2)->tag, p.icv_len);
  }
  job.verdict = kOk;
}

// Checks that need no crypto. false: verdict set, job not submitted; true:
// verdict stays kPending (StageInbound / StageOutbound set it).
template <bool F>
inline bool PrecheckInboundAs(InboundJob& job, SaContext& sa);

inline bool PrecheckInbound(InboundJob& job) {
  job.events = 0;
  job.next_header = 0;
  job.seq = 0;
  job.payload = nullptr;
  job.payload_len = 0;
  SaContext* sa = job.sa;
  if (sa == nullptr || sa->params.suite == kInvalidSuite ||
      sa->params.dir != shm::SaDir::kInbound) {
    job.verdict = Reason::k_esp_crypto_error;
    return false;
  }
  return sa->params.cbc_sha1_96 ? PrecheckInboundAs<true>(job, *sa)
                                : PrecheckInboundAs<false>(job, *sa);
}

template <bool F>
inline bool PrecheckInboundAs(InboundJob& job, SaContext& sa) {
  const SaParams& p = sa.params;
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
  const uint32_t overhead = kEspHeaderLen + Geo<F>::Iv(p) + Geo<F>::Icv(p);
  if (job.len < overhead + kEspTrailerLen) {
    job.verdict = Reason::k_esp_truncated;
    return false;
  }
  const uint32_t ct_len = job.len - overhead;
  // RFC 4303 2.4 / RFC 3602 3: CBC ciphertext is whole blocks.
  if (job.len > 65535 ||
      ((F || p.suite != Suite::kAesGcm) && ct_len % Geo<F>::Align(p) != 0)) {
    job.verdict = Reason::k_esp_bad_length;
    return false;
  }
  const Reason replay = ReplayCheck(p, sa.counters, sa.replay, job.seq);
  if (replay != kOk) {
    job.verdict = replay;
    return false;
  }
  // The bitmap word ReplayAccept will set after the ICV verified, when it
  // is not the top word in the counter line: with many SAs its line is a
  // miss the crypto in between can hide (the SA's other lines were
  // prefetched by the caller from the SPI, before the sequence number was
  // known).
  if (p.replay_window != 0 && ReplayTouchesRing(sa.counters, job.seq)) {
    __builtin_prefetch(&sa.replay.bitmap[(job.seq >> 6) & p.replay_word_mask], 1);
  }
  if (HardExpired(sa)) {
    ClaimEvent(sa, kEventHardLifetime, &job.events);
    job.verdict = Reason::k_esp_lifetime_expired;
    return false;
  }
  return true;
}

inline bool PrecheckOutbound(OutboundJob& job) {
  job.events = 0;
  job.seq = 0;
  job.esp = nullptr;
  job.esp_len = 0;
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

}  // namespace vpn::esp::detail

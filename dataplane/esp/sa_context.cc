// InitSaContext: everything an SA needs on the per-packet path, computed once
// at install time on a non-worker thread.
#include <intel-ipsec-mb.h>

#include <cstddef>
#include <cstdint>
#include <atomic>
#include <cstring>

#include "esp.h"
#include "hmac_pads.h"

namespace vpn::esp {

namespace {

using detail::FindInteg;
using detail::IntegInfo;

static_assert(sizeof(gcm_key_data) <= sizeof(SaParams::key_material));
static_assert(alignof(SaParams) >= alignof(gcm_key_data));
// The hot part (esp.h): AES-128 + HMAC-SHA-1 in four lines, both HMAC
// states inside line 0.
static_assert(offsetof(SaParams, sha1_ipad) == 24 && offsetof(SaParams, sha1_opad) == 44);
static_assert(offsetof(SaParams, sha1_opad) + 20 <= 64);
static_assert(offsetof(SaParams, aes_keys) == 64 && offsetof(SaParams, aes_keys) + 16 * 11 <= 256);
static_assert(kMaxReplayWindow <= UINT16_MAX && ReplayState::kWords <= UINT16_MAX);
static_assert(offsetof(SaParams, enc_keys) == 320);
static_assert(3 * IMB_DES_KEY_SCHED_SIZE <= sizeof(SaParams::key_material));
static_assert(ReplayState::kWords * 64 >= kMaxReplayWindow + 64);
static_assert(offsetof(SaContext, counters) == sizeof(SaParams));

constexpr uint64_t Unlimited(uint64_t v) { return v == 0 ? UINT64_MAX : v; }

uint32_t RingWords(uint32_t window) {
  const uint32_t need = (window + 63) / 64 + 1;
  uint32_t words = 1;
  while (words < need) words <<= 1;
  return words;
}

// AES-CBC (RFC 3602) and AES-GCM (RFC 4106) key sizes.
bool AesKeySize(uint8_t len) { return len == 16 || len == 24 || len == 32; }

InitResult SetupCipher(IMB_MGR* m, const shm::SaRecord& rec, SaParams* p) {
  uint8_t* km = p->key_material;
  switch (rec.cipher) {
    case shm::Cipher::kAesCbc: {
      if (!AesKeySize(rec.cipher_key_len)) {
        return InitResult::kBadCipherKeyLength;
      }
      p->suite = Suite::kAesCbcHmac;
      p->iv_len = 16;
      p->pad_align = 16;
      p->imb_cipher = IMB_CIPHER_CBC;
      // Both schedules come out of the expansion; only the direction's
      // stays (an inbound SA never encrypts, an outbound one never
      // decrypts), in the hot part.
      alignas(16) uint8_t enc[16 * 15];
      alignas(16) uint8_t dec[16 * 15];
      if (rec.cipher_key_len == 16) {
        IMB_AES_KEYEXP_128(m, rec.cipher_key, enc, dec);
      } else if (rec.cipher_key_len == 24) {
        IMB_AES_KEYEXP_192(m, rec.cipher_key, enc, dec);
      } else {
        IMB_AES_KEYEXP_256(m, rec.cipher_key, enc, dec);
      }
      const bool inbound = rec.dir == shm::SaDir::kInbound;
      std::memcpy(p->aes_keys, inbound ? dec : enc, sizeof(p->aes_keys));
      detail::SecureZero(enc, sizeof enc);
      detail::SecureZero(dec, sizeof dec);
      p->enc_keys = inbound ? nullptr : p->aes_keys;
      p->dec_keys = inbound ? p->aes_keys : nullptr;
      return InitResult::kOk;
    }
    case shm::Cipher::kDes3Cbc:
    case shm::Cipher::kDesCbc: {
      const bool triple = rec.cipher == shm::Cipher::kDes3Cbc;
      if ((rec.flags & shm::kSaFlagAllowWeak) == 0) {
        return InitResult::kWeakCipherRefused;
      }
      if (rec.cipher_key_len != (triple ? 24 : 8)) {
        return InitResult::kBadCipherKeyLength;
      }
      p->iv_len = 8;  // RFC 2451 3, RFC 2405 5
      p->pad_align = 8;
      const int n = triple ? 3 : 1;
      for (int i = 0; i < n; ++i) {
        auto* ks = reinterpret_cast<uint64_t*>(km + i * IMB_DES_KEY_SCHED_SIZE);
        if (IMB_DES_KEYSCHED(m, ks, rec.cipher_key + 8 * i) != 0) {
          return InitResult::kCryptoInitFailed;
        }
        p->des3_keys[i] = ks;
      }
      if (triple) {
        p->suite = Suite::kDes3CbcHmac;
        p->imb_cipher = IMB_CIPHER_DES3;
        p->enc_keys = p->des3_keys;  // intel-ipsec-mb: array of 3 schedules
        p->dec_keys = p->des3_keys;
      } else {
        p->suite = Suite::kDesCbcHmac;
        p->imb_cipher = IMB_CIPHER_DES;
        p->enc_keys = p->des3_keys[0];
        p->dec_keys = p->des3_keys[0];
      }
      return InitResult::kOk;
    }
    case shm::Cipher::kAesGcm16: {
      // RFC 4106 8.1: 16 or 32 byte keys here (the 4 salt bytes apart).
      if (rec.cipher_key_len != 16 && rec.cipher_key_len != 32) {
        return InitResult::kBadCipherKeyLength;
      }
      p->suite = Suite::kAesGcm;
      p->iv_len = 8;      // RFC 4106 3.1
      p->pad_align = 4;   // RFC 4303 2.4: 4-byte alignment, GCM has no block
      p->imb_cipher = IMB_CIPHER_GCM;
      auto* gk = reinterpret_cast<gcm_key_data*>(km);
      if (rec.cipher_key_len == 16) {
        IMB_AES128_GCM_PRE(m, rec.cipher_key, gk);
      } else {
        IMB_AES256_GCM_PRE(m, rec.cipher_key, gk);
      }
      p->enc_keys = gk;
      p->dec_keys = gk;
      std::memcpy(p->salt, rec.salt, sizeof(p->salt));
      return InitResult::kOk;
    }
    case shm::Cipher::kNull:
    default:
      return InitResult::kUnsupportedCipher;
  }
}

InitResult SetupInteg(IMB_MGR* m, const shm::SaRecord& rec, SaParams* p) {
  if (p->suite == Suite::kAesGcm) {
    if (rec.integ != shm::Integ::kNone) return InitResult::kUnsupportedInteg;
    p->icv_len = 16;  // RFC 4106 "AES-GCM with a 16 octet ICV"
    p->imb_tag_len = 16;
    p->imb_hash = IMB_AUTH_AES_GMAC;
    return InitResult::kOk;
  }
  // CBC without integrity is refused: RFC 4303 3.2.2 allows it, but it is
  // open to cut-and-paste attacks and no client we serve proposes it.
  const IntegInfo* info = FindInteg(rec.integ);
  if (info == nullptr) return InitResult::kUnsupportedInteg;
  if (rec.integ_key_len != info->key_len) return InitResult::kBadIntegKeyLength;
  p->icv_len = info->icv_len;
  p->imb_tag_len = info->imb_tag_len;
  p->imb_hash = info->imb_hash;
  alignas(64) uint8_t ipad[64];
  alignas(64) uint8_t opad[64];
  if (!detail::HmacPads(m, rec.integ, rec.integ_key, rec.integ_key_len, ipad, opad)) {
    return InitResult::kCryptoInitFailed;
  }
  // intel-ipsec-mb's digest state: 5 words for SHA-1 (in the hot part), 8
  // for SHA-256, 8 double words for SHA-384/512 (cold part).
  if (info->imb_hash == IMB_AUTH_HMAC_SHA_1) {
    std::memcpy(p->sha1_ipad, ipad, sizeof(p->sha1_ipad));
    std::memcpy(p->sha1_opad, opad, sizeof(p->sha1_opad));
    p->ipad_state = p->sha1_ipad;
    p->opad_state = p->sha1_opad;
  } else {
    const uint32_t state = info->imb_hash == IMB_AUTH_HMAC_SHA_256 ? 32 : 64;
    std::memcpy(p->hmac_state, ipad, state);
    std::memcpy(p->hmac_state + 64, opad, state);
    p->ipad_state = p->hmac_state;
    p->opad_state = p->hmac_state + 64;
  }
  detail::SecureZero(ipad, sizeof ipad);
  detail::SecureZero(opad, sizeof opad);
  return InitResult::kOk;
}

}  // namespace

const char* InitResultName(InitResult r) {
  switch (r) {
    case InitResult::kOk: return "ok";
    case InitResult::kUnsupportedCipher: return "unsupported cipher";
    case InitResult::kBadCipherKeyLength: return "bad cipher key length";
    case InitResult::kUnsupportedInteg: return "unsupported integrity algorithm";
    case InitResult::kBadIntegKeyLength: return "bad integrity key length";
    case InitResult::kWeakCipherRefused: return "DES/3DES refused (not allowed)";
    case InitResult::kEsnUnsupported: return "ESN not supported";
    case InitResult::kBadReplayWindow: return "replay window too large";
    case InitResult::kCryptoInitFailed: return "crypto init failed";
  }
  return "?";
}

InitResult InitSaContext(const shm::SaRecord& rec, SaContext* ctx) {
  SaParams* p = &ctx->params;
  detail::SecureZero(p, sizeof(*p));
  p->suite = kInvalidSuite;

  if ((rec.flags & shm::kSaFlagEsn) != 0) return InitResult::kEsnUnsupported;
  if (rec.replay_window > kMaxReplayWindow) return InitResult::kBadReplayWindow;
  IMB_MGR* m = detail::ThreadSetupMgr();
  if (m == nullptr) return InitResult::kCryptoInitFailed;

  p->dir = rec.dir;
  p->cipher = rec.cipher;
  p->integ = rec.integ;
  p->flags = rec.flags;
  p->spi = rec.spi;
  p->key_len = rec.cipher_key_len;
  InitResult r = SetupCipher(m, rec, p);
  if (r == InitResult::kOk) r = SetupInteg(m, rec, p);
  if (r != InitResult::kOk) {
    detail::SecureZero(p, sizeof(*p));
    p->suite = kInvalidSuite;
    return r;
  }
  // The engine's constant-geometry path uses the hot part's fields
  // directly instead of loading these pointers (job_ops.h Geo<true>).
  p->cbc_sha1_96 = p->suite == Suite::kAesCbcHmac && rec.integ == shm::Integ::kHmacSha1_96 &&
                   (p->enc_keys == p->aes_keys || p->dec_keys == p->aes_keys) &&
                   p->ipad_state == p->sha1_ipad && p->opad_state == p->sha1_opad;
  p->replay_window = uint16_t(rec.replay_window);  // <= kMaxReplayWindow (above)
  p->replay_word_mask = uint16_t(RingWords(rec.replay_window) - 1);
  p->events_fired.store(0, std::memory_order_relaxed);

  SaCounters& c = ctx->counters;
  if (p->dir != shm::SaDir::kInbound) c.next_seq.store(1, std::memory_order_relaxed);
  c.bytes.store(0, std::memory_order_relaxed);
  c.packets.store(0, std::memory_order_relaxed);
  c.soft_bytes = Unlimited(rec.soft_bytes);
  c.hard_bytes = Unlimited(rec.hard_bytes);
  c.soft_packets = Unlimited(rec.soft_packets);
  c.hard_packets = Unlimited(rec.hard_packets);
  ResetReplayWindow(ctx);
  // Publication to the workers is the caller's (release store of the
  // pointer, esp.h).
  std::atomic_thread_fence(std::memory_order_release);
  return InitResult::kOk;
}

void WipeSaContext(SaContext* ctx) {
  detail::SecureZero(&ctx->params, sizeof(ctx->params));
  ctx->params.suite = kInvalidSuite;
}

uint32_t EspMaxPayload(const SaContext& sa, uint32_t esp_budget) {
  const SaParams& p = sa.params;
  const uint32_t fixed = kEspHeaderLen + p.iv_len + kEspTrailerLen + p.icv_len;
  if (esp_budget < fixed) return 0;
  // Largest ciphertext (payload + pad + trailer) that fits, rounded down to
  // the padding alignment; the payload is that minus the trailer.
  const uint32_t room = esp_budget - kEspHeaderLen - p.iv_len - p.icv_len;
  const uint32_t ct = room - room % p.pad_align;
  return ct < kEspTrailerLen ? 0 : ct - kEspTrailerLen;
}

}  // namespace vpn::esp

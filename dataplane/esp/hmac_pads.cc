#include "hmac_pads.h"

#include <intel-ipsec-mb.h>

#include <cstring>

namespace vpn::esp::detail {

namespace {

// Indexed by shm::Integ.
constexpr IntegInfo kIntegTable[] = {
    /* kNone */ {0, 0, 0, 0, 0},
    /* kHmacSha1_96 (RFC 2404) */ {IMB_AUTH_HMAC_SHA_1, 64, 20, 12, 12},
    /* kHmacSha256_128 (RFC 4868) */ {IMB_AUTH_HMAC_SHA_256, 64, 32, 16, 16},
    /* kHmacSha384_192 (RFC 4868) */ {IMB_AUTH_HMAC_SHA_384, 128, 48, 24, 24},
    /* kHmacSha512_256 (RFC 4868) */ {IMB_AUTH_HMAC_SHA_512, 128, 64, 32, 32},
    /* kHmacSha256_96 (draft-ietf-ipsec-ciph-sha-256-00) */
    {IMB_AUTH_HMAC_SHA_256, 64, 32, 12, 16},
};

// Plain hash of a long key (RFC 2104 2: keys longer than B are hashed).
size_t HashKey(IMB_MGR* m, uint8_t imb_hash, const uint8_t* key, size_t len,
               uint8_t* out) {
  switch (imb_hash) {
    case IMB_AUTH_HMAC_SHA_1:
      IMB_SHA1(m, key, len, out);
      return IMB_SHA1_DIGEST_SIZE_IN_BYTES;
    case IMB_AUTH_HMAC_SHA_256:
      IMB_SHA256(m, key, len, out);
      return IMB_SHA256_DIGEST_SIZE_IN_BYTES;
    case IMB_AUTH_HMAC_SHA_384:
      IMB_SHA384(m, key, len, out);
      return IMB_SHA384_DIGEST_SIZE_IN_BYTES;
    case IMB_AUTH_HMAC_SHA_512:
      IMB_SHA512(m, key, len, out);
      return IMB_SHA512_DIGEST_SIZE_IN_BYTES;
    default:
      return 0;
  }
}

void OneBlock(IMB_MGR* m, uint8_t imb_hash, const uint8_t* block,
              uint8_t* state) {
  switch (imb_hash) {
    case IMB_AUTH_HMAC_SHA_1:
      IMB_SHA1_ONE_BLOCK(m, block, state);
      break;
    case IMB_AUTH_HMAC_SHA_256:
      IMB_SHA256_ONE_BLOCK(m, block, state);
      break;
    case IMB_AUTH_HMAC_SHA_384:
      IMB_SHA384_ONE_BLOCK(m, block, state);
      break;
    case IMB_AUTH_HMAC_SHA_512:
      IMB_SHA512_ONE_BLOCK(m, block, state);
      break;
    default:
      break;
  }
}

struct MgrHolder {
  IMB_MGR* mgr = nullptr;
  bool tried = false;
  ~MgrHolder() {
    if (mgr != nullptr) free_mb_mgr(mgr);
  }
};

}  // namespace

const IntegInfo* FindInteg(shm::Integ integ) {
  const auto i = static_cast<size_t>(integ);
  if (i == 0 || i >= sizeof(kIntegTable) / sizeof(kIntegTable[0])) {
    return nullptr;
  }
  return &kIntegTable[i];
}

bool HmacPads(IMB_MGR* mgr, shm::Integ integ, const uint8_t* key,
              size_t key_len, uint8_t* ipad_state, uint8_t* opad_state) {
  const IntegInfo* info = FindInteg(integ);
  if (info == nullptr || mgr == nullptr || (key == nullptr && key_len != 0)) {
    return false;
  }
  alignas(64) uint8_t k[128] = {};
  alignas(64) uint8_t block[128];
  if (key_len > info->block_size) {
    HashKey(mgr, info->imb_hash, key, key_len, k);
  } else if (key_len != 0) {
    std::memcpy(k, key, key_len);
  }
  std::memset(ipad_state, 0, 64);
  std::memset(opad_state, 0, 64);
  for (size_t i = 0; i < info->block_size; ++i) block[i] = k[i] ^ 0x36;
  OneBlock(mgr, info->imb_hash, block, ipad_state);
  for (size_t i = 0; i < info->block_size; ++i) block[i] = k[i] ^ 0x5c;
  OneBlock(mgr, info->imb_hash, block, opad_state);
  SecureZero(k, sizeof(k));
  SecureZero(block, sizeof(block));
  return true;
}

IMB_MGR* ThreadSetupMgr() {
  thread_local MgrHolder holder;
  if (!holder.tried) {
    holder.tried = true;
    holder.mgr = alloc_mb_mgr(0);
    if (holder.mgr != nullptr) {
      IMB_ARCH arch = IMB_ARCH_NONE;
      init_mb_mgr_auto(holder.mgr, &arch);
      if (imb_get_errno(holder.mgr) != 0 || arch == IMB_ARCH_NONE) {
        free_mb_mgr(holder.mgr);
        holder.mgr = nullptr;
      }
    }
  }
  return holder.mgr;
}

void SecureZero(void* p, size_t n) {
  volatile uint8_t* v = static_cast<volatile uint8_t*>(p);
  while (n-- != 0) *v++ = 0;
}

}  // namespace vpn::esp::detail

// HMAC (RFC 2104) key preprocessing for intel-ipsec-mb, and the table of the
// ESP integrity algorithms we support. Internal to the ESP engine.
#pragma once

#include <cstddef>
#include <cstdint>

#include "vpn/shm_abi.h"

struct IMB_MGR;

namespace vpn::esp::detail {

struct IntegInfo {
  uint8_t imb_hash;     // IMB_HASH_ALG
  uint8_t block_size;   // hash block: 64 (SHA-1/256) or 128 (SHA-384/512)
  uint8_t key_len;      // ESP key length (RFC 2404 2, RFC 4868 2.1.1)
  uint8_t icv_len;      // truncated ICV on the wire
  uint8_t imb_tag_len;  // what intel-ipsec-mb 1.3 accepts (>= icv_len):
                        // it takes 12/20 for SHA-1 but only 16/32 for
                        // SHA-256, so SHA-256-96 asks for 16 and truncates
};

// nullptr for kNone or an unknown value.
const IntegInfo* FindInteg(shm::Integ integ);

// Digest of one block key^ipad and key^opad, in intel-ipsec-mb's layout (what
// IMB_JOB::u.HMAC._hashed_auth_key_xor_ipad/opad point to). Keys longer than
// the hash block are hashed first (RFC 2104 2). ipad/opad hold 64 bytes.
bool HmacPads(IMB_MGR* mgr, shm::Integ integ, const uint8_t* key,
              size_t key_len, uint8_t* ipad_state, uint8_t* opad_state);

// The intel-ipsec-mb manager of the calling (non-worker) thread, created on
// first use with init_mb_mgr_auto; nullptr if that failed.
IMB_MGR* ThreadSetupMgr();

// memset that the compiler may not drop, for key material.
void SecureZero(void* p, size_t n);

}  // namespace vpn::esp::detail

#include "raw_crypto.h"

#include <intel-ipsec-mb.h>

#include <cstring>

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "esp.h"

namespace vpn::perf {
namespace {

constexpr uint32_t kBurst = 32;
constexpr uint32_t kEspOffset = 14 + 20 + 8;  // Eth + IPv4 + UDP 4500

// One chained job over an ESP packet (RFC 4303 2: SPI, seq, IV, ciphertext,
// ICV). Decrypt: HMAC over SPI..ciphertext then CBC decrypt in place;
// encrypt: CBC encrypt in place then HMAC, ICV written after the ciphertext.
void Fill(IMB_JOB* j, const esp::SaParams& p, uint8_t* esp, uint32_t len, bool decrypt,
          uint8_t* tag) {
  const uint32_t hdr = esp::kEspHeaderLen + p.iv_len;
  const uint32_t ct = len - hdr - p.icv_len;
  j->src = esp;
  j->dst = esp + hdr;
  j->cipher_start_src_offset_in_bytes = hdr;
  j->msg_len_to_cipher_in_bytes = ct;
  j->key_len_in_bytes = IMB_KEY_128_BYTES;
  // The SA's hot part (esp.h SaParams), as the engine reads it for
  // AES-CBC + HMAC-SHA1-96: the direction's schedule, the HMAC states.
  j->enc_keys = p.aes_keys;
  j->dec_keys = p.aes_keys;
  j->cipher_direction = decrypt ? IMB_DIR_DECRYPT : IMB_DIR_ENCRYPT;
  j->chain_order = decrypt ? IMB_ORDER_HASH_CIPHER : IMB_ORDER_CIPHER_HASH;
  j->cipher_mode = IMB_CIPHER_CBC;
  j->iv = esp + esp::kEspHeaderLen;
  j->iv_len_in_bytes = 16;
  j->hash_alg = IMB_AUTH_HMAC_SHA_1;
  j->u.HMAC._hashed_auth_key_xor_ipad = p.sha1_ipad;
  j->u.HMAC._hashed_auth_key_xor_opad = p.sha1_opad;
  j->hash_start_src_offset_in_bytes = 0;
  j->msg_len_to_hash_in_bytes = len - p.icv_len;
  j->auth_tag_output = decrypt ? tag : esp + hdr + ct;
  j->auth_tag_output_len_in_bytes = p.icv_len;
}

}  // namespace

RawRun RawCryptoBursts(IMB_MGR* m, rte_mempool* pool, const Frames& frames,
                       const std::vector<const esp::SaContext*>& sas, bool decrypt, RawApi api,
                       uint32_t bursts, bool last) {
  RawRun r;
  uint8_t* tags[kBurst];  // decrypt: computed ICV, in the mbuf's tailroom
  rte_mbuf* mb[kBurst];
  uint8_t* esp[kBurst];
  uint32_t len[kBurst];
  const esp::SaParams* sp[kBurst];
  size_t next = 0;
  for (uint32_t b = 0; b < bursts; ++b) {
    if (rte_pktmbuf_alloc_bulk(pool, mb, kBurst) != 0) {
      r.ok = false;
      break;
    }
    for (uint32_t i = 0; i < kBurst; ++i) {
      const Frame& f = frames[next];
      sp[i] = &sas[next]->params;
      next = (next + 1) % frames.size();
      uint8_t* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(mb[i], uint16_t(f.size())));
      std::memcpy(d, f.data(), f.size());
      tags[i] = d + f.size();
      esp[i] = d + kEspOffset;
      len[i] = uint32_t(f.size() - kEspOffset);
    }
    uint32_t done = 0;
    const uint64_t t0 = rte_rdtsc_precise();
    if (api == RawApi::kStream) {
      // Completed jobs free their own mbuf; the rest stay in the lanes.
      auto complete = [&r](IMB_JOB* j) {
        if (j->status != IMB_STATUS_COMPLETED) r.ok = false;
        rte_pktmbuf_free(static_cast<rte_mbuf*>(j->user_data));
      };
      for (uint32_t i = 0; i < kBurst; ++i) {
        IMB_JOB* j = IMB_GET_NEXT_JOB(m);
        Fill(j, *sp[i], esp[i], len[i], decrypt, tags[i]);
        j->user_data = mb[i];
        for (j = IMB_SUBMIT_JOB(m); j; j = IMB_GET_COMPLETED_JOB(m)) complete(j);
      }
      if (last && b + 1 == bursts) {
        for (IMB_JOB* j = IMB_FLUSH_JOB(m); j; j = IMB_FLUSH_JOB(m)) complete(j);
      }
      r.cycles += rte_rdtsc_precise() - t0;
      r.packets += kBurst;
      continue;
    } else if (api == RawApi::kJob) {
      for (uint32_t i = 0; i < kBurst; ++i) {
        IMB_JOB* j = IMB_GET_NEXT_JOB(m);
        Fill(j, *sp[i], esp[i], len[i], decrypt, tags[i]);
        for (j = IMB_SUBMIT_JOB(m); j; j = IMB_GET_COMPLETED_JOB(m))
          done += j->status == IMB_STATUS_COMPLETED;
      }
      for (IMB_JOB* j = IMB_FLUSH_JOB(m); j; j = IMB_FLUSH_JOB(m))
        done += j->status == IMB_STATUS_COMPLETED;
    } else {
      IMB_JOB* jobs[kBurst];
      const uint32_t got = IMB_GET_NEXT_BURST(m, kBurst, jobs);
      for (uint32_t i = 0; i < got; ++i) Fill(jobs[i], *sp[i], esp[i], len[i], decrypt, tags[i]);
      uint32_t n = IMB_SUBMIT_BURST_NOCHECK(m, got, jobs);
      if (n < got) n += IMB_FLUSH_BURST(m, got - n, jobs + n);
      done = n;
    }
    r.cycles += rte_rdtsc_precise() - t0;
    r.packets += kBurst;
    if (done != kBurst) r.ok = false;
    rte_pktmbuf_free_bulk(mb, kBurst);
  }
  return r;
}

}  // namespace vpn::perf

// An independent ESP implementation on OpenSSL EVP/HMAC, used as the oracle
// for the engine tests. It shares no code with the engine: only the RFCs
// (4303 framing and padding, 3602/2451/2405 CBC, 4106 GCM, 2404/4868 HMAC).
#pragma once

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "esp.h"

namespace vpn::esp::test {

using Bytes = std::vector<uint8_t>;

inline Bytes Hex(const std::string& s) {
  Bytes out;
  int hi = -1;
  for (char c : s) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else continue;  // spaces, newlines as the RFCs print them
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

inline Bytes RandomBytes(size_t n) {
  Bytes b(n);
  if (n != 0) RAND_bytes(b.data(), static_cast<int>(n));
  return b;
}

// DES-CBC lives in OpenSSL 3's legacy provider.
inline void LoadOpenSslProviders() {
  // Loaded once for the process; the handles stay reachable on purpose.
  static OSSL_PROVIDER* legacy = OSSL_PROVIDER_load(nullptr, "legacy");
  static OSSL_PROVIDER* dflt = OSSL_PROVIDER_load(nullptr, "default");
  (void)legacy;
  (void)dflt;
}

struct OracleSa {
  shm::Cipher cipher;
  shm::Integ integ;
  Bytes cipher_key;
  Bytes integ_key;
  uint8_t salt[4] = {};
  uint32_t spi = 0;
};

inline size_t OracleIcvLen(const OracleSa& sa) {
  switch (sa.integ) {
    case shm::Integ::kHmacSha1_96: return 12;
    case shm::Integ::kHmacSha256_128: return 16;
    case shm::Integ::kHmacSha384_192: return 24;
    case shm::Integ::kHmacSha512_256: return 32;
    case shm::Integ::kHmacSha256_96: return 12;
    case shm::Integ::kNone: return sa.cipher == shm::Cipher::kAesGcm16 ? 16 : 0;
  }
  return 0;
}

inline size_t OracleIvLen(const OracleSa& sa) {
  return sa.cipher == shm::Cipher::kAesCbc ? 16 : 8;
}

inline size_t OracleAlign(const OracleSa& sa) {
  switch (sa.cipher) {
    case shm::Cipher::kAesCbc: return 16;
    case shm::Cipher::kDes3Cbc:
    case shm::Cipher::kDesCbc: return 8;
    default: return 4;
  }
}

inline const EVP_MD* OracleMd(shm::Integ integ) {
  switch (integ) {
    case shm::Integ::kHmacSha1_96: return EVP_sha1();
    case shm::Integ::kHmacSha256_128:
    case shm::Integ::kHmacSha256_96: return EVP_sha256();
    case shm::Integ::kHmacSha384_192: return EVP_sha384();
    case shm::Integ::kHmacSha512_256: return EVP_sha512();
    default: return nullptr;
  }
}

inline const EVP_CIPHER* OracleCipher(const OracleSa& sa) {
  LoadOpenSslProviders();
  const size_t k = sa.cipher_key.size();
  switch (sa.cipher) {
    case shm::Cipher::kAesCbc:
      return k == 16 ? EVP_aes_128_cbc() : k == 24 ? EVP_aes_192_cbc()
                                                   : EVP_aes_256_cbc();
    case shm::Cipher::kDes3Cbc: return EVP_des_ede3_cbc();
    case shm::Cipher::kDesCbc: {
      static EVP_CIPHER* des = EVP_CIPHER_fetch(nullptr, "DES-CBC", nullptr);
      return des;
    }
    case shm::Cipher::kAesGcm16:
      return k == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
    default: return nullptr;
  }
}

inline void PutBe32(Bytes* b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b->push_back(static_cast<uint8_t>(v >> s));
}

// ESP packet (SPI through ICV) from the full plaintext (payload, padding,
// pad length, next header), with the given IV.
inline Bytes OracleSealRaw(const OracleSa& sa, uint32_t seq, const Bytes& iv,
                           const Bytes& plaintext) {
  Bytes pkt;
  PutBe32(&pkt, sa.spi);
  PutBe32(&pkt, seq);
  pkt.insert(pkt.end(), iv.begin(), iv.end());
  const size_t hdr = pkt.size();
  pkt.resize(hdr + plaintext.size() + 32);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0, fin = 0;
  if (sa.cipher == shm::Cipher::kAesGcm16) {
    uint8_t nonce[12];
    std::memcpy(nonce, sa.salt, 4);
    std::memcpy(nonce + 4, iv.data(), 8);
    EVP_EncryptInit_ex(ctx, OracleCipher(sa), nullptr, nullptr, nullptr);
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, nullptr);
    EVP_EncryptInit_ex(ctx, nullptr, nullptr, sa.cipher_key.data(), nonce);
    EVP_EncryptUpdate(ctx, nullptr, &len, pkt.data(), 8);  // AAD: SPI, seq
    EVP_EncryptUpdate(ctx, pkt.data() + hdr, &len, plaintext.data(),
                      static_cast<int>(plaintext.size()));
    EVP_EncryptFinal_ex(ctx, pkt.data() + hdr + len, &fin);
    pkt.resize(hdr + plaintext.size());
    uint8_t tag[16];
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag);
    pkt.insert(pkt.end(), tag, tag + 16);
  } else {
    EVP_EncryptInit_ex(ctx, OracleCipher(sa), nullptr, sa.cipher_key.data(),
                       iv.data());
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    EVP_EncryptUpdate(ctx, pkt.data() + hdr, &len, plaintext.data(),
                      static_cast<int>(plaintext.size()));
    EVP_EncryptFinal_ex(ctx, pkt.data() + hdr + len, &fin);
    pkt.resize(hdr + plaintext.size());
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(OracleMd(sa.integ), sa.integ_key.data(),
         static_cast<int>(sa.integ_key.size()), pkt.data(), pkt.size(), mac,
         &mac_len);
    pkt.insert(pkt.end(), mac, mac + OracleIcvLen(sa));
  }
  EVP_CIPHER_CTX_free(ctx);
  return pkt;
}

// Payload + RFC 4303 2.4 padding 1,2,3... + pad length + next header.
inline Bytes OraclePlaintext(const OracleSa& sa, const Bytes& payload,
                             uint8_t next_header) {
  const size_t a = OracleAlign(sa);
  Bytes pt = payload;
  size_t pad = 0;
  while ((payload.size() + pad + 2) % a != 0) ++pad;
  for (size_t i = 1; i <= pad; ++i) pt.push_back(static_cast<uint8_t>(i));
  pt.push_back(static_cast<uint8_t>(pad));
  pt.push_back(next_header);
  return pt;
}

inline Bytes OracleSeal(const OracleSa& sa, uint32_t seq, const Bytes& payload,
                        uint8_t next_header) {
  return OracleSealRaw(sa, seq, RandomBytes(OracleIvLen(sa)),
                       OraclePlaintext(sa, payload, next_header));
}

struct Opened {
  bool ok = false;
  std::string error;
  uint32_t spi = 0, seq = 0;
  Bytes iv;
  Bytes payload;
  uint8_t next_header = 0;
};

inline Opened OracleOpen(const OracleSa& sa, const uint8_t* pkt, size_t len) {
  Opened o;
  const size_t iv_len = OracleIvLen(sa), icv_len = OracleIcvLen(sa);
  if (len < 8 + iv_len + icv_len + 2) {
    o.error = "short";
    return o;
  }
  o.spi = uint32_t{pkt[0]} << 24 | pkt[1] << 16 | pkt[2] << 8 | pkt[3];
  o.seq = uint32_t{pkt[4]} << 24 | pkt[5] << 16 | pkt[6] << 8 | pkt[7];
  o.iv.assign(pkt + 8, pkt + 8 + iv_len);
  const uint8_t* ct = pkt + 8 + iv_len;
  const size_t ct_len = len - 8 - iv_len - icv_len;
  Bytes pt(ct_len + 32);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int n = 0, fin = 0;
  bool auth_ok;
  if (sa.cipher == shm::Cipher::kAesGcm16) {
    uint8_t nonce[12];
    std::memcpy(nonce, sa.salt, 4);
    std::memcpy(nonce + 4, o.iv.data(), 8);
    EVP_DecryptInit_ex(ctx, OracleCipher(sa), nullptr, nullptr, nullptr);
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, nullptr);
    EVP_DecryptInit_ex(ctx, nullptr, nullptr, sa.cipher_key.data(), nonce);
    EVP_DecryptUpdate(ctx, nullptr, &n, pkt, 8);
    EVP_DecryptUpdate(ctx, pt.data(), &n, ct, static_cast<int>(ct_len));
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16,
                        const_cast<uint8_t*>(pkt + len - 16));
    auth_ok = EVP_DecryptFinal_ex(ctx, pt.data() + n, &fin) == 1;
  } else {
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(OracleMd(sa.integ), sa.integ_key.data(),
         static_cast<int>(sa.integ_key.size()), pkt, len - icv_len, mac,
         &mac_len);
    auth_ok = std::memcmp(mac, pkt + len - icv_len, icv_len) == 0;
    EVP_DecryptInit_ex(ctx, OracleCipher(sa), nullptr, sa.cipher_key.data(),
                       o.iv.data());
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    EVP_DecryptUpdate(ctx, pt.data(), &n, ct, static_cast<int>(ct_len));
    EVP_DecryptFinal_ex(ctx, pt.data() + n, &fin);
    if (ct_len % OracleAlign(sa) != 0) auth_ok = false;
  }
  EVP_CIPHER_CTX_free(ctx);
  if (!auth_ok) {
    o.error = "icv";
    return o;
  }
  pt.resize(ct_len);
  const size_t pad = pt[ct_len - 2];
  o.next_header = pt[ct_len - 1];
  if (pad + 2 > ct_len) {
    o.error = "padlen";
    return o;
  }
  for (size_t i = 0; i < pad; ++i) {
    if (pt[ct_len - 2 - pad + i] != i + 1) {
      o.error = "padding";
      return o;
    }
  }
  o.payload.assign(pt.begin(), pt.begin() + (ct_len - 2 - pad));
  o.ok = true;
  return o;
}

// Fills a consistent SaRecord with fresh random keys (SaRecord holds an
// atomic, so it is filled in place rather than returned).
inline void FillRecord(shm::SaRecord* rec, shm::SaDir dir, shm::Cipher cipher,
                       uint8_t cipher_key_len, shm::Integ integ, uint32_t spi,
                       uint32_t replay_window = 1024) {
  rec->state = shm::SlotState::kActive;
  rec->dir = dir;
  rec->cipher = cipher;
  rec->integ = integ;
  rec->spi = spi;
  rec->cipher_key_len = cipher_key_len;
  rec->replay_window = replay_window;
  static const uint8_t kIntegKeyLen[] = {0, 20, 32, 48, 64, 32};
  rec->integ_key_len = kIntegKeyLen[static_cast<int>(integ)];
  rec->flags = 0;
  if (cipher == shm::Cipher::kDesCbc || cipher == shm::Cipher::kDes3Cbc) {
    rec->flags |= shm::kSaFlagAllowWeak;
  }
  rec->soft_bytes = rec->hard_bytes = 0;
  rec->soft_packets = rec->hard_packets = 0;
  Bytes k = RandomBytes(32 + 4 + 64);
  std::memcpy(rec->cipher_key, k.data(), 32);
  std::memcpy(rec->salt, k.data() + 32, 4);
  std::memcpy(rec->integ_key, k.data() + 36, 64);
}

inline OracleSa OracleFromRecord(const shm::SaRecord& rec) {
  OracleSa sa;
  sa.cipher = rec.cipher;
  sa.integ = rec.integ;
  sa.cipher_key.assign(rec.cipher_key, rec.cipher_key + rec.cipher_key_len);
  sa.integ_key.assign(rec.integ_key, rec.integ_key + rec.integ_key_len);
  std::memcpy(sa.salt, rec.salt, 4);
  sa.spi = rec.spi;
  return sa;
}

// SaContext must live at a 64-byte aligned address and never move.
struct AlignedSa {
  alignas(64) SaContext ctx;
};

}  // namespace vpn::esp::test

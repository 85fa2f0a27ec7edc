#include "crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/dh.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "absl/strings/str_format.h"

namespace vpn::ike {
namespace {

const EVP_MD* Md(HashAlg h) {
  switch (h) {
    case HashAlg::kMd5: return EVP_md5();
    case HashAlg::kSha1: return EVP_sha1();
    case HashAlg::kSha256: return EVP_sha256();
    case HashAlg::kSha384: return EVP_sha384();
    case HashAlg::kSha512: return EVP_sha512();
  }
  return EVP_sha1();
}

const EVP_CIPHER* Evp(CipherAlg c, size_t key_len) {
  switch (c) {
    case CipherAlg::kDesCbc: return key_len == 8 ? EVP_des_cbc() : nullptr;
    case CipherAlg::k3desCbc: return key_len == 24 ? EVP_des_ede3_cbc() : nullptr;
    case CipherAlg::kAesCbc:
      if (key_len == 16) return EVP_aes_128_cbc();
      if (key_len == 24) return EVP_aes_192_cbc();
      if (key_len == 32) return EVP_aes_256_cbc();
      return nullptr;
  }
  return nullptr;
}

absl::StatusOr<Bytes> Cbc(bool enc, CipherAlg c, ByteSpan key, ByteSpan iv, ByteSpan in) {
  const EVP_CIPHER* cipher = Evp(c, key.size());
  if (!cipher) return absl::InvalidArgumentError("bad cipher key length");
  size_t bs = BlockSize(c);
  if (iv.size() < bs) return absl::InvalidArgumentError("IV too short");
  if (in.size() % bs) return absl::InvalidArgumentError("not a whole number of blocks");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return absl::ResourceExhaustedError("EVP_CIPHER_CTX_new");
  Bytes out(in.size() + bs);
  int n1 = 0, n2 = 0;
  bool ok = EVP_CipherInit_ex(ctx, cipher, nullptr, key.data(), iv.data(), enc) == 1 &&
            EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
            EVP_CipherUpdate(ctx, out.data(), &n1, in.data(), static_cast<int>(in.size())) == 1 &&
            EVP_CipherFinal_ex(ctx, out.data() + n1, &n2) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) return absl::InternalError("CBC operation failed");
  out.resize(n1 + n2);
  return out;
}

// MODP primes from OpenSSL's RFC 2409 / RFC 3526 constants; generator 2.
BIGNUM* ModpPrime(DhGroup g) {
  switch (g) {
    case DhGroup::kModp768: return BN_get_rfc2409_prime_768(nullptr);
    case DhGroup::kModp1024: return BN_get_rfc2409_prime_1024(nullptr);
    case DhGroup::kModp1536: return BN_get_rfc3526_prime_1536(nullptr);
    case DhGroup::kModp2048: return BN_get_rfc3526_prime_2048(nullptr);
    case DhGroup::kModp3072: return BN_get_rfc3526_prime_3072(nullptr);
    case DhGroup::kModp4096: return BN_get_rfc3526_prime_4096(nullptr);
    default: return nullptr;
  }
}

bool IsEcp(DhGroup g) { return g == DhGroup::kEcp256 || g == DhGroup::kEcp384; }
const char* CurveName(DhGroup g) { return g == DhGroup::kEcp256 ? "prime256v1" : "secp384r1"; }

// Private exponent length for MODP groups: twice the group's symmetric
// strength (RFC 3526 8 table), which keeps modular exponentiation fast.
long PrivBits(DhGroup g) {
  switch (g) {
    case DhGroup::kModp768:
    case DhGroup::kModp1024: return 160;
    case DhGroup::kModp1536: return 192;
    case DhGroup::kModp2048: return 224;
    case DhGroup::kModp3072: return 256;
    default: return 304;
  }
}

struct ParamBld {
  OSSL_PARAM_BLD* b = OSSL_PARAM_BLD_new();
  ~ParamBld() { OSSL_PARAM_BLD_free(b); }
};

// Builds an EVP_PKEY from parameters (selection: params / public / keypair).
EVP_PKEY* FromData(const char* type, OSSL_PARAM* params, int selection) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  if (ctx && EVP_PKEY_fromdata_init(ctx) == 1)
    EVP_PKEY_fromdata(ctx, &pkey, selection, params);
  EVP_PKEY_CTX_free(ctx);
  return pkey;
}

// params/public/private for a MODP group in one place.
EVP_PKEY* ModpKey(DhGroup g, const BIGNUM* pub, const BIGNUM* priv, int selection) {
  BIGNUM* p = ModpPrime(g);
  BIGNUM* gen = BN_new();
  EVP_PKEY* pkey = nullptr;
  ParamBld bld;
  if (p && gen && bld.b && BN_set_word(gen, 2) &&
      OSSL_PARAM_BLD_push_BN(bld.b, OSSL_PKEY_PARAM_FFC_P, p) &&
      OSSL_PARAM_BLD_push_BN(bld.b, OSSL_PKEY_PARAM_FFC_G, gen) &&
      OSSL_PARAM_BLD_push_long(bld.b, OSSL_PKEY_PARAM_DH_PRIV_LEN, PrivBits(g)) &&
      (!pub || OSSL_PARAM_BLD_push_BN(bld.b, OSSL_PKEY_PARAM_PUB_KEY, pub)) &&
      (!priv || OSSL_PARAM_BLD_push_BN(bld.b, OSSL_PKEY_PARAM_PRIV_KEY, priv))) {
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld.b);
    if (params) pkey = FromData("DH", params, selection);
    OSSL_PARAM_free(params);
  }
  BN_free(p);
  BN_free(gen);
  return pkey;
}

EVP_PKEY* EcKey(DhGroup g, ByteSpan pub_uncompressed, const BIGNUM* priv, int selection) {
  ParamBld bld;
  EVP_PKEY* pkey = nullptr;
  if (bld.b &&
      OSSL_PARAM_BLD_push_utf8_string(bld.b, OSSL_PKEY_PARAM_GROUP_NAME, CurveName(g), 0) &&
      (pub_uncompressed.empty() ||
       OSSL_PARAM_BLD_push_octet_string(bld.b, OSSL_PKEY_PARAM_PUB_KEY,
                                        pub_uncompressed.data(), pub_uncompressed.size())) &&
      (!priv || OSSL_PARAM_BLD_push_BN(bld.b, OSSL_PKEY_PARAM_PRIV_KEY, priv))) {
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld.b);
    if (params) pkey = FromData("EC", params, selection);
    OSSL_PARAM_free(params);
  }
  return pkey;
}

absl::StatusOr<Bytes> PublicOf(DhGroup g, EVP_PKEY* pkey) {
  if (IsEcp(g)) {
    Bytes pub(1 + DhPublicSize(g));
    size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub.data(),
                                        pub.size(), &len) != 1 ||
        len != pub.size() || pub[0] != 0x04)
      return absl::InternalError("EC public key export failed");
    return Bytes(pub.begin() + 1, pub.end());  // RFC 5903 7: x | y, no 0x04
  }
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, &bn) != 1)
    return absl::InternalError("DH public key export failed");
  Bytes pub(DhPublicSize(g));
  int ok = BN_bn2binpad(bn, pub.data(), static_cast<int>(pub.size()));
  BN_free(bn);
  if (ok < 0) return absl::InternalError("DH public key too long");
  return pub;
}

}  // namespace

size_t HashSize(HashAlg h) { return static_cast<size_t>(EVP_MD_get_size(Md(h))); }

std::string_view HashName(HashAlg h) {
  switch (h) {
    case HashAlg::kMd5: return "md5";
    case HashAlg::kSha1: return "sha1";
    case HashAlg::kSha256: return "sha256";
    case HashAlg::kSha384: return "sha384";
    case HashAlg::kSha512: return "sha512";
  }
  return "?";
}

Bytes Hash(HashAlg h, ByteSpan data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, Md(h), nullptr);
  out.resize(len);
  return out;
}

Bytes Prf(HashAlg h, ByteSpan key, ByteSpan data) {
  // The HMAC implementation is fetched once (OpenSSL 3 fetches by name are
  // not free); a context per call keeps this re-entrant.
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  Bytes out(EVP_MAX_MD_SIZE);
  size_t len = 0;
  static const uint8_t kEmpty[1] = {0};
  // HMAC init rejects a NULL key pointer even with length 0.
  const uint8_t* k = key.empty() ? kEmpty : key.data();
  EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                       const_cast<char*>(EVP_MD_get0_name(Md(h))), 0),
      OSSL_PARAM_construct_end()};
  bool ok = ctx && EVP_MAC_init(ctx, k, key.size(), params) == 1 &&
            EVP_MAC_update(ctx, data.data(), data.size()) == 1 &&
            EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1;
  EVP_MAC_CTX_free(ctx);
  if (!ok) return {};
  out.resize(len);
  return out;
}

size_t BlockSize(CipherAlg c) { return c == CipherAlg::kAesCbc ? 16 : 8; }

std::string_view CipherName(CipherAlg c, size_t key_len) {
  switch (c) {
    case CipherAlg::kDesCbc: return "des";
    case CipherAlg::k3desCbc: return "3des";
    case CipherAlg::kAesCbc:
      return key_len == 16 ? "aes128" : key_len == 24 ? "aes192" : "aes256";
  }
  return "?";
}

absl::StatusOr<Bytes> CbcEncrypt(CipherAlg c, ByteSpan key, ByteSpan iv, ByteSpan plain) {
  return Cbc(true, c, key, iv, plain);
}
absl::StatusOr<Bytes> CbcDecrypt(CipherAlg c, ByteSpan key, ByteSpan iv, ByteSpan cipher) {
  return Cbc(false, c, key, iv, cipher);
}

bool DhGroupSupported(uint16_t group) {
  switch (static_cast<DhGroup>(group)) {
    case DhGroup::kModp1024: case DhGroup::kModp1536: case DhGroup::kModp2048:
    case DhGroup::kModp3072: case DhGroup::kModp4096: case DhGroup::kEcp256:
    case DhGroup::kEcp384:
      return true;
    default:
      return false;  // group 1 (768 bits) is too weak to offer or accept
  }
}

std::string_view DhGroupName(DhGroup g) {
  switch (g) {
    case DhGroup::kModp768: return "modp768";
    case DhGroup::kModp1024: return "modp1024";
    case DhGroup::kModp1536: return "modp1536";
    case DhGroup::kModp2048: return "modp2048";
    case DhGroup::kModp3072: return "modp3072";
    case DhGroup::kModp4096: return "modp4096";
    case DhGroup::kEcp256: return "ecp256";
    case DhGroup::kEcp384: return "ecp384";
  }
  return "?";
}

size_t DhPublicSize(DhGroup g) {
  switch (g) {
    case DhGroup::kModp768: return 96;
    case DhGroup::kModp1024: return 128;
    case DhGroup::kModp1536: return 192;
    case DhGroup::kModp2048: return 256;
    case DhGroup::kModp3072: return 384;
    case DhGroup::kModp4096: return 512;
    case DhGroup::kEcp256: return 64;
    case DhGroup::kEcp384: return 96;
  }
  return 0;
}

DiffieHellman::DiffieHellman(DhGroup g, void* pkey) : group_(g), pkey_(pkey) {}
DiffieHellman::~DiffieHellman() { EVP_PKEY_free(static_cast<EVP_PKEY*>(pkey_)); }

absl::StatusOr<std::unique_ptr<DiffieHellman>> DiffieHellman::Create(DhGroup g) {
  EVP_PKEY* params = IsEcp(g) ? EcKey(g, {}, nullptr, EVP_PKEY_KEY_PARAMETERS)
                              : ModpKey(g, nullptr, nullptr, EVP_PKEY_KEY_PARAMETERS);
  if (!params) return absl::InvalidArgumentError("unsupported DH group");
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, params, nullptr);
  EVP_PKEY* key = nullptr;
  if (ctx && EVP_PKEY_keygen_init(ctx) == 1) EVP_PKEY_generate(ctx, &key);
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(params);
  if (!key) return absl::InternalError("DH key generation failed");
  std::unique_ptr<DiffieHellman> dh(new DiffieHellman(g, key));
  auto pub = PublicOf(g, key);
  if (!pub.ok()) return pub.status();
  dh->public_ = std::move(*pub);
  return dh;
}

absl::StatusOr<std::unique_ptr<DiffieHellman>> DiffieHellman::CreateWithPrivate(
    DhGroup g, ByteSpan priv) {
  BIGNUM* x = BN_bin2bn(priv.data(), static_cast<int>(priv.size()), nullptr);
  if (!x) return absl::InvalidArgumentError("bad private value");
  EVP_PKEY* key = nullptr;
  if (IsEcp(g)) {
    // The public point x*G, computed with the (non-deprecated) EC_POINT API.
    EC_GROUP* grp = EC_GROUP_new_by_curve_name(g == DhGroup::kEcp256 ? NID_X9_62_prime256v1
                                                                     : NID_secp384r1);
    EC_POINT* pt = grp ? EC_POINT_new(grp) : nullptr;
    Bytes pub(1 + DhPublicSize(g));
    if (pt && EC_POINT_mul(grp, pt, x, nullptr, nullptr, nullptr) == 1 &&
        EC_POINT_point2oct(grp, pt, POINT_CONVERSION_UNCOMPRESSED, pub.data(), pub.size(),
                           nullptr) == pub.size())
      key = EcKey(g, pub, x, EVP_PKEY_KEYPAIR);
    EC_POINT_free(pt);
    EC_GROUP_free(grp);
  } else {
    BIGNUM* p = ModpPrime(g);
    BIGNUM* gen = BN_new();
    BIGNUM* y = BN_new();
    BN_CTX* bctx = BN_CTX_new();
    if (p && gen && y && bctx && BN_set_word(gen, 2) && BN_mod_exp(y, gen, x, p, bctx))
      key = ModpKey(g, y, x, EVP_PKEY_KEYPAIR);
    BN_free(p);
    BN_free(gen);
    BN_free(y);
    BN_CTX_free(bctx);
  }
  BN_clear_free(x);
  if (!key) return absl::InternalError("DH key import failed");
  std::unique_ptr<DiffieHellman> dh(new DiffieHellman(g, key));
  auto pub = PublicOf(g, key);
  if (!pub.ok()) return pub.status();
  dh->public_ = std::move(*pub);
  return dh;
}

absl::StatusOr<Bytes> DiffieHellman::ComputeShared(ByteSpan peer_public) const {
  if (peer_public.size() != DhPublicSize(group_))
    return absl::InvalidArgumentError("KE length does not match the group");
  EVP_PKEY* peer = nullptr;
  if (IsEcp(group_)) {
    Bytes point = Concat({Bytes{0x04}, peer_public});
    peer = EcKey(group_, point, nullptr, EVP_PKEY_PUBLIC_KEY);
  } else {
    BIGNUM* y = BN_bin2bn(peer_public.data(), static_cast<int>(peer_public.size()), nullptr);
    BIGNUM* p = ModpPrime(group_);
    // RFC 2631 / SP 800-56A 5.6.2.3.1: 1 < y < p-1.
    bool in_range = y && p && BN_cmp(y, BN_value_one()) > 0;
    if (in_range) {
      BIGNUM* pm1 = BN_dup(p);
      in_range = pm1 && BN_sub_word(pm1, 1) && BN_cmp(y, pm1) < 0;
      BN_free(pm1);
    }
    if (in_range) peer = ModpKey(group_, y, nullptr, EVP_PKEY_PUBLIC_KEY);
    BN_free(y);
    BN_free(p);
    if (!in_range) return absl::InvalidArgumentError("DH public value out of range");
  }
  if (!peer) return absl::InvalidArgumentError("peer public value rejected");
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, static_cast<EVP_PKEY*>(pkey_), nullptr);
  Bytes secret;
  size_t len = 0;
  bool ok = ctx && EVP_PKEY_derive_init(ctx) == 1;
  if (ok && !IsEcp(group_)) ok = EVP_PKEY_CTX_set_dh_pad(ctx, 1) == 1;
  // MODP: the groups are safe primes, so 1 < y < p-1 (checked above) is the
  // whole small-subgroup test (RFC 7919 5.1); OpenSSL's full check would add
  // a 2048-bit exponentiation. ECP: keep OpenSSL's point validation.
  ok = ok && EVP_PKEY_derive_set_peer_ex(ctx, peer, IsEcp(group_) ? 1 : 0) == 1 &&
       EVP_PKEY_derive(ctx, nullptr, &len) == 1;
  if (ok) {
    secret.resize(len);
    ok = EVP_PKEY_derive(ctx, secret.data(), &len) == 1;
    secret.resize(len);
  }
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(peer);
  if (!ok) return absl::InvalidArgumentError("DH derivation failed (bad peer value?)");
  return secret;
}

Bytes RandomBytes(size_t n) {
  Bytes b(n);
  if (n && RAND_bytes(b.data(), static_cast<int>(n)) != 1) abort();  // no entropy: unsafe to go on
  return b;
}

uint64_t RandomU64NonZero() {
  for (;;) {
    Bytes b = RandomBytes(8);
    uint64_t v = GetU64(b.data());
    if (v) return v;
  }
}

uint32_t RandomU32NonZero() {
  for (;;) {
    Bytes b = RandomBytes(4);
    uint32_t v = GetU32(b.data());
    if (v) return v;
  }
}

bool SecureEqual(ByteSpan a, ByteSpan b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace vpn::ike

#include "crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <mutex>

#include "vpn/log.h"

namespace vpn::ppp {
namespace {

struct Providers {
  absl::Status status;
  EVP_MD* md4 = nullptr;
  EVP_MD* md5 = nullptr;
  EVP_MD* sha1 = nullptr;
  EVP_CIPHER* des_ecb = nullptr;
};

const Providers& GetProviders() {
  static Providers p;
  static std::once_flag once;
  std::call_once(once, [] {
    // Kept loaded for the life of the process (never unloaded: other
    // subsystems share the default library context).
    if (!OSSL_PROVIDER_load(nullptr, "default")) {
      p.status = absl::InternalError("OpenSSL default provider not available");
      return;
    }
    if (!OSSL_PROVIDER_load(nullptr, "legacy")) {
      p.status = absl::FailedPreconditionError(
          "OpenSSL legacy provider (MD4, DES for MS-CHAP) not available");
      VPN_LOG(auth, kError, "%s", p.status.message());
    }
    p.md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
    p.sha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
    if (p.status.ok()) {
      p.md4 = EVP_MD_fetch(nullptr, "MD4", nullptr);
      p.des_ecb = EVP_CIPHER_fetch(nullptr, "DES-ECB", nullptr);
      if (!p.md4 || !p.des_ecb) {
        p.status = absl::FailedPreconditionError(
            "MD4/DES-ECB not fetchable from the legacy provider");
      }
    }
    if (!p.md5 || !p.sha1) {
      // Without MD5/SHA1 nothing here can work; this is a broken install.
      VPN_LOG(auth, kError, "OpenSSL lacks MD5/SHA1");
      std::abort();
    }
  });
  return p;
}

template <size_t N>
std::array<uint8_t, N> Digest(const EVP_MD* md,
                              std::initializer_list<ByteSpan> parts) {
  std::array<uint8_t, N> out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned len = 0;
  bool ok = ctx && EVP_DigestInit_ex(ctx, md, nullptr);
  for (ByteSpan p : parts) ok = ok && EVP_DigestUpdate(ctx, p.data(), p.size());
  ok = ok && EVP_DigestFinal_ex(ctx, out.data(), &len) && len == N;
  EVP_MD_CTX_free(ctx);
  if (!ok) std::abort();  // only on allocation failure inside OpenSSL
  return out;
}

}  // namespace

absl::Status EnsureCryptoProviders() { return GetProviders().status; }

absl::StatusOr<Md4Digest> Md4(ByteSpan data) {
  const Providers& p = GetProviders();
  if (!p.status.ok()) return p.status;
  return Digest<16>(p.md4, {data});
}

Md5Digest Md5(std::initializer_list<ByteSpan> parts) {
  return Digest<16>(GetProviders().md5, parts);
}

Sha1Digest Sha1(std::initializer_list<ByteSpan> parts) {
  return Digest<20>(GetProviders().sha1, parts);
}

absl::StatusOr<std::array<uint8_t, 8>> DesEncrypt56(ByteSpan clear8,
                                                    ByteSpan key7) {
  const Providers& p = GetProviders();
  if (!p.status.ok()) return p.status;
  if (clear8.size() != 8 || key7.size() != 7)
    return absl::InvalidArgumentError("DES block 8 / key 7 octets");
  // Spread 56 key bits over 8 octets, 7 bits each, low bit = odd parity.
  uint8_t key[8];
  uint64_t bits = 0;
  for (int i = 0; i < 7; ++i) bits = bits << 8 | key7[i];
  for (int i = 0; i < 8; ++i) {
    uint8_t k = uint8_t(((bits >> (49 - 7 * i)) & 0x7f) << 1);
    k |= (__builtin_popcount(k) & 1) ? 0 : 1;
    key[i] = k;
  }
  std::array<uint8_t, 8> out{};
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0, fin = 0;
  bool ok = ctx && EVP_EncryptInit_ex2(ctx, p.des_ecb, key, nullptr, nullptr) &&
            EVP_CIPHER_CTX_set_padding(ctx, 0) &&
            EVP_EncryptUpdate(ctx, out.data(), &len, clear8.data(), 8) &&
            EVP_EncryptFinal_ex(ctx, out.data() + len, &fin) && len + fin == 8;
  EVP_CIPHER_CTX_free(ctx);
  OPENSSL_cleanse(key, sizeof key);
  if (!ok) return absl::InternalError("DES-ECB failed");
  return out;
}

void RandomBytes(std::span<uint8_t> out) {
  if (RAND_bytes(out.data(), int(out.size())) != 1) std::abort();
}

uint32_t RandomU32() {
  uint8_t b[4];
  RandomBytes(b);
  return ReadU32(b, 0);
}

bool ConstantTimeEqual(ByteSpan a, ByteSpan b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace vpn::ppp

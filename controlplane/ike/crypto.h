// OpenSSL 3 (EVP) primitives for IKEv1: hash, HMAC prf, CBC ciphers without
// padding, MODP/ECP Diffie-Hellman, random bytes.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "bytes.h"
#include "constants.h"

namespace vpn::ike {

enum class HashAlg : uint8_t { kMd5, kSha1, kSha256, kSha384, kSha512 };
size_t HashSize(HashAlg h);
std::string_view HashName(HashAlg h);
Bytes Hash(HashAlg h, ByteSpan data);
// RFC 2409 3.1: "prf" is the HMAC of the negotiated hash.
Bytes Prf(HashAlg h, ByteSpan key, ByteSpan data);

enum class CipherAlg : uint8_t { kDesCbc, k3desCbc, kAesCbc };
size_t BlockSize(CipherAlg c);
std::string_view CipherName(CipherAlg c, size_t key_len);
// CBC over whole blocks (the caller pads: RFC 2408 3.1 / 4.7); key length
// must match the algorithm (AES 16/24/32, 3DES 24, DES 8).
absl::StatusOr<Bytes> CbcEncrypt(CipherAlg c, ByteSpan key, ByteSpan iv, ByteSpan plain);
absl::StatusOr<Bytes> CbcDecrypt(CipherAlg c, ByteSpan key, ByteSpan iv, ByteSpan cipher);

// Oakley / RFC 3526 / RFC 5903 group numbers we implement.
enum class DhGroup : uint16_t {
  kModp768 = 1, kModp1024 = 2, kModp1536 = 5, kModp2048 = 14, kModp3072 = 15,
  kModp4096 = 16, kEcp256 = 19, kEcp384 = 20,
};
bool DhGroupSupported(uint16_t group);
std::string_view DhGroupName(DhGroup g);
// Length of the KE payload data: prime length for MODP (RFC 2409 5: padded),
// x|y for ECP (RFC 5903 7).
size_t DhPublicSize(DhGroup g);

class DiffieHellman {
 public:
  static absl::StatusOr<std::unique_ptr<DiffieHellman>> Create(DhGroup g);
  // For known-answer tests: a fixed private value (big-endian bytes).
  static absl::StatusOr<std::unique_ptr<DiffieHellman>> CreateWithPrivate(DhGroup g,
                                                                           ByteSpan priv);
  ~DiffieHellman();
  DhGroup group() const { return group_; }
  const Bytes& public_value() const { return public_; }
  // g^xy: zero-padded to the prime length for MODP, the x coordinate for
  // ECP (RFC 5903 7). Rejects malformed or out-of-range peer values.
  absl::StatusOr<Bytes> ComputeShared(ByteSpan peer_public) const;

 private:
  DiffieHellman(DhGroup g, void* pkey);
  DhGroup group_;
  void* pkey_;  // EVP_PKEY*
  Bytes public_;
};

Bytes RandomBytes(size_t n);
uint64_t RandomU64NonZero();
uint32_t RandomU32NonZero();

// Constant-time equality for hash comparisons.
bool SecureEqual(ByteSpan a, ByteSpan b);

}  // namespace vpn::ike

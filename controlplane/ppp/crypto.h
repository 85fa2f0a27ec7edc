// The hash and cipher primitives PPP authentication needs, all from OpenSSL 3.
// MD4 and single DES live in OpenSSL's LEGACY provider, which
// EnsureCryptoProviders() loads explicitly (with "default", since loading any
// provider by hand stops OpenSSL from loading the default one implicitly).
#pragma once

#include <array>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "packet.h"

namespace vpn::ppp {

using Md4Digest = std::array<uint8_t, 16>;
using Md5Digest = std::array<uint8_t, 16>;
using Sha1Digest = std::array<uint8_t, 20>;

// Loads "legacy" and "default" once per process; later calls return the
// first result. Call at start-up to fail early.
absl::Status EnsureCryptoProviders();

absl::StatusOr<Md4Digest> Md4(ByteSpan data);
Md5Digest Md5(std::initializer_list<ByteSpan> parts);
Sha1Digest Sha1(std::initializer_list<ByteSpan> parts);
// DES-ECB of one block with a 56-bit key given as 7 octets (RFC 2759 8.6
// DesEncrypt: the key is spread over 8 octets with parity bits).
absl::StatusOr<std::array<uint8_t, 8>> DesEncrypt56(ByteSpan clear8,
                                                    ByteSpan key7);
// Cryptographically random bytes (RAND_bytes).
void RandomBytes(std::span<uint8_t> out);
uint32_t RandomU32();
// Compares in time independent of where the first difference is.
bool ConstantTimeEqual(ByteSpan a, ByteSpan b);

}  // namespace vpn::ppp

// The MS-CHAP algorithms as the RFCs give them in pseudocode: RFC 2433
// (MS-CHAPv1) section A, RFC 2759 (MS-CHAPv2) section 8, RFC 3079 section 3
// (MPPE master key), and the CHAP-MD5 response of RFC 1994 section 4.1.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "crypto.h"
#include "packet.h"

namespace vpn::ppp {

using NtHash = std::array<uint8_t, 16>;
using ChallengeResponse24 = std::array<uint8_t, 24>;

// UTF-8 to little-endian UTF-16 ("Unicode" in the RFCs); bytes that are not
// valid UTF-8 are taken as Latin-1.
Bytes Utf16Le(std::string_view utf8);

// RFC 2759 8.3 NtPasswordHash = MD4(Unicode password).
absl::StatusOr<NtHash> NtPasswordHash(std::string_view password);
// RFC 2759 8.4 HashNtPasswordHash = MD4(PasswordHash).
absl::StatusOr<NtHash> HashNtPasswordHash(const NtHash& hash);
// RFC 2759 8.2 ChallengeHash = first 8 octets of
// SHA1(PeerChallenge | AuthenticatorChallenge | UserName).
std::array<uint8_t, 8> ChallengeHash(ByteSpan peer_challenge16,
                                     ByteSpan auth_challenge16,
                                     std::string_view user_name);
// RFC 2759 8.5 / RFC 2433 A.5 ChallengeResponse: three DES encryptions of
// the 8-octet challenge keyed by the zero-padded 21-octet hash.
absl::StatusOr<ChallengeResponse24> ChallengeResponse(ByteSpan challenge8,
                                                      const NtHash& hash);
// RFC 2759 8.1 GenerateNTResponse from the password hash.
absl::StatusOr<ChallengeResponse24> GenerateNtResponse(
    ByteSpan auth_challenge16, ByteSpan peer_challenge16,
    std::string_view user_name, const NtHash& password_hash);
// RFC 2759 8.7 GenerateAuthenticatorResponse: "S=" and 40 upper-case hex.
absl::StatusOr<std::string> GenerateAuthenticatorResponse(
    const NtHash& password_hash, ByteSpan nt_response24,
    ByteSpan peer_challenge16, ByteSpan auth_challenge16,
    std::string_view user_name);
// RFC 3079 3.4 GetMasterKey (for MPPE / RADIUS MS-MPPE keys later).
std::array<uint8_t, 16> GetMasterKey(const NtHash& password_hash_hash,
                                     ByteSpan nt_response24);
// RFC 2759 section 4: the name hashed is the user name without any
// "DOMAIN\" prefix.
std::string_view StripNtDomain(std::string_view user_name);

// RFC 1994 4.1: MD5(Identifier | secret | Challenge).
Md5Digest ChapMd5Response(uint8_t id, std::string_view secret,
                          ByteSpan challenge);

}  // namespace vpn::ppp

// The RADIUS shared-secret algorithms, over OpenSSL's MD5 and HMAC-MD5:
//   User-Password hiding                          RFC 2865 5.2
//   Access-Request authenticator (random)         RFC 2865 3
//   Response Authenticator                        RFC 2865 3
//   Accounting-Request authenticator              RFC 2866 3
//   Disconnect/CoA-Request authenticator          RFC 5176 3.5 (as accounting)
//   Message-Authenticator (HMAC-MD5)              RFC 3579 3.2, RFC 5176 3.3
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "radius_packet.h"

namespace vpn::radius {

Authenticator Md5Of(std::initializer_list<ByteSpan> parts);
Authenticator HmacMd5(ByteSpan key, ByteSpan data);
Authenticator RandomAuthenticator();
bool ConstantTimeEqual(ByteSpan a, ByteSpan b);

// RFC 2865 5.2: the password padded with NULs to a multiple of 16 (at most
// 128 octets), XORed with MD5(secret + previous block), the first block
// chained to the Request Authenticator.
absl::StatusOr<Bytes> HidePassword(std::string_view password, std::string_view secret,
                                   const Authenticator& request_authenticator);
// The reverse, trailing NULs removed.
absl::StatusOr<std::string> RevealPassword(ByteSpan hidden, std::string_view secret,
                                           const Authenticator& request_authenticator);

// Encodes a request and fills in its Authenticator: random for an
// Access-Request (or `fixed` when given, for known-answer tests), the MD5 of
// the packet for Accounting/Disconnect/CoA-Request. A User-Password
// attribute holds the plaintext and is hidden here; a Message-Authenticator
// attribute (any value) is computed here. `sent` receives the Request
// Authenticator, needed to check the response.
absl::StatusOr<Bytes> EncodeRequest(const Packet& p, std::string_view secret,
                                    Authenticator* sent = nullptr,
                                    const Authenticator* fixed = nullptr);
// Encodes a response to a request whose authenticator was
// `request_authenticator`: Message-Authenticator if present, then the
// Response Authenticator.
absl::StatusOr<Bytes> EncodeResponse(const Packet& p, const Authenticator& request_authenticator,
                                     std::string_view secret);

// Checks a response's Response Authenticator and, when present (or when
// `require_message_authenticator`), its Message-Authenticator.
bool VerifyResponse(ByteSpan wire, const Authenticator& request_authenticator,
                    std::string_view secret, bool require_message_authenticator,
                    std::string* why);
// Checks an Accounting/Disconnect/CoA-Request's authenticator and, when
// present, its Message-Authenticator.
bool VerifyRequest(ByteSpan wire, std::string_view secret, bool require_message_authenticator,
                   std::string* why);
// Checks an Access-Request's Message-Authenticator (its authenticator is
// random and cannot be checked). For test servers.
bool VerifyAccessRequest(ByteSpan wire, std::string_view secret, std::string* why);

}  // namespace vpn::radius

#include "radius_crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>

namespace vpn::radius {

Authenticator Md5Of(std::initializer_list<ByteSpan> parts) {
  Authenticator out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned int n = 0;
  bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), nullptr) == 1;
  for (ByteSpan p : parts) ok = ok && EVP_DigestUpdate(ctx, p.data(), p.size()) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx, out.data(), &n) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || n != out.size()) abort();  // MD5 is in the default provider
  return out;
}

Authenticator HmacMd5(ByteSpan key, ByteSpan data) {
  Authenticator out{};
  unsigned int n = 0;
  if (!HMAC(EVP_md5(), key.data(), int(key.size()), data.data(), data.size(), out.data(), &n) ||
      n != out.size()) {
    abort();
  }
  return out;
}

Authenticator RandomAuthenticator() {
  Authenticator a{};
  // RFC 2865 3: unpredictable and unique over the secret's lifetime.
  if (RAND_bytes(a.data(), int(a.size())) != 1) abort();
  return a;
}

bool ConstantTimeEqual(ByteSpan a, ByteSpan b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::StatusOr<Bytes> HidePassword(std::string_view password, std::string_view secret,
                                   const Authenticator& ra) {
  if (password.size() > 128) {
    return absl::InvalidArgumentError("User-Password longer than 128 octets (RFC 2865 5.2)");
  }
  Bytes out(password.begin(), password.end());
  out.resize(std::max<size_t>(16, (out.size() + 15) / 16 * 16), 0);
  ByteSpan prev(ra);
  for (size_t off = 0; off < out.size(); off += 16) {
    const Authenticator b = Md5Of({AsBytes(secret), prev});
    for (size_t i = 0; i < 16; ++i) out[off + i] ^= b[i];
    prev = ByteSpan(out).subspan(off, 16);
  }
  return out;
}

absl::StatusOr<std::string> RevealPassword(ByteSpan hidden, std::string_view secret,
                                           const Authenticator& ra) {
  if (hidden.empty() || hidden.size() % 16 != 0 || hidden.size() > 128) {
    return absl::InvalidArgumentError("User-Password length not a multiple of 16 up to 128");
  }
  std::string out(hidden.size(), '\0');
  ByteSpan prev(ra);
  for (size_t off = 0; off < hidden.size(); off += 16) {
    const Authenticator b = Md5Of({AsBytes(secret), prev});
    for (size_t i = 0; i < 16; ++i) out[off + i] = char(hidden[off + i] ^ b[i]);
    prev = hidden.subspan(off, 16);
  }
  while (!out.empty() && out.back() == '\0') out.pop_back();
  return out;
}

namespace {

constexpr size_t kAuthOff = 4;

// Offset of the Message-Authenticator value in an encoded packet, or 0.
size_t MessageAuthenticatorOffset(ByteSpan wire) {
  size_t off = kHeaderLen;
  while (off + 2 <= wire.size()) {
    const size_t len = wire[off + 1];
    if (len < 2 || off + len > wire.size()) return 0;
    if (wire[off] == kMessageAuthenticator && len == 2 + kAuthenticatorLen) return off + 2;
    off += len;
  }
  return 0;
}

bool HasMessageAuthenticatorAttr(ByteSpan wire) {
  size_t off = kHeaderLen;
  while (off + 2 <= wire.size()) {
    const size_t len = wire[off + 1];
    if (len < 2 || off + len > wire.size()) return false;
    if (wire[off] == kMessageAuthenticator) return true;
    off += len;
  }
  return false;
}

// Fills the Message-Authenticator over `wire` as it stands (the header
// authenticator field already holding what RFC 3579 / RFC 5176 say).
void SignMessageAuthenticator(Bytes& wire, std::string_view secret) {
  const size_t ma = MessageAuthenticatorOffset(wire);
  if (!ma) return;
  std::fill(wire.begin() + ma, wire.begin() + ma + kAuthenticatorLen, 0);
  const Authenticator h = HmacMd5(AsBytes(secret), wire);
  std::copy(h.begin(), h.end(), wire.begin() + ma);
}

bool CheckMessageAuthenticator(ByteSpan wire, ByteSpan header_auth, std::string_view secret,
                               bool required, std::string* why) {
  if (!HasMessageAuthenticatorAttr(wire)) {
    if (required) *why = "Message-Authenticator missing";
    return !required;
  }
  const size_t ma = MessageAuthenticatorOffset(wire);
  if (!ma) {
    *why = "Message-Authenticator of wrong length";
    return false;
  }
  Bytes copy(wire.begin(), wire.end());
  std::copy(header_auth.begin(), header_auth.end(), copy.begin() + kAuthOff);
  std::fill(copy.begin() + ma, copy.begin() + ma + kAuthenticatorLen, 0);
  const Authenticator h = HmacMd5(AsBytes(secret), copy);
  if (!ConstantTimeEqual(h, wire.subspan(ma, kAuthenticatorLen))) {
    *why = "Message-Authenticator mismatch";
    return false;
  }
  return true;
}

// Length-limited view of a received datagram (padding after Length ignored).
ByteSpan Trim(ByteSpan wire) {
  if (wire.size() < kHeaderLen) return {};
  const size_t len = size_t(wire[2]) << 8 | wire[3];
  if (len < kHeaderLen || len > wire.size()) return {};
  return wire.first(len);
}

}  // namespace

absl::StatusOr<Bytes> EncodeRequest(const Packet& p, std::string_view secret, Authenticator* sent,
                                    const Authenticator* fixed) {
  Packet q = p;
  const bool access = p.code == kAccessRequest;
  if (access) {
    q.authenticator = fixed ? *fixed : RandomAuthenticator();
    for (Attribute& a : q.attributes) {
      if (a.type != kUserPassword) continue;
      absl::StatusOr<Bytes> h = HidePassword(AsString(a.value), secret, q.authenticator);
      if (!h.ok()) return h.status();
      a.value = *std::move(h);
    }
  } else {
    q.authenticator.fill(0);
  }
  absl::StatusOr<Bytes> wire = Encode(q);
  if (!wire.ok()) return wire.status();
  // RFC 3579 3.2: over the packet with the Request Authenticator (Access-
  // Request) or sixteen zeros (RFC 5176 3.3 and accounting alike).
  SignMessageAuthenticator(*wire, secret);
  if (!access) {
    // RFC 2866 3: MD5(Code+Identifier+Length+16 zero octets+attributes+secret).
    const Authenticator a = Md5Of({*wire, AsBytes(secret)});
    std::copy(a.begin(), a.end(), wire->begin() + kAuthOff);
    q.authenticator = a;
  }
  if (sent) *sent = q.authenticator;
  return wire;
}

absl::StatusOr<Bytes> EncodeResponse(const Packet& p, const Authenticator& request_authenticator,
                                     std::string_view secret) {
  Packet q = p;
  q.authenticator = request_authenticator;
  absl::StatusOr<Bytes> wire = Encode(q);
  if (!wire.ok()) return wire.status();
  SignMessageAuthenticator(*wire, secret);
  // RFC 2865 3: MD5(Code+ID+Length+RequestAuth+Attributes+Secret).
  const Authenticator a = Md5Of({*wire, AsBytes(secret)});
  std::copy(a.begin(), a.end(), wire->begin() + kAuthOff);
  return wire;
}

bool VerifyResponse(ByteSpan wire, const Authenticator& request_authenticator,
                    std::string_view secret, bool require_ma, std::string* why) {
  std::string ignored;
  if (!why) why = &ignored;
  wire = Trim(wire);
  if (wire.empty()) {
    *why = "malformed";
    return false;
  }
  Bytes copy(wire.begin(), wire.end());
  std::copy(request_authenticator.begin(), request_authenticator.end(), copy.begin() + kAuthOff);
  const Authenticator want = Md5Of({copy, AsBytes(secret)});
  if (!ConstantTimeEqual(want, wire.subspan(kAuthOff, kAuthenticatorLen))) {
    *why = "Response Authenticator mismatch (wrong shared secret?)";
    return false;
  }
  return CheckMessageAuthenticator(wire, request_authenticator, secret, require_ma, why);
}

bool VerifyRequest(ByteSpan wire, std::string_view secret, bool require_ma, std::string* why) {
  std::string ignored;
  if (!why) why = &ignored;
  wire = Trim(wire);
  if (wire.empty()) {
    *why = "malformed";
    return false;
  }
  Bytes copy(wire.begin(), wire.end());
  std::fill(copy.begin() + kAuthOff, copy.begin() + kAuthOff + kAuthenticatorLen, 0);
  const Authenticator want = Md5Of({copy, AsBytes(secret)});
  if (!ConstantTimeEqual(want, wire.subspan(kAuthOff, kAuthenticatorLen))) {
    *why = "Request Authenticator mismatch (wrong shared secret?)";
    return false;
  }
  const Authenticator zeros{};
  return CheckMessageAuthenticator(wire, zeros, secret, require_ma, why);
}

bool VerifyAccessRequest(ByteSpan wire, std::string_view secret, std::string* why) {
  std::string ignored;
  if (!why) why = &ignored;
  wire = Trim(wire);
  if (wire.empty()) {
    *why = "malformed";
    return false;
  }
  return CheckMessageAuthenticator(wire, wire.subspan(kAuthOff, kAuthenticatorLen), secret,
                                   false, why);
}

}  // namespace vpn::radius

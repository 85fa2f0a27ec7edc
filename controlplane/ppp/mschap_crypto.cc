#include "mschap_crypto.h"

namespace vpn::ppp {

Bytes Utf16Le(std::string_view s) {
  Bytes out;
  out.reserve(s.size() * 2);
  auto put = [&](uint32_t u) {
    out.push_back(uint8_t(u));
    out.push_back(uint8_t(u >> 8));
  };
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = uint8_t(s[i]);
    uint32_t cp = c;
    size_t n = 0;
    if (c >= 0xF0 && c < 0xF5) {
      n = 3;
      cp = c & 0x07;
    } else if (c >= 0xE0 && c < 0xF0) {
      n = 2;
      cp = c & 0x0F;
    } else if (c >= 0xC2 && c < 0xE0) {
      n = 1;
      cp = c & 0x1F;
    }
    bool valid = n > 0;
    for (size_t k = 1; valid && k <= n; ++k) {
      if (i + k >= s.size() || (uint8_t(s[i + k]) & 0xC0) != 0x80) {
        valid = false;
        break;
      }
      cp = cp << 6 | (uint8_t(s[i + k]) & 0x3F);
    }
    if (n == 0 || !valid || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) {
      put(c);  // ASCII or Latin-1 fallback
      ++i;
      continue;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      put(0xD800 | (cp >> 10));
      put(0xDC00 | (cp & 0x3FF));
    } else {
      put(cp);
    }
    i += n + 1;
  }
  return out;
}

absl::StatusOr<NtHash> NtPasswordHash(std::string_view password) {
  return Md4(Utf16Le(password));
}

absl::StatusOr<NtHash> HashNtPasswordHash(const NtHash& hash) {
  return Md4(hash);
}

std::array<uint8_t, 8> ChallengeHash(ByteSpan peer_challenge16,
                                     ByteSpan auth_challenge16,
                                     std::string_view user_name) {
  const Sha1Digest d =
      Sha1({peer_challenge16, auth_challenge16, AsBytes(user_name)});
  std::array<uint8_t, 8> out;
  std::copy_n(d.begin(), 8, out.begin());
  return out;
}

absl::StatusOr<ChallengeResponse24> ChallengeResponse(ByteSpan challenge8,
                                                      const NtHash& hash) {
  uint8_t z[21] = {};
  std::copy(hash.begin(), hash.end(), z);
  ChallengeResponse24 out;
  for (int i = 0; i < 3; ++i) {
    auto block = DesEncrypt56(challenge8, ByteSpan(z + 7 * i, 7));
    if (!block.ok()) return block.status();
    std::copy(block->begin(), block->end(), out.begin() + 8 * i);
  }
  return out;
}

absl::StatusOr<ChallengeResponse24> GenerateNtResponse(
    ByteSpan auth_challenge16, ByteSpan peer_challenge16,
    std::string_view user_name, const NtHash& password_hash) {
  const auto challenge =
      ChallengeHash(peer_challenge16, auth_challenge16, user_name);
  return ChallengeResponse(challenge, password_hash);
}

absl::StatusOr<std::string> GenerateAuthenticatorResponse(
    const NtHash& password_hash, ByteSpan nt_response24,
    ByteSpan peer_challenge16, ByteSpan auth_challenge16,
    std::string_view user_name) {
  // RFC 2759 8.7 magic constants.
  static constexpr std::string_view kMagic1 =
      "Magic server to client signing constant";
  static constexpr std::string_view kMagic2 =
      "Pad to make it do more than one iteration";
  auto hash_hash = HashNtPasswordHash(password_hash);
  if (!hash_hash.ok()) return hash_hash.status();
  const Sha1Digest digest =
      Sha1({*hash_hash, nt_response24, AsBytes(kMagic1)});
  const auto challenge =
      ChallengeHash(peer_challenge16, auth_challenge16, user_name);
  const Sha1Digest resp = Sha1({digest, challenge, AsBytes(kMagic2)});
  return "S=" + HexString(resp, /*upper=*/true);
}

std::array<uint8_t, 16> GetMasterKey(const NtHash& password_hash_hash,
                                     ByteSpan nt_response24) {
  static constexpr std::string_view kMagic1 =
      "This is the MPPE Master Key";
  const Sha1Digest d =
      Sha1({password_hash_hash, nt_response24, AsBytes(kMagic1)});
  std::array<uint8_t, 16> out;
  std::copy_n(d.begin(), 16, out.begin());
  return out;
}

std::string_view StripNtDomain(std::string_view user_name) {
  const size_t slash = user_name.rfind('\\');
  return slash == std::string_view::npos ? user_name
                                         : user_name.substr(slash + 1);
}

Md5Digest ChapMd5Response(uint8_t id, std::string_view secret,
                          ByteSpan challenge) {
  const uint8_t idb[1] = {id};
  return Md5({ByteSpan(idb, 1), AsBytes(secret), challenge});
}

}  // namespace vpn::ppp

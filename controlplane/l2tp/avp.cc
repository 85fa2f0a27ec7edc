#include "avp.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdlib>

namespace vpn::l2tp {
namespace {

using Md5 = std::array<uint8_t, 16>;

// MD5 over the concatenation of `parts`.
Md5 Md5Of(std::initializer_list<std::span<const uint8_t>> parts) {
  Md5 out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) std::abort();  // allocation failure: nothing sane to do
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  for (auto p : parts) EVP_DigestUpdate(ctx, p.data(), p.size());
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, out.data(), &len);
  EVP_MD_CTX_free(ctx);
  return out;
}

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// The section 4.3 chain, in place. `decrypt` selects which side (input or
// output) of each 16-octet block feeds the next hash: always the ciphertext.
void XorChain(uint16_t type, std::string_view secret,
              std::span<const uint8_t> rv, std::span<uint8_t> data,
              bool decrypt) {
  const uint8_t type_be[2] = {uint8_t(type >> 8), uint8_t(type)};
  Md5 b = Md5Of({type_be, AsBytes(secret), rv});
  for (size_t off = 0; off < data.size(); off += 16) {
    size_t n = std::min<size_t>(16, data.size() - off);
    uint8_t cipher[16];
    for (size_t i = 0; i < n; ++i) {
      if (decrypt) cipher[i] = data[off + i];
      data[off + i] ^= b[i];
      if (!decrypt) cipher[i] = data[off + i];
    }
    // Only the last block can be short, so a short block never feeds a hash.
    if (n == 16) b = Md5Of({AsBytes(secret), std::span<const uint8_t>(cipher, 16)});
  }
}

}  // namespace

std::string_view AvpProblemName(AvpProblem p) {
  switch (p) {
    case AvpProblem::kNone: return "none";
    case AvpProblem::kReservedBits: return "reserved bits set";
    case AvpProblem::kHiddenNoSecret: return "hidden AVP but no tunnel secret";
    case AvpProblem::kHiddenNoVector: return "hidden AVP without Random Vector";
    case AvpProblem::kHiddenBadLength: return "hidden AVP length mismatch";
    case AvpProblem::kHideForbidden: return "AVP must not be hidden";
    case AvpProblem::kBadLength: return "bad AVP length";
  }
  return "?";
}

std::optional<uint16_t> Avp::U16() const {
  if (problem != AvpProblem::kNone || value.size() != 2) return std::nullopt;
  return Get16(value.data());
}

std::optional<uint32_t> Avp::U32() const {
  if (problem != AvpProblem::kNone || value.size() != 4) return std::nullopt;
  return Get32(value.data());
}

std::vector<uint8_t> HideAvpValue(uint16_t type, std::string_view secret,
                                  std::span<const uint8_t> rv,
                                  std::span<const uint8_t> value,
                                  std::span<const uint8_t> pad) {
  std::vector<uint8_t> sub;
  sub.reserve(2 + value.size() + pad.size());
  Put16(sub, uint16_t(value.size()));
  sub.insert(sub.end(), value.begin(), value.end());
  sub.insert(sub.end(), pad.begin(), pad.end());
  XorChain(type, secret, rv, sub, /*decrypt=*/false);
  return sub;
}

std::optional<std::vector<uint8_t>> UnhideAvpValue(
    uint16_t type, std::string_view secret, std::span<const uint8_t> rv,
    std::span<const uint8_t> hidden) {
  if (hidden.size() < 2) return std::nullopt;
  std::vector<uint8_t> sub(hidden.begin(), hidden.end());
  XorChain(type, secret, rv, sub, /*decrypt=*/true);
  size_t len = Get16(sub.data());
  if (len > sub.size() - 2) return std::nullopt;
  return std::vector<uint8_t>(sub.begin() + 2, sub.begin() + 2 + len);
}

bool ParseAvps(std::span<const uint8_t> area, std::string_view secret,
               std::vector<Avp>* out) {
  out->clear();
  std::vector<uint8_t> rv;
  bool have_rv = false;
  size_t pos = 0;
  while (pos < area.size()) {
    if (area.size() - pos < kAvpHeaderSize) return false;
    const uint16_t flags_len = Get16(&area[pos]);
    const size_t len = flags_len & kAvpLengthMask;
    if (len < kAvpHeaderSize || len > area.size() - pos) return false;
    Avp a;
    a.mandatory = flags_len & kAvpFlagMandatory;
    a.hidden = flags_len & kAvpFlagHidden;
    a.vendor = Get16(&area[pos + 2]);
    a.type = Get16(&area[pos + 4]);
    std::span<const uint8_t> raw = area.subspan(pos + kAvpHeaderSize,
                                                len - kAvpHeaderSize);
    pos += len;
    const AvpSpec* spec = a.vendor == 0 ? FindAvpSpec(a.type) : nullptr;
    if (flags_len & kAvpReservedMask) {
      a.problem = AvpProblem::kReservedBits;
    } else if (a.hidden) {
      if (spec != nullptr && !spec->may_hide) {
        a.problem = AvpProblem::kHideForbidden;
      } else if (secret.empty()) {
        a.problem = AvpProblem::kHiddenNoSecret;
      } else if (!have_rv) {
        a.problem = AvpProblem::kHiddenNoVector;
      } else if (auto v = UnhideAvpValue(a.type, secret, rv, raw)) {
        a.value = std::move(*v);
      } else {
        a.problem = AvpProblem::kHiddenBadLength;
      }
    } else {
      a.value.assign(raw.begin(), raw.end());
    }
    if (a.problem == AvpProblem::kNone && spec != nullptr &&
        (a.value.size() < spec->min_len || a.value.size() > spec->max_len))
      a.problem = AvpProblem::kBadLength;
    // The vector applies to the hidden AVPs that follow it (section 4.3).
    if (a.problem == AvpProblem::kNone && spec != nullptr &&
        spec->type == AvpType::kRandomVector) {
      rv = a.value;
      have_rv = true;
    }
    out->push_back(std::move(a));
  }
  return true;
}

AvpWriter::AvpWriter(MessageType type, std::string_view secret, bool hide)
    : secret_(secret), hide_(hide && !secret.empty()) {
  const uint8_t v[2] = {0, uint8_t(type)};
  Raw(true, false, 0, uint16_t(AvpType::kMessageType), v);
}

AvpWriter& AvpWriter::Raw(bool mandatory, bool hidden, uint16_t vendor,
                          uint16_t type, std::span<const uint8_t> value) {
  if (value.size() > kMaxAvpValue) value = value.first(kMaxAvpValue);
  uint16_t flags_len = uint16_t(kAvpHeaderSize + value.size());
  if (mandatory) flags_len |= kAvpFlagMandatory;
  if (hidden) flags_len |= kAvpFlagHidden;
  Put16(out_, flags_len);
  Put16(out_, vendor);
  Put16(out_, type);
  out_.insert(out_.end(), value.begin(), value.end());
  return *this;
}

AvpWriter& AvpWriter::Bytes(AvpType type, std::span<const uint8_t> value) {
  const AvpSpec* spec = FindAvpSpec(uint16_t(type));
  const bool mandatory = spec ? spec->mandatory : true;
  // The subformat adds 2 octets; a zero-length AVP is never worth hiding.
  if (!hide_ || spec == nullptr || !spec->may_hide || value.empty() ||
      value.size() + 2 > kMaxAvpValue)
    return Raw(mandatory, false, 0, uint16_t(type), value);
  if (random_vector_.empty()) {
    random_vector_.resize(16);
    RandomBytes(random_vector_);
    Raw(true, false, 0, uint16_t(AvpType::kRandomVector), random_vector_);
  }
  std::vector<uint8_t> hidden =
      HideAvpValue(uint16_t(type), secret_, random_vector_, value);
  return Raw(mandatory, true, 0, uint16_t(type), hidden);
}

AvpWriter& AvpWriter::U16(AvpType type, uint16_t v) {
  const uint8_t b[2] = {uint8_t(v >> 8), uint8_t(v)};
  return Bytes(type, b);
}

AvpWriter& AvpWriter::U32(AvpType type, uint32_t v) {
  const uint8_t b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8),
                        uint8_t(v)};
  return Bytes(type, b);
}

AvpWriter& AvpWriter::String(AvpType type, std::string_view s) {
  return Bytes(type, AsBytes(s));
}

AvpWriter& AvpWriter::Result(uint16_t result, uint16_t error,
                             std::string_view message) {
  std::vector<uint8_t> v;
  Put16(v, result);
  if (error != 0 || !message.empty()) {
    Put16(v, error);
    v.insert(v.end(), message.begin(), message.end());
  }
  return Bytes(AvpType::kResultCode, v);
}

void RandomBytes(std::span<uint8_t> out) {
  if (RAND_bytes(out.data(), int(out.size())) != 1) std::abort();
}

std::vector<uint8_t> ChallengeResponse(MessageType carried_in,
                                       std::string_view secret,
                                       std::span<const uint8_t> challenge) {
  const uint8_t id = uint8_t(carried_in);
  Md5 d = Md5Of({std::span<const uint8_t>(&id, 1), AsBytes(secret), challenge});
  return std::vector<uint8_t>(d.begin(), d.end());
}

}  // namespace vpn::l2tp

// Byte buffers and big-endian cursors for the ISAKMP wire format
// (RFC 2408 3: all fields are in network byte order).
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vpn::ike {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline Bytes ToBytes(ByteSpan s) { return Bytes(s.begin(), s.end()); }

// Concatenates any number of byte ranges (the "|" of RFC 2409).
inline Bytes Concat(std::initializer_list<ByteSpan> parts) {
  size_t n = 0;
  for (auto p : parts) n += p.size();
  Bytes out;
  out.reserve(n);
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline void Append(Bytes& out, ByteSpan in) { out.insert(out.end(), in.begin(), in.end()); }
inline void PutU8(Bytes& out, uint8_t v) { out.push_back(v); }
inline void PutU16(Bytes& out, uint16_t v) {
  out.push_back(v >> 8);
  out.push_back(v & 0xff);
}
inline void PutU32(Bytes& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back((v >> s) & 0xff);
}
inline void PutU64(Bytes& out, uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out.push_back((v >> s) & 0xff);
}
inline void SetU16(Bytes& out, size_t at, uint16_t v) {
  out[at] = v >> 8;
  out[at + 1] = v & 0xff;
}
inline void SetU32(Bytes& out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + i] = (v >> (24 - 8 * i)) & 0xff;
}
inline uint16_t GetU16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t GetU32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline uint64_t GetU64(const uint8_t* p) {
  return uint64_t(GetU32(p)) << 32 | GetU32(p + 4);
}
inline Bytes U64Bytes(uint64_t v) {
  Bytes b;
  PutU64(b, v);
  return b;
}
inline Bytes U32Bytes(uint32_t v) {
  Bytes b;
  PutU32(b, v);
  return b;
}

// Bounds-checked reader: every getter fails (returns false) instead of
// reading past the end, so parsers of hostile input never overrun.
class Reader {
 public:
  explicit Reader(ByteSpan data) : data_(data) {}
  size_t remaining() const { return data_.size() - pos_; }
  size_t pos() const { return pos_; }
  bool U8(uint8_t* v) {
    if (remaining() < 1) return false;
    *v = data_[pos_++];
    return true;
  }
  bool U16(uint16_t* v) {
    if (remaining() < 2) return false;
    *v = GetU16(&data_[pos_]);
    pos_ += 2;
    return true;
  }
  bool U32(uint32_t* v) {
    if (remaining() < 4) return false;
    *v = GetU32(&data_[pos_]);
    pos_ += 4;
    return true;
  }
  bool Take(size_t n, ByteSpan* out) {
    if (remaining() < n) return false;
    *out = data_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool TakeBytes(size_t n, Bytes* out) {
    ByteSpan s;
    if (!Take(n, &s)) return false;
    out->assign(s.begin(), s.end());
    return true;
  }
  ByteSpan Rest() {
    ByteSpan s = data_.subspan(pos_);
    pos_ = data_.size();
    return s;
  }

 private:
  ByteSpan data_;
  size_t pos_ = 0;
};

std::string Hex(ByteSpan b);
// Parses hex (whitespace ignored); returns empty on error.
Bytes FromHex(std::string_view hex);

}  // namespace vpn::ike

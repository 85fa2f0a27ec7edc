// PPP control packet and option TLV encoding shared by LCP, IPCP and the
// authentication protocols. Parsers never trust a length field: every
// function that reads input returns nullopt/false on any inconsistency.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vpn::ppp {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

inline uint16_t ReadU16(ByteSpan b, size_t off) {
  return uint16_t(b[off] << 8 | b[off + 1]);
}
inline uint32_t ReadU32(ByteSpan b, size_t off) {
  return uint32_t(b[off]) << 24 | uint32_t(b[off + 1]) << 16 |
         uint32_t(b[off + 2]) << 8 | b[off + 3];
}
inline void PutU16(Bytes& out, uint16_t v) {
  out.push_back(uint8_t(v >> 8));
  out.push_back(uint8_t(v));
}
inline void PutU32(Bytes& out, uint32_t v) {
  PutU16(out, uint16_t(v >> 16));
  PutU16(out, uint16_t(v));
}
inline void PutBytes(Bytes& out, ByteSpan b) {
  out.insert(out.end(), b.begin(), b.end());
}
inline void PutString(Bytes& out, std::string_view s) {
  out.insert(out.end(), s.begin(), s.end());
}
inline ByteSpan AsBytes(std::string_view s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline std::string AsString(ByteSpan b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// The protocol field of a frame handed up by L2TP (RFC 1661 section 2: the
// least significant bit of the low octet is 1, of the high octet 0). Returns
// nullopt for a short frame or an invalid protocol value.
std::optional<uint16_t> ParseProtocol(ByteSpan frame);

// Code / Identifier / Length / Data (RFC 1661 section 5). Octets beyond
// Length are padding and ignored; Length shorter than 4 or longer than the
// buffer makes the packet invalid.
struct ControlPacket {
  uint8_t code = 0;
  uint8_t id = 0;
  ByteSpan data;
  ByteSpan whole;  // code..end of Length, for Code-Reject / Protocol-Reject
};
std::optional<ControlPacket> ParseControlPacket(ByteSpan payload);

// A whole frame: protocol field, then code, id, length, data.
Bytes BuildControlFrame(uint16_t protocol, uint8_t code, uint8_t id,
                        ByteSpan data);

// Type / Length / Value options (RFC 1661 section 6).
struct Option {
  uint8_t type = 0;
  ByteSpan value;  // without type and length
  ByteSpan raw;    // type, length and value, for echoing in Ack/Nak/Reject
};
std::optional<std::vector<Option>> ParseOptions(ByteSpan data);

void AppendOption(Bytes& out, uint8_t type, ByteSpan value);
void AppendOptionU16(Bytes& out, uint8_t type, uint16_t v);
void AppendOptionU32(Bytes& out, uint8_t type, uint32_t v);

std::string HexString(ByteSpan b, bool upper = true);
// Parses an even-length hex string; nullopt on any non-hex character.
std::optional<Bytes> ParseHex(std::string_view hex);
// Printable form of peer-supplied text for logs (non-printables escaped).
std::string Printable(ByteSpan b, size_t max_len = 64);
std::string FormatIp(uint32_t host_order);

}  // namespace vpn::ppp

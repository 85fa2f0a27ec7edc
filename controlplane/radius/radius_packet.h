// RADIUS packet codec (RFC 2865 3 and 5): Code, Identifier, Length,
// Authenticator, then Type-Length-Value attributes. Vendor-Specific
// attributes (RFC 2865 5.26) are kept as type 26 and read through the
// vendor helpers. The decoder never trusts a length field: anything
// inconsistent is an error, never a crash (radius_robustness_test).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "attributes.h"

namespace vpn::radius {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;
using Authenticator = std::array<uint8_t, kAuthenticatorLen>;

inline ByteSpan AsBytes(std::string_view s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline std::string AsString(ByteSpan b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

struct Attribute {
  uint8_t type = 0;
  Bytes value;  // without type and length; at most 253 octets
};

struct Packet {
  uint8_t code = 0;
  uint8_t id = 0;
  Authenticator authenticator{};
  std::vector<Attribute> attributes;

  // Adding: values longer than 253 octets are refused by Encode.
  void Add(uint8_t type, ByteSpan value);
  void AddString(uint8_t type, std::string_view s) { Add(type, AsBytes(s)); }
  void AddU32(uint8_t type, uint32_t v);
  void AddIpv4(uint8_t type, uint32_t host_order) { AddU32(type, host_order); }
  // RFC 2865 5.26: Vendor-Id (4), then vendor type, vendor length, value.
  void AddVendor(uint32_t vendor, uint8_t vendor_type, ByteSpan value);
  // RFC 3579 3.1: EAP-Message split into 253-octet pieces.
  void AddSplit(uint8_t type, ByteSpan value);
  // Replaces the first attribute of `type` (or adds it).
  void SetU32(uint8_t type, uint32_t v);
  void Remove(uint8_t type);

  // Reading.
  const Attribute* Find(uint8_t type) const;
  std::vector<ByteSpan> FindAll(uint8_t type) const;
  std::optional<uint32_t> U32(uint8_t type) const;  // nullopt unless 4 octets
  std::optional<std::string> String(uint8_t type) const;
  // The concatenation of every attribute of `type` (EAP-Message, RFC 3579).
  Bytes Concat(uint8_t type) const;
  // First sub-attribute (vendor, vendor_type) in any Vendor-Specific
  // attribute laid out as RFC 2865 5.26 suggests.
  std::optional<ByteSpan> FindVendor(uint32_t vendor, uint8_t vendor_type) const;
};

// Strict decoding (RFC 2865 3): 20 <= Length <= 4096 and <= the datagram
// (octets past Length are padding and ignored), attributes exactly fill the
// packet, every attribute Length >= 2.
absl::StatusOr<Packet> Decode(ByteSpan wire);
// Encodes as is (the authenticator as set; see radius_crypto.h for the
// signed forms). Fails on an attribute value over 253 octets or a packet
// over 4096.
absl::StatusOr<Bytes> Encode(const Packet& p);

// Vendor-Specific sub-attributes of one type 26 value; nullopt if the value
// does not follow the RFC 2865 5.26 layout.
struct VendorAttribute {
  uint32_t vendor = 0;
  uint8_t type = 0;
  ByteSpan value;
};
std::optional<std::vector<VendorAttribute>> ParseVendorSpecific(ByteSpan value);

std::string HexString(ByteSpan b);
std::optional<Bytes> ParseHex(std::string_view hex);  // spaces ignored

}  // namespace vpn::radius

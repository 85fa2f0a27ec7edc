#include "radius_packet.h"

#include "absl/strings/str_format.h"

namespace vpn::radius {

std::string_view CodeName(uint8_t code) {
  switch (code) {
    case kAccessRequest: return "Access-Request";
    case kAccessAccept: return "Access-Accept";
    case kAccessReject: return "Access-Reject";
    case kAccountingRequest: return "Accounting-Request";
    case kAccountingResponse: return "Accounting-Response";
    case kAccessChallenge: return "Access-Challenge";
    case kDisconnectRequest: return "Disconnect-Request";
    case kDisconnectAck: return "Disconnect-ACK";
    case kDisconnectNak: return "Disconnect-NAK";
    case kCoaRequest: return "CoA-Request";
    case kCoaAck: return "CoA-ACK";
    case kCoaNak: return "CoA-NAK";
  }
  return "unknown";
}

namespace {
void PutU32(Bytes& out, uint32_t v) {
  out.push_back(uint8_t(v >> 24));
  out.push_back(uint8_t(v >> 16));
  out.push_back(uint8_t(v >> 8));
  out.push_back(uint8_t(v));
}
uint32_t ReadU32(ByteSpan b) {
  return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
}
}  // namespace

void Packet::Add(uint8_t type, ByteSpan value) {
  attributes.push_back(Attribute{type, Bytes(value.begin(), value.end())});
}

void Packet::AddU32(uint8_t type, uint32_t v) {
  Bytes b;
  PutU32(b, v);
  attributes.push_back(Attribute{type, std::move(b)});
}

void Packet::AddVendor(uint32_t vendor, uint8_t vendor_type, ByteSpan value) {
  Bytes b;
  PutU32(b, vendor);
  b.push_back(vendor_type);
  b.push_back(uint8_t(value.size() + 2));
  b.insert(b.end(), value.begin(), value.end());
  attributes.push_back(Attribute{kVendorSpecific, std::move(b)});
}

void Packet::AddSplit(uint8_t type, ByteSpan value) {
  if (value.empty()) {
    Add(type, value);
    return;
  }
  for (size_t off = 0; off < value.size(); off += kMaxAttrValueLen) {
    Add(type, value.subspan(off, std::min(kMaxAttrValueLen, value.size() - off)));
  }
}

void Packet::SetU32(uint8_t type, uint32_t v) {
  for (Attribute& a : attributes) {
    if (a.type == type) {
      a.value.clear();
      PutU32(a.value, v);
      return;
    }
  }
  AddU32(type, v);
}

void Packet::Remove(uint8_t type) {
  std::erase_if(attributes, [type](const Attribute& a) { return a.type == type; });
}

const Attribute* Packet::Find(uint8_t type) const {
  for (const Attribute& a : attributes)
    if (a.type == type) return &a;
  return nullptr;
}

std::vector<ByteSpan> Packet::FindAll(uint8_t type) const {
  std::vector<ByteSpan> out;
  for (const Attribute& a : attributes)
    if (a.type == type) out.emplace_back(a.value);
  return out;
}

std::optional<uint32_t> Packet::U32(uint8_t type) const {
  const Attribute* a = Find(type);
  if (!a || a->value.size() != 4) return std::nullopt;
  return ReadU32(a->value);
}

std::optional<std::string> Packet::String(uint8_t type) const {
  const Attribute* a = Find(type);
  if (!a) return std::nullopt;
  return AsString(a->value);
}

Bytes Packet::Concat(uint8_t type) const {
  Bytes out;
  for (const Attribute& a : attributes)
    if (a.type == type) out.insert(out.end(), a.value.begin(), a.value.end());
  return out;
}

std::optional<ByteSpan> Packet::FindVendor(uint32_t vendor, uint8_t vendor_type) const {
  for (const Attribute& a : attributes) {
    if (a.type != kVendorSpecific) continue;
    auto subs = ParseVendorSpecific(a.value);
    if (!subs) continue;
    for (const VendorAttribute& v : *subs)
      if (v.vendor == vendor && v.type == vendor_type) return v.value;
  }
  return std::nullopt;
}

std::optional<std::vector<VendorAttribute>> ParseVendorSpecific(ByteSpan value) {
  if (value.size() < 4) return std::nullopt;
  const uint32_t vendor = ReadU32(value);
  std::vector<VendorAttribute> out;
  ByteSpan rest = value.subspan(4);
  if (rest.empty()) return std::nullopt;
  while (!rest.empty()) {
    if (rest.size() < 2 || rest[1] < 2 || rest[1] > rest.size()) return std::nullopt;
    out.push_back(VendorAttribute{vendor, rest[0], rest.subspan(2, rest[1] - 2)});
    rest = rest.subspan(rest[1]);
  }
  return out;
}

absl::StatusOr<Packet> Decode(ByteSpan wire) {
  if (wire.size() < kHeaderLen) {
    return absl::InvalidArgumentError(
        absl::StrFormat("RADIUS packet of %d octets is shorter than its header", wire.size()));
  }
  const size_t len = size_t(wire[2]) << 8 | wire[3];
  if (len < kHeaderLen || len > kMaxPacketLen) {
    return absl::InvalidArgumentError(absl::StrFormat("RADIUS Length %d out of range", len));
  }
  if (len > wire.size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("RADIUS Length %d exceeds the %d octets received", len, wire.size()));
  }
  Packet p;
  p.code = wire[0];
  p.id = wire[1];
  std::copy(wire.begin() + 4, wire.begin() + 20, p.authenticator.begin());
  size_t off = kHeaderLen;
  while (off < len) {
    if (len - off < 2) {
      return absl::InvalidArgumentError(absl::StrFormat("truncated attribute at offset %d", off));
    }
    const size_t alen = wire[off + 1];
    if (alen < 2 || off + alen > len) {
      return absl::InvalidArgumentError(
          absl::StrFormat("attribute %d at offset %d has bad length %d", wire[off], off, alen));
    }
    p.Add(wire[off], wire.subspan(off + 2, alen - 2));
    off += alen;
  }
  return p;
}

absl::StatusOr<Bytes> Encode(const Packet& p) {
  Bytes out;
  out.reserve(kHeaderLen + 64);
  out.push_back(p.code);
  out.push_back(p.id);
  out.push_back(0);
  out.push_back(0);
  out.insert(out.end(), p.authenticator.begin(), p.authenticator.end());
  for (const Attribute& a : p.attributes) {
    if (a.value.size() > kMaxAttrValueLen) {
      return absl::InvalidArgumentError(
          absl::StrFormat("attribute %d value of %d octets is over 253", a.type, a.value.size()));
    }
    out.push_back(a.type);
    out.push_back(uint8_t(a.value.size() + 2));
    out.insert(out.end(), a.value.begin(), a.value.end());
  }
  if (out.size() > kMaxPacketLen) {
    return absl::InvalidArgumentError(
        absl::StrFormat("RADIUS packet of %d octets is over 4096", out.size()));
  }
  out[2] = uint8_t(out.size() >> 8);
  out[3] = uint8_t(out.size());
  return out;
}

std::string HexString(ByteSpan b) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (uint8_t c : b) {
    s.push_back(kHex[c >> 4]);
    s.push_back(kHex[c & 15]);
  }
  return s;
}

std::optional<Bytes> ParseHex(std::string_view hex) {
  Bytes out;
  int nibble = -1;
  for (char c : hex) {
    if (c == ' ' || c == '\n' || c == '\t') continue;
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    if (nibble < 0) {
      nibble = v;
    } else {
      out.push_back(uint8_t(nibble << 4 | v));
      nibble = -1;
    }
  }
  if (nibble >= 0) return std::nullopt;
  return out;
}

}  // namespace vpn::radius

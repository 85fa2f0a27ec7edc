#include "packet.h"

#include "absl/strings/str_format.h"
#include "ppp_defs.h"

namespace vpn::ppp {

std::optional<uint16_t> ParseProtocol(ByteSpan frame) {
  if (frame.size() < 2) return std::nullopt;
  // RFC 1661 section 2: protocol values are odd, and the high octet even.
  if ((frame[1] & 1) == 0 || (frame[0] & 1) != 0) return std::nullopt;
  return ReadU16(frame, 0);
}

std::optional<ControlPacket> ParseControlPacket(ByteSpan payload) {
  if (payload.size() < 4) return std::nullopt;
  const uint16_t len = ReadU16(payload, 2);
  if (len < 4 || len > payload.size()) return std::nullopt;
  ControlPacket p;
  p.code = payload[0];
  p.id = payload[1];
  p.data = payload.subspan(4, len - 4);
  p.whole = payload.first(len);
  return p;
}

Bytes BuildControlFrame(uint16_t protocol, uint8_t code, uint8_t id,
                        ByteSpan data) {
  Bytes out;
  out.reserve(6 + data.size());
  PutU16(out, protocol);
  out.push_back(code);
  out.push_back(id);
  PutU16(out, uint16_t(4 + data.size()));
  PutBytes(out, data);
  return out;
}

std::optional<std::vector<Option>> ParseOptions(ByteSpan data) {
  std::vector<Option> out;
  size_t off = 0;
  while (off < data.size()) {
    if (data.size() - off < 2) return std::nullopt;
    const uint8_t len = data[off + 1];
    if (len < 2 || len > data.size() - off) return std::nullopt;
    Option o;
    o.type = data[off];
    o.raw = data.subspan(off, len);
    o.value = data.subspan(off + 2, len - 2);
    out.push_back(o);
    off += len;
  }
  return out;
}

void AppendOption(Bytes& out, uint8_t type, ByteSpan value) {
  out.push_back(type);
  out.push_back(uint8_t(2 + value.size()));
  PutBytes(out, value);
}

void AppendOptionU16(Bytes& out, uint8_t type, uint16_t v) {
  out.push_back(type);
  out.push_back(4);
  PutU16(out, v);
}

void AppendOptionU32(Bytes& out, uint8_t type, uint32_t v) {
  out.push_back(type);
  out.push_back(6);
  PutU32(out, v);
}

std::string HexString(ByteSpan b, bool upper) {
  static constexpr char kUpper[] = "0123456789ABCDEF";
  static constexpr char kLower[] = "0123456789abcdef";
  const char* digits = upper ? kUpper : kLower;
  std::string s;
  s.reserve(b.size() * 2);
  for (uint8_t c : b) {
    s.push_back(digits[c >> 4]);
    s.push_back(digits[c & 15]);
  }
  return s;
}

std::optional<Bytes> ParseHex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Bytes out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(uint8_t(hi << 4 | lo));
  }
  return out;
}

std::string Printable(ByteSpan b, size_t max_len) {
  std::string s;
  for (size_t i = 0; i < b.size() && i < max_len; ++i) {
    const uint8_t c = b[i];
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      s.push_back(char(c));
    } else {
      s += absl::StrFormat("\\x%02x", c);
    }
  }
  if (b.size() > max_len) s += "...";
  return s;
}

std::string FormatIp(uint32_t a) {
  return absl::StrFormat("%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
                         (a >> 8) & 255, a & 255);
}

std::string_view ProtocolName(uint16_t protocol) {
  switch (protocol) {
    case kProtoIpv4: return "IPv4";
    case kProtoIpv6: return "IPv6";
    case kProtoIpcp: return "IPCP";
    case kProtoIpv6cp: return "IPV6CP";
    case kProtoCcp: return "CCP";
    case kProtoLcp: return "LCP";
    case kProtoPap: return "PAP";
    case kProtoLqr: return "LQR";
    case kProtoChap: return "CHAP";
    case kProtoEap: return "EAP";
    default: return "unknown";
  }
}

}  // namespace vpn::ppp

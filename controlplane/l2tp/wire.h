// L2TPv2 header (RFC 2661 section 3.1) and the protocol constants shared by
// the LNS and our LAC.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  |T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |          Length (opt)         |
//  |           Tunnel ID           |           Session ID          |
//  |             Ns (opt)          |             Nr (opt)          |
//  |      Offset Size (opt)        |    Offset pad... (opt)
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace vpn::l2tp {

inline constexpr uint16_t kFlagType = 0x8000;      // T: 1 = control
inline constexpr uint16_t kFlagLength = 0x4000;    // L
inline constexpr uint16_t kFlagSequence = 0x0800;  // S
inline constexpr uint16_t kFlagOffset = 0x0200;    // O
inline constexpr uint16_t kFlagPriority = 0x0100;  // P
inline constexpr uint16_t kVersionMask = 0x000F;
inline constexpr uint16_t kVersion = 2;
inline constexpr size_t kControlHeaderSize = 12;   // T, L, S always set
inline constexpr uint16_t kL2tpPort = 1701;

// Message Type AVP values (RFC 2661 section 3.2).
enum class MessageType : uint16_t {
  kSccrq = 1,
  kSccrp = 2,
  kScccn = 3,
  kStopCcn = 4,
  kHello = 6,
  kOcrq = 7,
  kOcrp = 8,
  kOccn = 9,
  kIcrq = 10,
  kIcrp = 11,
  kIccn = 12,
  kCdn = 14,
  kWen = 15,
  kSli = 16,
};
inline constexpr uint16_t kMaxMessageType = 16;

bool IsKnownMessageType(uint16_t value);
std::string_view MessageTypeName(uint16_t value);
// Messages that concern the whole control connection rather than one session
// (RFC 2661 section 4.1: an unknown M-bit AVP in them clears the tunnel).
bool IsTunnelMessage(MessageType t);

// Result Code AVP values, StopCCN (RFC 2661 section 4.4.2).
namespace stopccn {
inline constexpr uint16_t kGeneralClear = 1;
inline constexpr uint16_t kGeneralError = 2;
inline constexpr uint16_t kAlreadyExists = 3;
inline constexpr uint16_t kNotAuthorized = 4;
inline constexpr uint16_t kBadProtocolVersion = 5;
inline constexpr uint16_t kShuttingDown = 6;
inline constexpr uint16_t kFsmError = 7;
}  // namespace stopccn

// Result Code AVP values, CDN.
namespace cdn {
inline constexpr uint16_t kLostCarrier = 1;
inline constexpr uint16_t kGeneralError = 2;
inline constexpr uint16_t kAdministrative = 3;
inline constexpr uint16_t kNoFacilitiesTemporary = 4;
inline constexpr uint16_t kNoFacilitiesPermanent = 5;
inline constexpr uint16_t kInvalidDestination = 6;
inline constexpr uint16_t kTimeout = 10;
}  // namespace cdn

// General error codes carried after result code 2.
namespace errcode {
inline constexpr uint16_t kNone = 0;
inline constexpr uint16_t kNoControlConnection = 1;
inline constexpr uint16_t kBadLength = 2;
inline constexpr uint16_t kBadValue = 3;
inline constexpr uint16_t kNoResources = 4;
inline constexpr uint16_t kBadSessionId = 5;
inline constexpr uint16_t kVendorSpecific = 6;
inline constexpr uint16_t kTryAnother = 7;
inline constexpr uint16_t kUnknownMandatoryAvp = 8;
}  // namespace errcode

struct Header {
  bool control = false;
  bool has_length = false;
  bool has_sequence = false;
  bool has_offset = false;
  bool priority = false;
  uint16_t length = 0;       // from the header, or the buffer size
  uint16_t tunnel_id = 0;
  uint16_t session_id = 0;
  uint16_t ns = 0;
  uint16_t nr = 0;
  uint16_t offset_size = 0;
  size_t payload_offset = 0;  // where AVPs / the PPP frame start
};

enum class HeaderError : uint8_t {
  kOk,
  kTruncated,         // shorter than the flags say
  kBadVersion,        // not 2 (1 is L2F: section 3.1 says discard)
  kBadControlFlags,   // control without L/S, or with O/P
  kBadLength,         // Length field beyond the buffer or inside the header
  kBadOffset,         // offset pad beyond the message
};
std::string_view HeaderErrorName(HeaderError e);

// Parses the header. On success `h->length` bounds the message: bytes after it
// (e.g. link padding) are not part of it.
HeaderError ParseHeader(std::span<const uint8_t> msg, Header* h);

// A control message header with Length patched to the full size: `avps` is
// appended. An empty `avps` makes a ZLB acknowledgement (section 5.8).
std::vector<uint8_t> BuildControlMessage(uint16_t tunnel_id, uint16_t session_id,
                                         uint16_t ns, uint16_t nr,
                                         std::span<const uint8_t> avps);

// Big-endian helpers.
inline uint16_t Get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t Get32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline void Put16(std::vector<uint8_t>& v, uint16_t x) {
  v.push_back(uint8_t(x >> 8));
  v.push_back(uint8_t(x));
}
inline void Put32(std::vector<uint8_t>& v, uint32_t x) {
  Put16(v, uint16_t(x >> 16));
  Put16(v, uint16_t(x));
}
inline void Set16(uint8_t* p, uint16_t x) {
  p[0] = uint8_t(x >> 8);
  p[1] = uint8_t(x);
}

// Sequence-number comparisons modulo 2^16 (section 5.8): a is before b when
// b - a lies in 1..32767.
inline bool SeqBefore(uint16_t a, uint16_t b) {
  uint16_t d = uint16_t(b - a);
  return d != 0 && d < 0x8000;
}

}  // namespace vpn::l2tp

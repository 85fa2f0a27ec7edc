// Every IETF AVP of RFC 2661 section 4.4 described once: what it is called,
// the M bit we send, whether it may be hidden (section 4.3), how long its
// value may be, and in which messages it may or must appear (section 6).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  |M|H| rsvd  |      Length       |           Vendor ID           |
//  |         Attribute Type        |        Attribute Value...
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "wire.h"

namespace vpn::l2tp {

enum class AvpType : uint16_t {
  kMessageType = 0,
  kResultCode = 1,
  kProtocolVersion = 2,
  kFramingCapabilities = 3,
  kBearerCapabilities = 4,
  kTieBreaker = 5,
  kFirmwareRevision = 6,
  kHostName = 7,
  kVendorName = 8,
  kAssignedTunnelId = 9,
  kReceiveWindowSize = 10,
  kChallenge = 11,
  kQ931CauseCode = 12,
  kChallengeResponse = 13,
  kAssignedSessionId = 14,
  kCallSerialNumber = 15,
  kMinimumBps = 16,
  kMaximumBps = 17,
  kBearerType = 18,
  kFramingType = 19,
  kCalledNumber = 21,
  kCallingNumber = 22,
  kSubAddress = 23,
  kTxConnectSpeed = 24,
  kPhysicalChannelId = 25,
  kInitialReceivedLcpConfreq = 26,
  kLastSentLcpConfreq = 27,
  kLastReceivedLcpConfreq = 28,
  kProxyAuthenType = 29,
  kProxyAuthenName = 30,
  kProxyAuthenChallenge = 31,
  kProxyAuthenId = 32,
  kProxyAuthenResponse = 33,
  kCallErrors = 34,
  kAccm = 35,
  kRandomVector = 36,
  kPrivateGroupId = 37,
  kRxConnectSpeed = 38,
  kSequencingRequired = 39,
};

inline constexpr uint16_t kAvpFlagMandatory = 0x8000;
inline constexpr uint16_t kAvpFlagHidden = 0x4000;
inline constexpr uint16_t kAvpReservedMask = 0x3C00;
inline constexpr uint16_t kAvpLengthMask = 0x03FF;
inline constexpr size_t kAvpHeaderSize = 6;
inline constexpr size_t kMaxAvpValue = kAvpLengthMask - kAvpHeaderSize;  // 1017

// Bit for a message type in the allowed/required masks.
constexpr uint32_t Bit(MessageType t) { return 1u << static_cast<uint16_t>(t); }
inline constexpr uint32_t kAllMessages = 0x1FFFE;  // types 1..16

struct AvpSpec {
  AvpType type;
  std::string_view name;
  bool mandatory;       // the M bit we send (and what section 4.4 requires)
  bool may_hide;        // "This AVP MAY be hidden" vs "MUST NOT be hidden"
  uint16_t min_len;     // attribute value length bounds, octets
  uint16_t max_len;
  uint32_t allowed;     // messages where it may appear (Bit(...) mask)
  uint32_t required;    // messages where it must appear
};

// The table, ordered by attribute type.
std::span<const AvpSpec> AllAvpSpecs();
// The spec for an IETF (vendor 0) attribute type, or nullptr if unknown.
const AvpSpec* FindAvpSpec(uint16_t type);
std::string_view AvpName(uint16_t type);

}  // namespace vpn::l2tp

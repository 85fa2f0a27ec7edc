// PPP numbers in one place: protocol field values, control packet codes and
// option types, each next to the RFC that assigns it.
#pragma once

#include <cstdint>
#include <string_view>

namespace vpn::ppp {

// Protocol field values (RFC 1661 section 2, IANA "PPP DLL Protocol Numbers").
inline constexpr uint16_t kProtoIpv4 = 0x0021;
inline constexpr uint16_t kProtoIpv6 = 0x0057;
inline constexpr uint16_t kProtoIpcp = 0x8021;    // RFC 1332
inline constexpr uint16_t kProtoIpv6cp = 0x8057;  // RFC 5072
inline constexpr uint16_t kProtoCcp = 0x80FD;     // RFC 1962
inline constexpr uint16_t kProtoLcp = 0xC021;     // RFC 1661
inline constexpr uint16_t kProtoPap = 0xC023;     // RFC 1334
inline constexpr uint16_t kProtoLqr = 0xC025;     // RFC 1989
inline constexpr uint16_t kProtoChap = 0xC223;    // RFC 1994
inline constexpr uint16_t kProtoEap = 0xC227;     // RFC 3748

// Control packet codes (RFC 1661 section 5). Codes 8..11 are LCP only.
enum Code : uint8_t {
  kConfigureRequest = 1,
  kConfigureAck = 2,
  kConfigureNak = 3,
  kConfigureReject = 4,
  kTerminateRequest = 5,
  kTerminateAck = 6,
  kCodeReject = 7,
  kProtocolReject = 8,
  kEchoRequest = 9,
  kEchoReply = 10,
  kDiscardRequest = 11,
  kIdentification = 12,  // RFC 1570
  kTimeRemaining = 13,   // RFC 1570
};

// LCP configuration options (RFC 1661 section 6, RFC 1570, RFC 1990).
enum LcpOption : uint8_t {
  kLcpMru = 1,
  kLcpAccm = 2,
  kLcpAuthProtocol = 3,
  kLcpQualityProtocol = 4,
  kLcpMagicNumber = 5,
  kLcpPfc = 7,
  kLcpAcfc = 8,
  kLcpCallback = 13,        // RFC 1570
  kLcpMrru = 17,            // RFC 1990 multilink
  kLcpShortSequence = 18,   // RFC 1990
  kLcpEndpointDisc = 19,    // RFC 1990
};

// CHAP Algorithm octet of the Authentication-Protocol option (RFC 1994 3,
// RFC 2433 2, RFC 2759 2).
inline constexpr uint8_t kChapAlgMd5 = 5;
inline constexpr uint8_t kChapAlgMsChapV1 = 0x80;
inline constexpr uint8_t kChapAlgMsChapV2 = 0x81;

// IPCP configuration options (RFC 1332 section 3, RFC 1877 section 1).
enum IpcpOption : uint8_t {
  kIpcpAddresses = 1,      // deprecated, RFC 1172
  kIpcpCompression = 2,    // Van Jacobson
  kIpcpAddress = 3,
  kIpcpPrimaryDns = 129,
  kIpcpPrimaryNbns = 130,
  kIpcpSecondaryDns = 131,
  kIpcpSecondaryNbns = 132,
};

// PAP codes (RFC 1334 section 2.2).
enum PapCode : uint8_t { kPapRequest = 1, kPapAck = 2, kPapNak = 3 };
// CHAP codes (RFC 1994 section 4).
enum ChapCode : uint8_t {
  kChapChallenge = 1,
  kChapResponse = 2,
  kChapSuccess = 3,
  kChapFailure = 4,
};
// EAP codes and types (RFC 3748 sections 4 and 5).
enum EapCode : uint8_t {
  kEapRequest = 1,
  kEapResponse = 2,
  kEapSuccess = 3,
  kEapFailure = 4,
};
enum EapType : uint8_t {
  kEapIdentity = 1,
  kEapNotification = 2,
  kEapNak = 3,
  kEapMd5Challenge = 4,
};

// PPP default MRU (RFC 1661 section 6.1) and the smallest we negotiate to.
inline constexpr uint16_t kDefaultMru = 1500;
inline constexpr uint16_t kMinMru = 128;

std::string_view ProtocolName(uint16_t protocol);

}  // namespace vpn::ppp

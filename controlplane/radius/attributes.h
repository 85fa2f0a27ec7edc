// RADIUS numbers as data, beside the RFC tables: packet codes (RFC 2865 3,
// RFC 2866 3, RFC 5176 2.3), attribute types (RFC 2865 5, RFC 2866 5,
// RFC 2869 5, RFC 3579 3, RFC 5176 3.6), the Microsoft vendor attributes
// (RFC 2548 2) and the enumerated values we send or read.
#pragma once

#include <cstdint>
#include <string_view>

namespace vpn::radius {

// RFC 2865 3 / RFC 2866 3 / RFC 5176 2.3: the Code field.
enum Code : uint8_t {
  kAccessRequest = 1,
  kAccessAccept = 2,
  kAccessReject = 3,
  kAccountingRequest = 4,
  kAccountingResponse = 5,
  kAccessChallenge = 11,
  kDisconnectRequest = 40,
  kDisconnectAck = 41,
  kDisconnectNak = 42,
  kCoaRequest = 43,
  kCoaAck = 44,
  kCoaNak = 45,
};
std::string_view CodeName(uint8_t code);

// Attribute types (one octet, RFC 2865 5).
enum AttrType : uint8_t {
  kUserName = 1,              // RFC 2865 5.1  string
  kUserPassword = 2,          // RFC 2865 5.2  hidden, 16..128 octets
  kChapPassword = 3,          // RFC 2865 5.3  CHAP Ident + 16 octets
  kNasIpAddress = 4,          // RFC 2865 5.4  address
  kNasPort = 5,               // RFC 2865 5.5  integer
  kServiceType = 6,           // RFC 2865 5.6  integer
  kFramedProtocol = 7,        // RFC 2865 5.7  integer
  kFramedIpAddress = 8,       // RFC 2865 5.8  address
  kFramedMtu = 12,            // RFC 2865 5.12 integer
  kReplyMessage = 18,         // RFC 2865 5.18 text
  kState = 24,                // RFC 2865 5.24 string, echoed in the next request
  kClass = 25,                // RFC 2865 5.25 string, echoed in accounting
  kVendorSpecific = 26,       // RFC 2865 5.26
  kSessionTimeout = 27,       // RFC 2865 5.27 integer seconds
  kIdleTimeout = 28,          // RFC 2865 5.28 integer seconds
  kCalledStationId = 30,      // RFC 2865 5.30 string
  kCallingStationId = 31,     // RFC 2865 5.31 string
  kNasIdentifier = 32,        // RFC 2865 5.32 string
  kProxyState = 33,           // RFC 2865 5.33 string
  kAcctStatusType = 40,       // RFC 2866 5.1  integer
  kAcctDelayTime = 41,        // RFC 2866 5.2  integer seconds
  kAcctInputOctets = 42,      // RFC 2866 5.3  integer
  kAcctOutputOctets = 43,     // RFC 2866 5.4  integer
  kAcctSessionId = 44,        // RFC 2866 5.5  text
  kAcctAuthentic = 45,        // RFC 2866 5.6  integer
  kAcctSessionTime = 46,      // RFC 2866 5.7  integer seconds
  kAcctInputPackets = 47,     // RFC 2866 5.8  integer
  kAcctOutputPackets = 48,    // RFC 2866 5.9  integer
  kAcctTerminateCause = 49,   // RFC 2866 5.10 integer
  kAcctInputGigawords = 52,   // RFC 2869 5.1  integer (octets >> 32)
  kAcctOutputGigawords = 53,  // RFC 2869 5.2  integer
  kEventTimestamp = 55,       // RFC 2869 5.3  time
  kChapChallenge = 60,        // RFC 2865 5.40 string
  kNasPortType = 61,          // RFC 2865 5.41 integer
  kTunnelClientEndpoint = 66, // RFC 2868 3.3
  kEapMessage = 79,           // RFC 3579 3.1  (concatenated)
  kMessageAuthenticator = 80, // RFC 3579 3.2  16 octets HMAC-MD5
  kAcctInterimInterval = 85,  // RFC 2869 5.16 integer seconds
  kNasPortId = 87,            // RFC 2869 5.17 text
  kFramedPool = 88,           // RFC 2869 5.18 string
  kErrorCause = 101,          // RFC 5176 3.6  integer
};

// RFC 2548 2: Microsoft, SMI Network Management Private Enterprise Code 311.
constexpr uint32_t kVendorMicrosoft = 311;
enum MsAttrType : uint8_t {
  kMsChapResponse = 1,     // RFC 2548 2.3.2: Ident, Flags, LM(24), NT(24) = 50
  kMsChapError = 2,        // RFC 2548 2.1.5: Ident, "E=... R=... C=... V=..."
  kMsChapChallenge = 11,   // RFC 2548 2.3.3: 8 (v1) or 16 (v2) octets
  kMsChap2Response = 25,   // RFC 2548 2.3.2: Ident, Flags, Peer-Challenge(16),
                           //   Reserved(8), Response(24) = 50
  kMsChap2Success = 26,    // RFC 2548 2.3.3: Ident, "S=<40 hex>"
};
constexpr size_t kMsChapResponseLen = 50;
constexpr size_t kMsChap2ResponseLen = 50;

// RFC 2865 5.6 Service-Type, 5.7 Framed-Protocol, 5.41 NAS-Port-Type.
constexpr uint32_t kServiceFramed = 2;
constexpr uint32_t kFramedProtocolPpp = 1;
constexpr uint32_t kNasPortTypeVirtual = 5;

// RFC 2866 5.1 Acct-Status-Type.
enum AcctStatus : uint32_t {
  kAcctStart = 1,
  kAcctStop = 2,
  kAcctInterimUpdate = 3,  // RFC 2869 2.1
  kAcctOn = 7,
  kAcctOff = 8,
};
// RFC 2866 5.6 Acct-Authentic.
constexpr uint32_t kAcctAuthenticRadius = 1;
constexpr uint32_t kAcctAuthenticLocal = 2;

// RFC 2866 5.10 Acct-Terminate-Cause.
enum TerminateCause : uint32_t {
  kTermUserRequest = 1,
  kTermLostCarrier = 2,
  kTermLostService = 3,
  kTermIdleTimeout = 4,
  kTermSessionTimeout = 5,
  kTermAdminReset = 6,
  kTermAdminReboot = 7,
  kTermPortError = 8,
  kTermNasError = 9,
  kTermNasRequest = 10,
  kTermNasReboot = 11,
  kTermServiceUnavailable = 15,
  kTermUserError = 17,
};

// RFC 5176 3.6 Error-Cause.
enum ErrorCause : uint32_t {
  kErrResidualContextRemoved = 201,
  kErrUnsupportedAttribute = 401,
  kErrMissingAttribute = 402,
  kErrNasIdentificationMismatch = 403,
  kErrInvalidRequest = 404,
  kErrUnsupportedService = 405,
  kErrUnsupportedExtension = 406,
  kErrSessionContextNotFound = 503,
};

// RFC 2865 3: packets are 20..4096 octets; attribute values up to 253.
constexpr size_t kHeaderLen = 20;
constexpr size_t kMaxPacketLen = 4096;
constexpr size_t kMaxAttrValueLen = 253;
constexpr size_t kAuthenticatorLen = 16;

}  // namespace vpn::radius

// IKEv1 / ISAKMP / IPsec DOI assigned numbers (RFC 2407, 2408, 2409, 3947,
// 3706, draft-ietf-ipsec-nat-t-ike-02), as plain enums beside the RFC text.
#pragma once

#include <cstdint>
#include <string_view>

namespace vpn::ike {

// RFC 2408 3.1: the header.
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// !                          Initiator  Cookie                    !
// !                          Responder  Cookie                    !
// !  Next Payload ! MjVer ! MnVer ! Exchange Type !     Flags     !
// !                          Message ID                           !
// !                            Length                             !
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
inline constexpr size_t kHeaderSize = 28;
inline constexpr size_t kGenericHeaderSize = 4;
inline constexpr uint8_t kVersion = 0x10;  // major 1, minor 0
inline constexpr size_t kMaxMessageSize = 65535;

namespace flags {
inline constexpr uint8_t kEncryption = 0x01;
inline constexpr uint8_t kCommit = 0x02;
inline constexpr uint8_t kAuthOnly = 0x04;
}  // namespace flags

// RFC 2408 3.1 Next Payload Types, RFC 3947 and the NAT-T draft.
enum class PayloadType : uint8_t {
  kNone = 0,
  kSa = 1,
  kProposal = 2,
  kTransform = 3,
  kKe = 4,
  kId = 5,
  kCert = 6,
  kCertReq = 7,
  kHash = 8,
  kSig = 9,
  kNonce = 10,
  kNotify = 11,
  kDelete = 12,
  kVendorId = 13,
  kNatD = 20,           // RFC 3947
  kNatOa = 21,          // RFC 3947
  kNatDDraft = 130,     // draft-ietf-ipsec-nat-t-ike-02/03
  kNatOaDraft = 131,
  kFragment = 132,      // Cisco-style IKEv1 fragment (fragments.h), never in a chain
};

// RFC 2408 3.1 Exchange Types, RFC 2409 5.5 Quick Mode.
enum class ExchangeType : uint8_t {
  kNone = 0,
  kBase = 1,
  kIdentityProtection = 2,  // Main Mode
  kAuthOnly = 3,
  kAggressive = 4,
  kInformational = 5,
  kQuickMode = 32,
};

// RFC 2407 4.4.1 protocol identifiers.
enum class ProtocolId : uint8_t {
  kIsakmp = 1,
  kAh = 2,
  kEsp = 3,
  kIpcomp = 4,
};

inline constexpr uint32_t kDoiIpsec = 1;
inline constexpr uint32_t kSituationIdentityOnly = 1;
inline constexpr uint8_t kTransformKeyIke = 1;  // RFC 2407 4.4.2

// RFC 2409 Appendix A phase 1 attribute classes.
namespace p1attr {
inline constexpr uint16_t kEncryption = 1;
inline constexpr uint16_t kHash = 2;
inline constexpr uint16_t kAuthMethod = 3;
inline constexpr uint16_t kGroup = 4;
inline constexpr uint16_t kLifeType = 11;
inline constexpr uint16_t kLifeDuration = 12;
inline constexpr uint16_t kKeyLength = 14;
}  // namespace p1attr

// RFC 2409 Appendix A values.
enum class P1Encryption : uint16_t { kDesCbc = 1, k3desCbc = 5, kAesCbc = 7 };
enum class P1Hash : uint16_t { kMd5 = 1, kSha1 = 2, kSha256 = 4, kSha384 = 5, kSha512 = 6 };
enum class AuthMethod : uint16_t { kPsk = 1, kDss = 2, kRsaSig = 3 };
inline constexpr uint16_t kLifeSeconds = 1;
inline constexpr uint16_t kLifeKilobytes = 2;

// RFC 2407 4.5 phase 2 (IPsec DOI) attribute classes.
namespace p2attr {
inline constexpr uint16_t kLifeType = 1;
inline constexpr uint16_t kLifeDuration = 2;
inline constexpr uint16_t kGroup = 3;
inline constexpr uint16_t kEncapsulation = 4;
inline constexpr uint16_t kAuthAlgorithm = 5;
inline constexpr uint16_t kKeyLength = 6;
}  // namespace p2attr

// RFC 2407 4.5 Encapsulation Mode, RFC 3947 5.1, draft-02 values.
namespace encap {
inline constexpr uint16_t kTunnel = 1;
inline constexpr uint16_t kTransport = 2;
inline constexpr uint16_t kUdpTunnel = 3;
inline constexpr uint16_t kUdpTransport = 4;
inline constexpr uint16_t kUdpTunnelDraft = 61443;
inline constexpr uint16_t kUdpTransportDraft = 61444;
}  // namespace encap

// RFC 2407 4.4.4 ESP transform IDs (+ RFC 4106 8.4).
enum class EspTransform : uint8_t {
  kDes = 2,
  k3des = 3,
  kNull = 11,
  kAesCbc = 12,
  kAesGcm8 = 18,
  kAesGcm12 = 19,
  kAesGcm16 = 20,
};

// RFC 2407 4.5 Authentication Algorithm (+ RFC 4868 5.4).
enum class EspAuth : uint16_t {
  kHmacMd5 = 1,
  kHmacSha1 = 2,
  kHmacSha256 = 5,
  kHmacSha384 = 6,
  kHmacSha512 = 7,
};

// RFC 2407 4.6.2.1 identification types.
enum class IdType : uint8_t {
  kIpv4Addr = 1,
  kFqdn = 2,
  kUserFqdn = 3,
  kIpv4Subnet = 4,
  kIpv6Addr = 5,
  kIpv4Range = 7,
  kDerAsn1Dn = 9,
  kKeyId = 11,
};

// RFC 2408 3.14.1 notify message types; RFC 2407 4.6.3; RFC 3706.
enum class NotifyType : uint16_t {
  kInvalidPayloadType = 1,
  kDoiNotSupported = 2,
  kSituationNotSupported = 3,
  kInvalidCookie = 4,
  kInvalidMajorVersion = 5,
  kInvalidMinorVersion = 6,
  kInvalidExchangeType = 7,
  kInvalidFlags = 8,
  kInvalidMessageId = 9,
  kInvalidProtocolId = 10,
  kInvalidSpi = 11,
  kInvalidTransformId = 12,
  kAttributesNotSupported = 13,
  kNoProposalChosen = 14,
  kBadProposalSyntax = 15,
  kPayloadMalformed = 16,
  kInvalidKeyInformation = 17,
  kInvalidIdInformation = 18,
  kInvalidCertEncoding = 19,
  kInvalidCertificate = 20,
  kCertTypeUnsupported = 21,
  kInvalidCertAuthority = 22,
  kInvalidHashInformation = 23,
  kAuthenticationFailed = 24,
  kInvalidSignature = 25,
  kAddressNotification = 26,
  kNotifySaLifetime = 27,
  kCertificateUnavailable = 28,
  kUnsupportedExchangeType = 29,
  kUnequalPayloadLengths = 30,
  kConnected = 16384,
  kResponderLifetime = 24576,
  kReplayStatus = 24577,
  kInitialContact = 24578,
  kRUThere = 36136,
  kRUThereAck = 36137,
};

std::string_view PayloadName(PayloadType t);
std::string_view ExchangeName(ExchangeType t);
std::string_view NotifyName(NotifyType t);

}  // namespace vpn::ike

#include "avp_table.h"

namespace vpn::l2tp {
namespace {

using M = MessageType;
constexpr uint32_t kAny = kAllMessages;
constexpr uint16_t kMax = kMaxAvpValue;

constexpr uint32_t B(M a) { return Bit(a); }
constexpr uint32_t B(M a, M b) { return Bit(a) | Bit(b); }
constexpr uint32_t B(M a, M b, M c) { return Bit(a) | Bit(b) | Bit(c); }
constexpr uint32_t B(M a, M b, M c, M d) { return B(a, b) | B(c, d); }
constexpr uint32_t B(M a, M b, M c, M d, M e) { return B(a, b, c, d) | Bit(e); }

// RFC 2661 section 4.4 (AVP definitions) and section 6 (which messages carry
// them; "required" is each message's list of AVPs that MUST be present).
// Value lengths: section 4.4 per AVP; 0..kMax means arbitrary.
constexpr AvpSpec kTable[] = {
    // type                          name  M  hide  min  max  allowed  required
    {AvpType::kMessageType, "Message Type", true, false, 2, 2, kAny, kAny},
    {AvpType::kResultCode, "Result Code", true, false, 2, kMax,
     B(M::kStopCcn, M::kCdn), B(M::kStopCcn, M::kCdn)},
    {AvpType::kProtocolVersion, "Protocol Version", true, false, 2, 2,
     B(M::kSccrq, M::kSccrp), B(M::kSccrq, M::kSccrp)},
    {AvpType::kFramingCapabilities, "Framing Capabilities", true, true, 4, 4,
     B(M::kSccrq, M::kSccrp), B(M::kSccrq, M::kSccrp)},
    {AvpType::kBearerCapabilities, "Bearer Capabilities", true, true, 4, 4,
     B(M::kSccrq, M::kSccrp), 0},
    {AvpType::kTieBreaker, "Tie Breaker", false, false, 8, 8, B(M::kSccrq), 0},
    {AvpType::kFirmwareRevision, "Firmware Revision", false, true, 2, 2,
     B(M::kSccrq, M::kSccrp), 0},
    {AvpType::kHostName, "Host Name", true, false, 1, kMax,
     B(M::kSccrq, M::kSccrp), B(M::kSccrq, M::kSccrp)},
    {AvpType::kVendorName, "Vendor Name", false, true, 0, kMax,
     B(M::kSccrq, M::kSccrp), 0},
    {AvpType::kAssignedTunnelId, "Assigned Tunnel ID", true, true, 2, 2,
     B(M::kSccrq, M::kSccrp, M::kStopCcn), B(M::kSccrq, M::kSccrp, M::kStopCcn)},
    {AvpType::kReceiveWindowSize, "Receive Window Size", true, false, 2, 2,
     B(M::kSccrq, M::kSccrp), 0},
    {AvpType::kChallenge, "Challenge", true, true, 1, kMax,
     B(M::kSccrq, M::kSccrp), 0},
    {AvpType::kQ931CauseCode, "Q.931 Cause Code", true, false, 3, kMax,
     B(M::kCdn), 0},
    {AvpType::kChallengeResponse, "Challenge Response", true, true, 16, 16,
     B(M::kSccrp, M::kScccn), 0},
    {AvpType::kAssignedSessionId, "Assigned Session ID", true, true, 2, 2,
     B(M::kIcrq, M::kIcrp, M::kOcrq, M::kOcrp, M::kCdn),
     B(M::kIcrq, M::kIcrp, M::kOcrq, M::kOcrp, M::kCdn)},
    {AvpType::kCallSerialNumber, "Call Serial Number", true, true, 4, 4,
     B(M::kIcrq, M::kOcrq), B(M::kIcrq, M::kOcrq)},
    {AvpType::kMinimumBps, "Minimum BPS", true, true, 4, 4, B(M::kOcrq),
     B(M::kOcrq)},
    {AvpType::kMaximumBps, "Maximum BPS", true, true, 4, 4, B(M::kOcrq),
     B(M::kOcrq)},
    {AvpType::kBearerType, "Bearer Type", true, true, 4, 4,
     B(M::kIcrq, M::kOcrq), B(M::kOcrq)},
    {AvpType::kFramingType, "Framing Type", true, true, 4, 4,
     B(M::kIccn, M::kOccn, M::kOcrq), B(M::kIccn, M::kOccn, M::kOcrq)},
    {AvpType::kCalledNumber, "Called Number", true, true, 0, kMax,
     B(M::kIcrq, M::kOcrq), B(M::kOcrq)},
    {AvpType::kCallingNumber, "Calling Number", true, true, 0, kMax,
     B(M::kIcrq), 0},
    {AvpType::kSubAddress, "Sub-Address", true, true, 0, kMax,
     B(M::kIcrq, M::kOcrq), 0},
    {AvpType::kTxConnectSpeed, "(Tx) Connect Speed", true, true, 4, 4,
     B(M::kIccn, M::kOccn), B(M::kIccn, M::kOccn)},
    {AvpType::kPhysicalChannelId, "Physical Channel ID", false, true, 4, 4,
     B(M::kIcrq, M::kOcrp), 0},
    {AvpType::kInitialReceivedLcpConfreq, "Initial Received LCP CONFREQ", false,
     true, 0, kMax, B(M::kIccn), 0},
    {AvpType::kLastSentLcpConfreq, "Last Sent LCP CONFREQ", false, true, 0, kMax,
     B(M::kIccn), 0},
    {AvpType::kLastReceivedLcpConfreq, "Last Received LCP CONFREQ", false, true,
     0, kMax, B(M::kIccn), 0},
    {AvpType::kProxyAuthenType, "Proxy Authen Type", false, true, 2, 2,
     B(M::kIccn), 0},
    {AvpType::kProxyAuthenName, "Proxy Authen Name", false, true, 0, kMax,
     B(M::kIccn), 0},
    {AvpType::kProxyAuthenChallenge, "Proxy Authen Challenge", false, true, 0,
     kMax, B(M::kIccn), 0},
    {AvpType::kProxyAuthenId, "Proxy Authen ID", false, true, 2, 2, B(M::kIccn),
     0},
    {AvpType::kProxyAuthenResponse, "Proxy Authen Response", false, true, 0,
     kMax, B(M::kIccn), 0},
    {AvpType::kCallErrors, "Call Errors", true, true, 26, 26, B(M::kWen),
     B(M::kWen)},
    {AvpType::kAccm, "ACCM", true, true, 10, 10, B(M::kSli), B(M::kSli)},
    {AvpType::kRandomVector, "Random Vector", true, false, 1, kMax, kAny, 0},
    {AvpType::kPrivateGroupId, "Private Group ID", false, true, 0, kMax,
     B(M::kIccn), 0},
    {AvpType::kRxConnectSpeed, "Rx Connect Speed", false, true, 4, 4,
     B(M::kIccn, M::kOccn), 0},
    {AvpType::kSequencingRequired, "Sequencing Required", true, false, 0, 0,
     B(M::kIccn, M::kOccn), 0},
};

// Type 20 is reserved, so the table is not indexable by type directly.
constexpr int kIndexByType[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                11, 12, 13, 14, 15, 16, 17, 18, 19, -1, 20,
                                21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
                                32, 33, 34, 35, 36, 37, 38};
static_assert(sizeof(kIndexByType) / sizeof(int) == 40);

constexpr bool TableConsistent() {
  for (int t = 0; t < 40; ++t) {
    int i = kIndexByType[t];
    if (i < 0) continue;
    if (static_cast<int>(kTable[i].type) != t) return false;
    if (kTable[i].min_len > kTable[i].max_len) return false;
    if ((kTable[i].required & ~kTable[i].allowed) != 0) return false;
  }
  return true;
}
static_assert(TableConsistent(), "AVP table out of order");

}  // namespace

std::span<const AvpSpec> AllAvpSpecs() { return kTable; }

const AvpSpec* FindAvpSpec(uint16_t type) {
  if (type >= 40 || kIndexByType[type] < 0) return nullptr;
  return &kTable[kIndexByType[type]];
}

std::string_view AvpName(uint16_t type) {
  const AvpSpec* s = FindAvpSpec(type);
  return s ? s->name : "unknown AVP";
}

}  // namespace vpn::l2tp

// A parsed control message: header, AVPs (unhidden), and the checks of RFC
// 2661 sections 3.2 and 4.1 against the AVP table (avp_table.h).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "avp.h"
#include "wire.h"

namespace vpn::l2tp {

struct ControlMessage {
  Header header;
  bool zlb = false;              // no AVPs: a pure acknowledgement (5.8)
  uint16_t type = 0;             // Message Type AVP value; 0 for a ZLB
  bool type_mandatory = false;   // its M bit (section 4.4.1)
  std::vector<Avp> avps;         // avps[0] is the Message Type AVP

  // The first usable (problem-free, IETF) AVP of `t`, or nullptr.
  const Avp* Find(AvpType t) const;
  bool Has(AvpType t) const { return Find(t) != nullptr; }
  std::optional<uint16_t> U16(AvpType t) const;
  std::optional<uint32_t> U32(AvpType t) const;
  std::optional<std::string> Str(AvpType t) const;
  MessageType message_type() const { return static_cast<MessageType>(type); }
};

enum class ParseStatus : uint8_t {
  kOk,
  kBadHeader,      // ParseHeader failed
  kNotControl,     // T bit clear
  kBadAvpFraming,  // AVP lengths do not tile the message
  kNoMessageType,  // non-empty message whose first AVP is not a usable
                   // Message Type (section 3.2: it MUST be first)
};
std::string_view ParseStatusName(ParseStatus s);

// Parses one control message (the L2TP header onward). `secret` unhides
// hidden AVPs; without one they are marked unusable.
ParseStatus ParseControlMessage(std::span<const uint8_t> msg,
                                std::string_view secret, ControlMessage* out,
                                HeaderError* header_error = nullptr);

// What the receiver must do with a structurally sound message.
struct Verdict {
  enum Kind : uint8_t {
    kOk,
    // Unknown message type without M: ignore it (section 4.4.1), but it is
    // still acknowledged.
    kIgnoreMessage,
    // Unknown message type with M: clear the tunnel (section 4.4.1).
    kUnknownMandatoryType,
    // An unrecognized or unusable AVP with M set: tear the tunnel or the
    // session down (section 4.1), result code 2 with `error_code`.
    kBadMandatoryAvp,
    // A required AVP (section 6) is missing or unusable.
    kMissingAvp,
  };
  Kind kind = kOk;
  uint16_t avp_type = 0;
  uint16_t error_code = 0;   // general error code for the Result Code AVP
  std::string detail;
  int ignored_avps = 0;      // non-mandatory unknown/unusable/misplaced AVPs
};

Verdict ValidateControlMessage(const ControlMessage& m);

}  // namespace vpn::l2tp

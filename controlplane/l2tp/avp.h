// AVP encoding and decoding (RFC 2661 section 4.1) with hidden AVPs
// (section 4.3). The table of what each AVP means is avp_table.h.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "avp_table.h"

namespace vpn::l2tp {

// Why an AVP's value could not be used.
enum class AvpProblem : uint8_t {
  kNone,
  kReservedBits,    // rsvd bits set: treat as unrecognized (section 4.1)
  kHiddenNoSecret,  // H bit but we have no tunnel secret
  kHiddenNoVector,  // H bit but no Random Vector AVP before it (section 4.3)
  kHiddenBadLength, // unhidden Original Length does not fit the AVP
  kHideForbidden,   // H bit on an AVP that MUST NOT be hidden
  kBadLength,       // value length outside the table's bounds
};
std::string_view AvpProblemName(AvpProblem p);

struct Avp {
  bool mandatory = false;
  bool hidden = false;        // the H bit was set on the wire
  uint16_t vendor = 0;
  uint16_t type = 0;
  std::vector<uint8_t> value; // unhidden when `hidden` and problem == kNone
  AvpProblem problem = AvpProblem::kNone;

  bool known() const { return vendor == 0 && FindAvpSpec(type) != nullptr; }
  std::optional<uint16_t> U16() const;
  std::optional<uint32_t> U32() const;
  std::string String() const { return std::string(value.begin(), value.end()); }
};

// Splits an AVP area into AVPs, unhiding with `secret` (empty: no secret) and
// the last Random Vector seen. Returns false only if the AVP framing itself
// is broken (header truncated, Length < 6 or past the end): the message can
// then not be trusted at all. Per-AVP issues are recorded in Avp::problem,
// known-AVP length checks included.
bool ParseAvps(std::span<const uint8_t> area, std::string_view secret,
               std::vector<Avp>* out);

// RFC 2661 section 4.3: hides `value` of attribute `type` into the Hidden AVP
// Subformat (2-octet original length, value, `pad` octets of padding) XORed
// with the MD5 chain b1 = MD5(type | secret | RV), b(i) = MD5(secret | c(i-1)).
std::vector<uint8_t> HideAvpValue(uint16_t type, std::string_view secret,
                                  std::span<const uint8_t> random_vector,
                                  std::span<const uint8_t> value,
                                  std::span<const uint8_t> pad = {});
// The inverse; nullopt if the recovered original length does not fit.
std::optional<std::vector<uint8_t>> UnhideAvpValue(
    uint16_t type, std::string_view secret,
    std::span<const uint8_t> random_vector, std::span<const uint8_t> hidden);

// Builds an AVP area. The Message Type AVP always comes first (section 3.2).
// With a secret and hide=true, every AVP the table says MAY be hidden is
// hidden, after one Random Vector AVP (section 4.3).
class AvpWriter {
 public:
  AvpWriter(MessageType type, std::string_view secret = {}, bool hide = false);

  AvpWriter& Raw(bool mandatory, bool hidden, uint16_t vendor, uint16_t type,
                 std::span<const uint8_t> value);
  AvpWriter& Bytes(AvpType type, std::span<const uint8_t> value);
  AvpWriter& U16(AvpType type, uint16_t v);
  AvpWriter& U32(AvpType type, uint32_t v);
  AvpWriter& String(AvpType type, std::string_view s);
  AvpWriter& Empty(AvpType type) { return Bytes(type, {}); }
  // Result Code AVP: result, optional error code and message (section 4.4.2).
  AvpWriter& Result(uint16_t result, uint16_t error, std::string_view message);

  const std::vector<uint8_t>& bytes() const { return out_; }
  std::vector<uint8_t> Take() { return std::move(out_); }

 private:
  std::string secret_;
  bool hide_;
  std::vector<uint8_t> random_vector_;  // empty until the first hidden AVP
  std::vector<uint8_t> out_;
};

// Random octets from OpenSSL (tunnel/session ids, challenges, vectors).
void RandomBytes(std::span<uint8_t> out);
// Challenge Response (section 4.4.3 / 5.1.1): CHAP-style
// MD5(message type of the carrying message | secret | challenge).
std::vector<uint8_t> ChallengeResponse(MessageType carried_in,
                                       std::string_view secret,
                                       std::span<const uint8_t> challenge);

}  // namespace vpn::l2tp

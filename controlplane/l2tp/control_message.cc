#include "control_message.h"

#include "absl/strings/str_format.h"

namespace vpn::l2tp {

const Avp* ControlMessage::Find(AvpType t) const {
  for (const Avp& a : avps)
    if (a.vendor == 0 && a.type == uint16_t(t) && a.problem == AvpProblem::kNone)
      return &a;
  return nullptr;
}

std::optional<uint16_t> ControlMessage::U16(AvpType t) const {
  const Avp* a = Find(t);
  return a ? a->U16() : std::nullopt;
}

std::optional<uint32_t> ControlMessage::U32(AvpType t) const {
  const Avp* a = Find(t);
  return a ? a->U32() : std::nullopt;
}

std::optional<std::string> ControlMessage::Str(AvpType t) const {
  const Avp* a = Find(t);
  if (a == nullptr) return std::nullopt;
  return a->String();
}

std::string_view ParseStatusName(ParseStatus s) {
  switch (s) {
    case ParseStatus::kOk: return "ok";
    case ParseStatus::kBadHeader: return "bad header";
    case ParseStatus::kNotControl: return "not a control message";
    case ParseStatus::kBadAvpFraming: return "bad AVP framing";
    case ParseStatus::kNoMessageType: return "no Message Type AVP first";
  }
  return "?";
}

ParseStatus ParseControlMessage(std::span<const uint8_t> msg,
                                std::string_view secret, ControlMessage* out,
                                HeaderError* header_error) {
  *out = ControlMessage{};
  HeaderError he = ParseHeader(msg, &out->header);
  if (header_error) *header_error = he;
  if (he != HeaderError::kOk) return ParseStatus::kBadHeader;
  if (!out->header.control) return ParseStatus::kNotControl;
  std::span<const uint8_t> area =
      msg.subspan(out->header.payload_offset,
                  out->header.length - out->header.payload_offset);
  if (area.empty()) {
    out->zlb = true;
    return ParseStatus::kOk;
  }
  if (!ParseAvps(area, secret, &out->avps)) return ParseStatus::kBadAvpFraming;
  const Avp& first = out->avps.front();
  if (first.vendor != 0 || first.type != uint16_t(AvpType::kMessageType) ||
      first.problem != AvpProblem::kNone || first.value.size() != 2)
    return ParseStatus::kNoMessageType;
  out->type = Get16(first.value.data());
  out->type_mandatory = first.mandatory;
  return ParseStatus::kOk;
}

Verdict ValidateControlMessage(const ControlMessage& m) {
  Verdict v;
  if (m.zlb) return v;
  if (!IsKnownMessageType(m.type)) {
    v.kind = m.type_mandatory ? Verdict::kUnknownMandatoryType
                              : Verdict::kIgnoreMessage;
    v.error_code = errcode::kUnknownMandatoryAvp;
    v.detail = absl::StrFormat("unknown message type %d", m.type);
    return v;
  }
  const uint32_t bit = 1u << m.type;
  for (size_t i = 1; i < m.avps.size(); ++i) {
    const Avp& a = m.avps[i];
    const AvpSpec* spec = a.vendor == 0 ? FindAvpSpec(a.type) : nullptr;
    const bool usable = spec != nullptr && a.problem == AvpProblem::kNone;
    if (usable) {
      // A known AVP outside its messages is not harmful; ignoring it is the
      // interoperable choice (clients add extras), M bit or not.
      if (!(spec->allowed & bit)) ++v.ignored_avps;
      continue;
    }
    if (!a.mandatory) {  // section 4.1: M clear, unrecognized: ignore
      ++v.ignored_avps;
      continue;
    }
    v.kind = Verdict::kBadMandatoryAvp;
    v.avp_type = a.type;
    v.error_code = a.problem == AvpProblem::kBadLength
                       ? errcode::kBadLength
                       : errcode::kUnknownMandatoryAvp;
    v.detail = spec == nullptr
                   ? absl::StrFormat("unknown mandatory AVP vendor %d type %d",
                                     a.vendor, a.type)
                   : absl::StrFormat("mandatory AVP %s unusable: %s", spec->name,
                                     AvpProblemName(a.problem));
    return v;
  }
  for (const AvpSpec& spec : AllAvpSpecs()) {
    if (!(spec.required & bit) || m.Has(spec.type)) continue;
    v.kind = Verdict::kMissingAvp;
    v.avp_type = uint16_t(spec.type);
    v.error_code = errcode::kBadValue;
    v.detail = absl::StrFormat("%s without required AVP %s",
                               MessageTypeName(m.type), spec.name);
    return v;
  }
  return v;
}

}  // namespace vpn::l2tp

#include "wire.h"

namespace vpn::l2tp {

bool IsKnownMessageType(uint16_t v) {
  switch (v) {
    case 1: case 2: case 3: case 4: case 6: case 7: case 8: case 9:
    case 10: case 11: case 12: case 14: case 15: case 16:
      return true;
    default:
      return false;
  }
}

std::string_view MessageTypeName(uint16_t v) {
  switch (v) {
    case 1: return "SCCRQ";
    case 2: return "SCCRP";
    case 3: return "SCCCN";
    case 4: return "StopCCN";
    case 6: return "HELLO";
    case 7: return "OCRQ";
    case 8: return "OCRP";
    case 9: return "OCCN";
    case 10: return "ICRQ";
    case 11: return "ICRP";
    case 12: return "ICCN";
    case 14: return "CDN";
    case 15: return "WEN";
    case 16: return "SLI";
    default: return "unknown";
  }
}

bool IsTunnelMessage(MessageType t) {
  switch (t) {
    case MessageType::kSccrq:
    case MessageType::kSccrp:
    case MessageType::kScccn:
    case MessageType::kStopCcn:
    case MessageType::kHello:
      return true;
    default:
      return false;
  }
}

std::string_view HeaderErrorName(HeaderError e) {
  switch (e) {
    case HeaderError::kOk: return "ok";
    case HeaderError::kTruncated: return "truncated";
    case HeaderError::kBadVersion: return "bad version";
    case HeaderError::kBadControlFlags: return "bad control flags";
    case HeaderError::kBadLength: return "bad length";
    case HeaderError::kBadOffset: return "bad offset";
  }
  return "?";
}

HeaderError ParseHeader(std::span<const uint8_t> msg, Header* h) {
  *h = Header{};
  if (msg.size() < 2) return HeaderError::kTruncated;
  const uint16_t flags = Get16(msg.data());
  // Version 1 is L2F and anything else unknown: discard (section 3.1).
  if ((flags & kVersionMask) != kVersion) return HeaderError::kBadVersion;
  h->control = flags & kFlagType;
  h->has_length = flags & kFlagLength;
  h->has_sequence = flags & kFlagSequence;
  h->has_offset = flags & kFlagOffset;
  h->priority = flags & kFlagPriority;
  // Control messages MUST have L and S set and O and P clear (section 3.1).
  if (h->control &&
      (!h->has_length || !h->has_sequence || h->has_offset || h->priority))
    return HeaderError::kBadControlFlags;

  size_t need = 2 + (h->has_length ? 2 : 0) + 4 + (h->has_sequence ? 4 : 0) +
                (h->has_offset ? 2 : 0);
  if (msg.size() < need) return HeaderError::kTruncated;
  size_t pos = 2;
  if (h->has_length) {
    h->length = Get16(&msg[pos]);
    pos += 2;
    if (h->length > msg.size() || h->length < need) return HeaderError::kBadLength;
  } else {
    if (msg.size() > 0xFFFF) return HeaderError::kBadLength;
    h->length = uint16_t(msg.size());
  }
  h->tunnel_id = Get16(&msg[pos]);
  h->session_id = Get16(&msg[pos + 2]);
  pos += 4;
  if (h->has_sequence) {
    h->ns = Get16(&msg[pos]);
    h->nr = Get16(&msg[pos + 2]);
    pos += 4;
  }
  if (h->has_offset) {
    h->offset_size = Get16(&msg[pos]);
    pos += 2;
    if (pos + h->offset_size > h->length) return HeaderError::kBadOffset;
    pos += h->offset_size;
  }
  h->payload_offset = pos;
  return HeaderError::kOk;
}

std::vector<uint8_t> BuildControlMessage(uint16_t tunnel_id, uint16_t session_id,
                                         uint16_t ns, uint16_t nr,
                                         std::span<const uint8_t> avps) {
  std::vector<uint8_t> m;
  m.reserve(kControlHeaderSize + avps.size());
  Put16(m, kFlagType | kFlagLength | kFlagSequence | kVersion);
  Put16(m, uint16_t(kControlHeaderSize + avps.size()));
  Put16(m, tunnel_id);
  Put16(m, session_id);
  Put16(m, ns);
  Put16(m, nr);
  m.insert(m.end(), avps.begin(), avps.end());
  return m;
}

}  // namespace vpn::l2tp

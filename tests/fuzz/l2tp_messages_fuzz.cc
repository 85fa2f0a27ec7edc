// L2TPv2 wire decoding (controlplane/l2tp wire.cc, avp.cc,
// control_message.cc, data_message.cc) on arbitrary bytes, with oracles:
//  - a message built by BuildControlMessage / BuildDataMessage parses back
//    to the same ids, sequence numbers and payload;
//  - hiding then unhiding an AVP value (RFC 2661 4.3) gives it back;
//  - NormalizePppFrame only returns valid protocol fields (RFC 1661 2).
//
// Input: byte 0 selects the secret (none / "fuzz") and sequence options;
// the rest is the message handed to every decoder.
#include "avp.h"
#include "control_message.h"
#include "data_message.h"
#include "fuzz_common.h"
#include "wire.h"

namespace vpn::l2tp {
namespace {

void Exercise(const ControlMessage& m) {
  (void)ValidateControlMessage(m);
  (void)MessageTypeName(m.type);
  for (const AvpSpec& s : AllAvpSpecs()) {
    (void)m.U16(s.type);
    (void)m.U32(s.type);
    (void)m.Str(s.type);
  }
  for (const Avp& a : m.avps) {
    (void)a.U16();
    (void)a.U32();
    (void)a.known();
    (void)AvpProblemName(a.problem);
    (void)AvpName(a.type);
  }
}

void ControlRoundTrip(uint8_t sel, std::span<const uint8_t> body, std::string_view secret) {
  const uint16_t tid = uint16_t(0x100 + sel), sid = uint16_t(sel * 3);
  const uint16_t ns = uint16_t(sel * 7), nr = uint16_t(sel * 11);
  // The AVP area field is 16 bits wide with the 12-byte header.
  if (body.size() > 0xFFFF - kControlHeaderSize) body = body.first(0xFFFF - kControlHeaderSize);
  std::vector<uint8_t> msg = BuildControlMessage(tid, sid, ns, nr, body);
  Header h;
  FUZZ_CHECK(ParseHeader(msg, &h) == HeaderError::kOk);
  FUZZ_CHECK(h.control && h.has_length && h.has_sequence);
  FUZZ_CHECK(h.tunnel_id == tid && h.session_id == sid && h.ns == ns && h.nr == nr);
  FUZZ_CHECK(h.length == msg.size() && h.payload_offset == kControlHeaderSize);
  std::vector<Avp> avps;
  const bool framing = ParseAvps(body, secret, &avps);
  ControlMessage m;
  ParseStatus st = ParseControlMessage(msg, secret, &m);
  if (body.empty()) {
    FUZZ_CHECK(st == ParseStatus::kOk && m.zlb);
    return;
  }
  if (!framing) {
    FUZZ_CHECK(st == ParseStatus::kBadAvpFraming);
    return;
  }
  if (st != ParseStatus::kOk) {
    FUZZ_CHECK(st == ParseStatus::kNoMessageType);
    return;
  }
  FUZZ_CHECK(m.avps.size() == avps.size());
  for (size_t i = 0; i < avps.size(); ++i) {
    FUZZ_CHECK(m.avps[i].type == avps[i].type && m.avps[i].vendor == avps[i].vendor);
    FUZZ_CHECK(m.avps[i].value == avps[i].value && m.avps[i].problem == avps[i].problem);
  }
  Exercise(m);
}

void DataRoundTrip(uint8_t sel, std::span<const uint8_t> frame) {
  if (frame.size() > 0xFFFF - 16) frame = frame.first(0xFFFF - 16);
  std::optional<uint16_t> ns;
  if (sel & 0x10) ns = uint16_t(sel * 5);
  std::vector<uint8_t> msg = BuildDataMessage(uint16_t(sel), uint16_t(~sel), ns, frame);
  Header h;
  FUZZ_CHECK(ParseHeader(msg, &h) == HeaderError::kOk);
  FUZZ_CHECK(!h.control && h.tunnel_id == uint16_t(sel) && h.session_id == uint16_t(~sel));
  FUZZ_CHECK(h.has_sequence == ns.has_value() && (!ns || h.ns == *ns));
  FUZZ_CHECK(h.length == msg.size());
  std::span<const uint8_t> payload(msg.data() + h.payload_offset, h.length - h.payload_offset);
  FUZZ_CHECK(payload.size() == frame.size() + 2 && payload[0] == 0xFF && payload[1] == 0x03);
  std::vector<uint8_t> a, b;
  const bool ok_framed = NormalizePppFrame(payload, &a);
  const bool ok_bare = NormalizePppFrame(frame, &b);
  // FF 03 is stripped first; a bare frame that starts with FF 03 is the
  // only case where the two differ.
  if (!(frame.size() >= 2 && frame[0] == 0xFF && frame[1] == 0x03)) {
    FUZZ_CHECK(ok_framed == ok_bare);
    if (ok_framed) FUZZ_CHECK(a == b);
  }
}

void HideRoundTrip(uint8_t sel, std::span<const uint8_t> data) {
  if (data.size() < 2) return;
  const size_t rv_len = std::min<size_t>(data[0] % 32 + 1, data.size() - 1);
  std::span<const uint8_t> rv = data.subspan(1, rv_len);
  std::span<const uint8_t> value = data.subspan(1 + rv_len);
  const std::vector<uint8_t> pad(sel % 17, uint8_t(sel));
  const size_t max_value = kMaxAvpValue - 2 - pad.size();
  if (value.size() > max_value) value = value.first(max_value);
  const uint16_t type = uint16_t(sel % 40);
  std::vector<uint8_t> hidden = HideAvpValue(type, "fuzz", rv, value, pad);
  auto back = UnhideAvpValue(type, "fuzz", rv, hidden);
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(std::equal(back->begin(), back->end(), value.begin(), value.end()));
  // Hostile hidden values: any length, any content.
  (void)UnhideAvpValue(type, "fuzz", rv, data);
}

}  // namespace
}  // namespace vpn::l2tp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vpn::l2tp;
  vpn::fuzz::QuietLogs();
  if (size == 0) return 0;
  const uint8_t sel = data[0];
  const std::span<const uint8_t> body(data + 1, size - 1);
  const std::string_view secret = (sel & 1) ? "fuzz" : "";

  Header h;
  HeaderError he = ParseHeader(body, &h);
  (void)HeaderErrorName(he);
  if (he == HeaderError::kOk) {
    FUZZ_CHECK(h.length <= body.size());
    FUZZ_CHECK(h.payload_offset <= h.length);
  }
  ControlMessage m;
  if (ParseControlMessage(body, secret, &m) == ParseStatus::kOk) Exercise(m);
  std::vector<Avp> avps;
  (void)ParseAvps(body, secret, &avps);
  std::vector<uint8_t> frame;
  if (NormalizePppFrame(body, &frame)) {
    FUZZ_CHECK(frame.size() >= 2);
    FUZZ_CHECK((frame[0] & 1) == 0 && (frame[1] & 1) == 1);
  }
  ControlRoundTrip(sel, body, secret);
  DataRoundTrip(sel, body);
  HideRoundTrip(sel, body);
  return 0;
}

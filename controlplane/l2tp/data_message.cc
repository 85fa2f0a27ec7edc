#include "data_message.h"

#include "wire.h"

namespace vpn::l2tp {

std::vector<uint8_t> BuildDataMessage(uint16_t peer_tunnel_id,
                                      uint16_t peer_session_id,
                                      std::optional<uint16_t> ns,
                                      std::span<const uint8_t> frame) {
  std::vector<uint8_t> m;
  m.reserve(12 + 2 + frame.size());
  Put16(m, kFlagLength | (ns ? kFlagSequence : 0) | kVersion);
  Put16(m, 0);  // Length, patched below
  Put16(m, peer_tunnel_id);
  Put16(m, peer_session_id);
  if (ns) {
    Put16(m, *ns);
    Put16(m, 0);
  }
  m.push_back(0xFF);
  m.push_back(0x03);
  m.insert(m.end(), frame.begin(), frame.end());
  Set16(&m[2], uint16_t(m.size()));
  return m;
}

bool NormalizePppFrame(std::span<const uint8_t> in, std::vector<uint8_t>* out) {
  out->clear();
  if (in.size() >= 2 && in[0] == 0xFF && in[1] == 0x03) in = in.subspan(2);
  if (in.empty()) return false;
  if (in[0] & 1) {  // protocol field compressed to one octet
    out->reserve(in.size() + 1);
    out->push_back(0);
    out->insert(out->end(), in.begin(), in.end());
    return true;
  }
  if (in.size() < 2 || !(in[1] & 1)) return false;
  out->assign(in.begin(), in.end());
  return true;
}

}  // namespace vpn::l2tp

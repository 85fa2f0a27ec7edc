#include "ipcp.h"

#include "ppp_defs.h"

namespace vpn::ppp {
namespace {

// Index of a DNS/NBNS option in IpcpServerSettings / IpcpClientResult.
struct NameServerSlot {
  bool dns;
  int index;
};
std::optional<NameServerSlot> NameServerOption(uint8_t type) {
  switch (type) {
    case kIpcpPrimaryDns: return NameServerSlot{true, 0};
    case kIpcpSecondaryDns: return NameServerSlot{true, 1};
    case kIpcpPrimaryNbns: return NameServerSlot{false, 0};
    case kIpcpSecondaryNbns: return NameServerSlot{false, 1};
  }
  return std::nullopt;
}

constexpr uint8_t kClientOptionTypes[5] = {kIpcpAddress, kIpcpPrimaryDns,
                                           kIpcpSecondaryDns, kIpcpPrimaryNbns,
                                           kIpcpSecondaryNbns};

}  // namespace

IpcpServer::IpcpServer(const IpcpServerSettings& s, const FsmConfig& c,
                       cp::TimerQueue& timers, Fsm::Sender send,
                       IpcpEvents& events)
    : s_(s),
      events_(events),
      send_address_(s.local_ip != 0),
      fsm_("IPCP", kProtoIpcp, *this, c, timers, std::move(send)) {}

Bytes IpcpServer::BuildRequestOptions() {
  Bytes o;
  if (send_address_) AppendOptionU32(o, kIpcpAddress, s_.local_ip);
  return o;
}

void IpcpServer::OnAckSent(ByteSpan options) {
  // JudgeRequest acks IP-Address only when it is the assigned one.
  auto opts = ParseOptions(options);
  if (!opts || !s_.peer_ip) return;
  for (const Option& o : *opts)
    if (o.type == kIpcpAddress && o.value.size() == 4 && ReadU32(o.value, 0) == s_.peer_ip) {
      events_.IpcpPeerAddressAcked();
      return;
    }
}

RcrVerdict IpcpServer::JudgeRequest(ByteSpan options, bool nak_as_reject,
                                    Bytes* reply) {
  auto opts = ParseOptions(options);
  if (!opts) return RcrVerdict::kDiscard;
  Bytes nak, nak_raw, rej;
  bool saw_address = false;
  auto want = [&](const Option& o, uint32_t ours) {
    // Ack our own value, Nak anything else with it.
    if (ReadU32(o.value, 0) == ours) return;
    AppendOptionU32(nak, o.type, ours);
    PutBytes(nak_raw, o.raw);
  };
  for (const Option& o : *opts) {
    if (o.type == kIpcpAddress) {
      if (o.value.size() != 4) {
        PutBytes(rej, o.raw);
        continue;
      }
      saw_address = true;
      want(o, s_.peer_ip);
      continue;
    }
    if (auto ns = NameServerOption(o.type)) {
      const uint32_t ours = ns->dns ? s_.dns[ns->index] : s_.wins[ns->index];
      if (o.value.size() != 4 || ours == 0) {
        PutBytes(rej, o.raw);  // RFC 1877: reject when we have none
        continue;
      }
      want(o, ours);
      continue;
    }
    PutBytes(rej, o.raw);  // VJ compression, IP-Addresses, unknown
  }
  if (!rej.empty()) {
    *reply = std::move(rej);
    return RcrVerdict::kReject;
  }
  // RFC 1332 3.3: a peer that does not ask for an address is told one by a
  // Nak carrying it (as pppd does), unless we are past Max-Failure.
  if (!saw_address && !nak_as_reject && s_.peer_ip) {
    AppendOptionU32(nak, kIpcpAddress, s_.peer_ip);
  }
  if (!nak.empty()) {
    if (!nak_as_reject) {
      *reply = std::move(nak);
      return RcrVerdict::kNak;
    }
    if (!nak_raw.empty()) {
      *reply = std::move(nak_raw);
      return RcrVerdict::kReject;
    }
  }
  reply->assign(options.begin(), options.end());
  return RcrVerdict::kAck;
}

bool IpcpServer::OnNak(ByteSpan options) {
  // Our own address is not negotiable; a Nak just gets the same request.
  return ParseOptions(options).has_value();
}

bool IpcpServer::OnReject(ByteSpan options) {
  auto opts = ParseOptions(options);
  if (!opts) return false;
  for (const Option& o : *opts)
    if (o.type != kIpcpAddress || !send_address_) return false;
  send_address_ = false;
  return true;
}

IpcpClient::IpcpClient(const IpcpClientSettings& s, const FsmConfig& c,
                       cp::TimerQueue& timers, Fsm::Sender send,
                       IpcpEvents& events)
    : events_(events),
      want_vj_(s.request_vj),
      fsm_("IPCP", kProtoIpcp, *this, c, timers, std::move(send)) {
  result_.ip = s.requested_ip;
  want_[0] = true;
  want_[1] = want_[2] = s.request_dns;
  want_[3] = want_[4] = s.request_wins;
}

Bytes IpcpClient::BuildRequestOptions() {
  Bytes o;
  if (want_vj_) {
    // RFC 1332 4: Van Jacobson, Max-Slot-Id 15, Comp-Slot-Id 1.
    const uint8_t vj[] = {0x00, 0x2d, 15, 1};
    AppendOption(o, kIpcpCompression, vj);
  }
  const uint32_t values[5] = {result_.ip, result_.dns[0], result_.dns[1],
                              result_.wins[0], result_.wins[1]};
  for (int i = 0; i < 5; ++i)
    if (want_[i]) AppendOptionU32(o, kClientOptionTypes[i], values[i]);
  return o;
}

RcrVerdict IpcpClient::JudgeRequest(ByteSpan options, bool, Bytes* reply) {
  auto opts = ParseOptions(options);
  if (!opts) return RcrVerdict::kDiscard;
  Bytes rej;
  uint32_t peer_ip = 0;
  for (const Option& o : *opts) {
    if (o.type == kIpcpAddress && o.value.size() == 4) {
      peer_ip = ReadU32(o.value, 0);
      continue;
    }
    PutBytes(rej, o.raw);
  }
  if (!rej.empty()) {
    *reply = std::move(rej);
    return RcrVerdict::kReject;
  }
  result_.peer_ip = peer_ip;
  reply->assign(options.begin(), options.end());
  return RcrVerdict::kAck;
}

bool IpcpClient::OnNak(ByteSpan options) {
  auto opts = ParseOptions(options);
  if (!opts) return false;
  for (const Option& o : *opts) {
    if (o.value.size() != 4) continue;
    const uint32_t v = ReadU32(o.value, 0);
    if (o.type == kIpcpAddress) {
      result_.ip = v;
      want_[0] = true;
    } else if (auto ns = NameServerOption(o.type)) {
      (ns->dns ? result_.dns : result_.wins)[ns->index] = v;
      want_[ns->dns ? 1 + ns->index : 3 + ns->index] = true;
    }
  }
  return true;
}

bool IpcpClient::OnReject(ByteSpan options) {
  auto opts = ParseOptions(options);
  if (!opts) return false;
  for (const Option& o : *opts) {
    if (o.type == kIpcpCompression) {
      want_vj_ = false;
      continue;
    }
    bool known = false;
    for (int i = 0; i < 5; ++i) {
      if (o.type == kClientOptionTypes[i]) {
        want_[i] = false;
        known = true;
      }
    }
    if (!known) return false;
  }
  return true;
}

}  // namespace vpn::ppp

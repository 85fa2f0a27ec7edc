#include "client_session.h"

#include <algorithm>

#include "vpn/log.h"

namespace vpn::ppp {
namespace {

LcpSettings ClientLcpSettings(const ClientSettings& s) {
  LcpSettings l;
  l.server = false;
  l.mru = s.mru;
  l.accept_auth = s.methods;
  l.request_accm = s.request_accm;
  l.request_pfc = s.request_pfc;
  l.request_acfc = s.request_acfc;
  l.extra_options = s.extra_lcp_options;
  l.echo_interval_s = s.echo_interval_s;
  l.echo_failures = s.echo_failures;
  return l;
}

}  // namespace

ClientSession::ClientSession(cp::PppLink& link, cp::TimerQueue& timers,
                             ClientSettings settings, ClientCallbacks cb,
                             std::string name)
    : SessionBase(link, timers, std::move(name)),
      settings_(std::move(settings)),
      cb_(std::move(cb)),
      lcp_(ClientLcpSettings(settings_), settings_.fsm, timers_,
           [this](const Bytes& f) { SendFrame(f); }, *this) {}

ClientSession::~ClientSession() = default;

void ClientSession::Start() {
  Guarded([&] {
    if (phase_ != PppPhase::kDead || finished()) return;
    phase_ = PppPhase::kEstablish;
    lcp_.fsm().Open();
    lcp_.fsm().Up();
  });
}

void ClientSession::OnPppFrame(std::span<const uint8_t> frame) {
  Guarded([&] {
    if (finished()) return;
    const auto proto = ParseProtocol(frame);
    if (!proto) return;
    const ByteSpan payload = frame.subspan(2);
    if (*proto == kProtoLcp) {
      lcp_.fsm().Input(payload);
      return;
    }
    if (lcp_.fsm().state() != FsmState::kOpened) return;
    if (auth_method_ && *proto == auth_method_->protocol()) {
      auth_method_->Input(payload);
      return;
    }
    if (*proto == kProtoIpcp) {
      // RFC 3748 4.2: an NCP packet may stand in for a lost EAP Success.
      if (phase_ == PppPhase::kAuthenticate && auth_method_ &&
          auth_method_->AcceptsImplicitSuccess()) {
        VPN_LOG(ppp, kEvent, "%s: IPCP before EAP Success: implicit success",
                peer_);
        AuthFinished(true, "");
      }
      if (phase_ == PppPhase::kNetwork && ipcp_) ipcp_->fsm().Input(payload);
      return;
    }
    if (*proto == kProtoPap || *proto == kProtoChap || *proto == kProtoEap ||
        *proto == kProtoIpv4 || *proto == kProtoIpv6) {
      return;
    }
    lcp_.SendProtocolReject(*proto, payload);
  });
}

void ClientSession::LcpUp() {
  if (settings_.send_ipv6cp) {
    // Interface-Identifier option (RFC 5072 4.1), as pppd sends it.
    const uint8_t opt[] = {1, 10, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55};
    SendFrame(BuildControlFrame(kProtoIpv6cp, kConfigureRequest, 1, opt));
  }
  if (settings_.send_ccp) {
    // MPPE option (RFC 3078 2.1), as pppd with require-mppe sends it.
    const uint8_t opt[] = {18, 6, 0x01, 0x00, 0x00, 0x40};
    SendFrame(BuildControlFrame(kProtoCcp, kConfigureRequest, 1, opt));
  }
  SendExtraPackets(false);
  const auto method = lcp_.result().auth;
  if (!method) {
    EnterNetworkPhase();
    return;
  }
  phase_ = PppPhase::kAuthenticate;
  if (!auth_method_) {
    auth_method_ = MakeClientMethod(*method, *this);
    auth_method_->Start();
  }
}

void ClientSession::LcpDown() {
  if (ipcp_) ipcp_->fsm().Down();
  phase_ = PppPhase::kTerminate;
  if (lcp_.peer_terminated()) {
    const std::string& why = lcp_.peer_terminate_reason();
    RequestClose(why.empty() ? "server terminated" : "server terminated: " + why);
    return;
  }
  if (ipcp_) {
    RequestClose("LCP renegotiation");
    return;
  }
  // Before the Network phase: authenticate again once LCP reopens.
  phase_ = PppPhase::kEstablish;
  if (auth_method_) {
    auth_method_->Stop();
    retired_methods_.push_back(std::move(auth_method_));
  }
}

void ClientSession::SendExtraPackets(bool after_auth) {
  for (const ClientSettings::ExtraPacket& e : settings_.extra_packets) {
    if (e.after_auth != after_auth) continue;
    // Sized up front: GCC 12 -O2 misreads an append after PutU16 as an
    // out-of-bounds memcpy (-Warray-bounds).
    Bytes f(2 + e.packet.size());
    f[0] = uint8_t(e.protocol >> 8);
    f[1] = uint8_t(e.protocol);
    std::copy(e.packet.begin(), e.packet.end(), f.begin() + 2);
    SendFrame(f);
  }
}

void ClientSession::LcpProtocolRejected(uint16_t protocol) {
  rejected_.insert(protocol);
  if (protocol == kProtoIpv6cp) ipv6cp_rejected_ = true;
  if (protocol == kProtoCcp) ccp_rejected_ = true;
  if (protocol == kProtoIpcp) RequestClose("server rejected IPCP");
}

void ClientSession::SendAuthPacket(uint16_t protocol, uint8_t code, uint8_t id,
                                   ByteSpan data) {
  SendFrame(BuildControlFrame(protocol, code, id, data));
}

void ClientSession::AuthFinished(bool success, std::string_view reason, bool) {
  if (finished() || phase_ != PppPhase::kAuthenticate) return;
  // (A retired method cannot get here: it is stopped and gets no input.)
  if (!success) {
    auth_failure_ = reason.empty() ? "authentication failed" : std::string(reason);
    RequestClose("authentication failed: " + auth_failure_);
    return;
  }
  EnterNetworkPhase();
}

void ClientSession::EnterNetworkPhase() {
  if (ipcp_) return;
  phase_ = PppPhase::kNetwork;
  SendExtraPackets(true);
  ipcp_ = std::make_unique<IpcpClient>(
      settings_.ipcp, settings_.fsm, timers_,
      [this](const Bytes& f) { SendFrame(f); },
      static_cast<IpcpEvents&>(*this));
  ipcp_->fsm().Open();
  ipcp_->fsm().Up();
}

void ClientSession::IpcpUp() {
  if (up_) return;
  up_ = true;
  const IpcpClientResult& r = ipcp_->result();
  up_info_.ip = r.ip;
  up_info_.peer_ip = r.peer_ip;
  up_info_.dns = r.dns;
  up_info_.wins = r.wins;
  up_info_.method = lcp_.result().auth;
  up_info_.peer_mru = lcp_.result().peer_mru;
  VPN_LOG(ppp, kEvent, "%s: up with %s", peer_, FormatIp(r.ip));
  if (cb_.on_up) cb_.on_up(up_info_);
}

void ClientSession::ReleaseResources() {
  lcp_.Abort();
  if (auth_method_) auth_method_->Stop();
  if (ipcp_) ipcp_->fsm().Abort();
  phase_ = PppPhase::kDead;
}

void ClientSession::NotifyDown(const std::string& reason) {
  if (cb_.on_down) cb_.on_down(reason);
}

}  // namespace vpn::ppp

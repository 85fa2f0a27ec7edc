// LNS incoming call: RFC 2661 section 7.4.2, plus the session's side of the
// PPP seam (ppp_link.h).
#include <arpa/inet.h>

#include "absl/strings/str_format.h"
#include "data_message.h"
#include "lns_internal.h"
#include "vpn/log.h"

namespace vpn::l2tp {

LnsSession::LnsSession(LnsTunnel& tunnel, uint16_t local_id, uint16_t peer_id,
                       uint32_t call_serial)
    : tunnel_(tunnel),
      lns_(tunnel.lns()),
      local_id_(local_id),
      peer_id_(peer_id),
      call_serial_(call_serial) {
  created_ = lns_.timers_.Now();
  setup_timer_ = lns_.timers_.Schedule(lns_.options_.setup_timeout, [this] {
    setup_timer_ = 0;
    lns_.counters_.Inc(Counter::k_setup_timeouts);
    Close(cdn::kTimeout, 0, "no ICCN in time");
  });
}

LnsSession::~LnsSession() {
  if (setup_timer_ != 0) lns_.timers_.Cancel(setup_timer_);
  // Only now: the endpoint's OnLinkDown (just before, in the reap) is where
  // the daemon removes the dataplane session keyed by these ids, so a new
  // session can never be installed under a key still in use.
  lns_.ids_.ReleaseSession(tunnel_.local_id(), local_id_);
}

void LnsSession::OnMessage(const ControlMessage& m) {
  switch (m.message_type()) {
    case MessageType::kIccn:
      if (state_ == SessionState::kWaitConnect) {
        OnIccn(m);
      } else {
        lns_.counters_.Inc(Counter::k_fsm_errors);
        Close(cdn::kGeneralError, 0, "unexpected ICCN");
      }
      break;
    case MessageType::kCdn: {
      lns_.counters_.Inc(Counter::k_cdn_received);
      uint16_t result = 0, error = 0;
      std::string text;
      if (const Avp* r = m.Find(AvpType::kResultCode)) {
        result = Get16(r->value.data());
        if (r->value.size() >= 4) error = Get16(r->value.data() + 2);
        if (r->value.size() > 4) text.assign(r->value.begin() + 4, r->value.end());
      }
      VPN_LOG(l2tp, kEvent, "session %d/%d (%s): CDN received (result %d error %d %s)",
              tunnel_.local_id(), local_id_, tunnel_.binding().Address(), result, error,
              text);
      Bury(absl::StrFormat("call disconnected by peer (CDN result %d)", result));
      break;
    }
    case MessageType::kWen:
      // Section 6.14: the LAC reports line errors; kept for the operator.
      lns_.counters_.Inc(Counter::k_wen_received);
      if (const Avp* e = m.Find(AvpType::kCallErrors)) {
        uint64_t sum = 0;
        for (size_t off = 2; off + 4 <= e->value.size(); off += 4)
          sum += Get32(e->value.data() + off);
        wan_errors_ = sum;
      }
      break;
    case MessageType::kSli:
      lns_.counters_.Inc(Counter::k_sli_received);  // LNS-to-LAC by design
      break;
    default:  // OCRP/OCCN: we never place outgoing calls
      lns_.counters_.Inc(Counter::k_fsm_errors);
      Close(cdn::kGeneralError, 0,
            absl::StrFormat("unexpected %s", MessageTypeName(m.type)));
      break;
  }
}

void LnsSession::OnIccn(const ControlMessage& m) {
  // Section 4.4.6 Sequencing Required: from now on our data carries Ns.
  sequencing_ = m.Has(AvpType::kSequencingRequired);
  tx_connect_bps_ = m.U32(AvpType::kTxConnectSpeed).value_or(0);
  state_ = SessionState::kEstablished;
  established_ = lns_.timers_.Now();
  if (setup_timer_ != 0) lns_.timers_.Cancel(setup_timer_);
  setup_timer_ = 0;
  lns_.counters_.Inc(Counter::k_sessions_established);
  VPN_LOG(l2tp, kEvent, "session %d/%d established (peer %d, %s%s)",
          tunnel_.local_id(), local_id_, peer_id_, tunnel_.binding().ToString(),
          sequencing_ ? ", sequenced" : "");
  cp::L2tpSessionInfo info;
  info.local_tunnel_id = tunnel_.local_id();
  info.local_session_id = local_id_;
  info.peer_tunnel_id = tunnel_.peer_id();
  info.peer_session_id = peer_id_;
  info.inbound_sa = tunnel_.binding().sa_index;
  info.peer_ip = tunnel_.binding().peer_ip;
  info.peer_port = htons(tunnel_.binding().peer_port);
  info.sequencing = sequencing_;
  info.peer_hostname = tunnel_.peer_hostname();
  // The endpoint may already talk (LCP Configure-Request) or even close
  // from inside the factory; both are safe here.
  std::unique_ptr<cp::PppEndpoint> ep;
  if (lns_.factory_) ep = lns_.factory_(*this, info);
  endpoint_ = std::move(ep);
  if (endpoint_ == nullptr && state_ == SessionState::kEstablished) {
    lns_.counters_.Inc(Counter::k_no_ppp_endpoint);
    Close(cdn::kNoFacilitiesTemporary, errcode::kNoResources, "no PPP endpoint");
  }
}

void LnsSession::SendPppFrame(std::span<const uint8_t> frame) {
  if (state_ != SessionState::kEstablished) {
    lns_.counters_.Inc(Counter::k_drop_data_not_up);
    return;
  }
  std::optional<uint16_t> ns;
  if (sequencing_) ns = tx_ns_++;
  std::vector<uint8_t> msg =
      BuildDataMessage(tunnel_.peer_id(), peer_id_, ns, frame);
  ++tx_packets_;
  tx_bytes_ += frame.size();
  lns_.counters_.Inc(Counter::k_tx_data);
  lns_.counters_.Inc(Counter::k_tx_data_bytes, frame.size());
  tunnel_.SendData(msg);
}

void LnsSession::ClosePppLink(std::string_view reason) {
  if (state_ == SessionState::kDead) return;
  Close(cdn::kAdministrative, 0, reason);
}

void LnsSession::OnPppFrame(std::span<const uint8_t> frame) {
  ++rx_packets_;
  rx_bytes_ += frame.size();
  lns_.counters_.Inc(Counter::k_rx_data);
  lns_.counters_.Inc(Counter::k_rx_data_bytes, frame.size());
  if (endpoint_) endpoint_->OnPppFrame(frame);
}

bool LnsSession::AcceptDataNs(uint16_t ns) {
  if (rx_ns_valid_ && SeqBefore(ns, rx_ns_)) return false;
  rx_ns_ = uint16_t(ns + 1);
  rx_ns_valid_ = true;
  return true;
}

void LnsSession::Close(uint16_t result, uint16_t error, std::string_view message) {
  if (state_ == SessionState::kDead) return;
  VPN_LOG(l2tp, kEvent, "session %d/%d (%s): sending CDN (result %d: %s)",
          tunnel_.local_id(), local_id_, tunnel_.binding().Address(), result, message);
  AvpWriter w = tunnel_.Writer(MessageType::kCdn);
  w.Result(result, error, message).U16(AvpType::kAssignedSessionId, local_id_);
  tunnel_.Send(peer_id_, w);
  lns_.counters_.Inc(Counter::k_cdn_sent);
  Bury(std::string(message));
}

void LnsSession::Drop(std::string_view reason) {
  if (state_ == SessionState::kDead) return;
  Bury(std::string(reason));
}

void LnsSession::Bury(std::string reason) {
  state_ = SessionState::kDead;
  if (setup_timer_ != 0) lns_.timers_.Cancel(setup_timer_);
  setup_timer_ = 0;
  tunnel_.BurySession(this, std::move(reason));  // `this` lives until the reap
}

SessionView LnsSession::View() const {
  SessionView v;
  v.local_tunnel_id = tunnel_.local_id();
  v.local_session_id = local_id_;
  v.peer_tunnel_id = tunnel_.peer_id();
  v.peer_session_id = peer_id_;
  v.state = state_;
  v.call_serial = call_serial_;
  v.tx_connect_bps = tx_connect_bps_;
  v.sequencing = sequencing_;
  v.has_endpoint = endpoint_ != nullptr;
  v.created = created_;
  v.established = established_;
  v.rx_packets = rx_packets_;
  v.rx_bytes = rx_bytes_;
  v.tx_packets = tx_packets_;
  v.tx_bytes = tx_bytes_;
  v.wan_errors = wan_errors_;
  return v;
}

}  // namespace vpn::l2tp

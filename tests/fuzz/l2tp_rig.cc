#include "l2tp_rig.h"

namespace vpn::l2tp::fuzzing {
namespace {

constexpr uint32_t kSa = 100, kOtherSa = 101, kRekeyedSa = 102;

}  // namespace

Rig::Rig(uint8_t setup) {
  const int stage = std::min(setup & 3, 2);
  cfg_.hostname = "lns.fuzz";
  cfg_.hello_interval_s = 60;
  cfg_.max_tunnels_per_client = 3;
  cfg_.max_sessions_per_tunnel = 3;
  if (setup & 0x08) cfg_.tunnel_secret = "fuzz";
  refuse_ = setup & 0x20;
  LnsOptions o;
  o.allow_cleartext = setup & 0x10;
  o.hide_avps = setup & 0x08;
  lns_ = std::make_unique<Lns>(
      cfg_, timers_, lns_side_,
      [this](cp::PppLink& link, const cp::L2tpSessionInfo&) -> std::unique_ptr<cp::PppEndpoint> {
        if (refuse_) return nullptr;
        endpoints_.push_back(std::make_shared<EndpointState>());
        return std::make_unique<FuzzEndpoint>(link, endpoints_.back());
      },
      o);
  if (stage == 0) return;
  LacOptions lo;
  lo.hide_avps = setup & 0x08;
  lac_ = std::make_unique<Lac>(cfg_, timers_, lac_side_, ClientBinding(kSa), lo);
  FUZZ_CHECK(lac_->OpenTunnel().ok());
  Pump(20);
  our_tunnel_ = lac_->local_tunnel_id();
  lns_tunnel_ = lac_->peer_tunnel_id();
  if (stage >= 2 && lac_->tunnel_state() == LacTunnelState::kEstablished) {
    LacCallOptions co;
    co.sequencing_required = setup & 0x40;
    auto sid = lac_->OpenSession(
        [](cp::PppLink&, const cp::L2tpSessionInfo&) { return std::make_unique<NullEndpoint>(); },
        co);
    FUZZ_CHECK(sid.ok());
    Pump(20);
    lns_session_ = lac_->session_peer_id(*sid);
  }
  if (!(setup & 0x04)) lac_.reset();  // from now on the fuzzer is the LAC
  queue_.clear();
}

Rig::~Rig() {
  lac_.reset();
  lns_.reset();
  for (const auto& e : endpoints_) FUZZ_CHECK(e->destroyed);
}

// Learns ids and sequence numbers from what the LNS sends.
void Rig::FromLns(std::span<const uint8_t> m) {
  ControlMessage cm;
  if (ParseControlMessage(m, cfg_.tunnel_secret, &cm) == ParseStatus::kOk) {
    if (!cm.zlb) {
      uint16_t& next = lns_next_ns_[cm.header.tunnel_id];
      if (!SeqBefore(uint16_t(cm.header.ns + 1), next)) next = uint16_t(cm.header.ns + 1);
      if (auto t = cm.U16(AvpType::kAssignedTunnelId)) {
        lns_tunnel_ = *t;
        our_tunnel_ = cm.header.tunnel_id;
      }
      if (auto s = cm.U16(AvpType::kAssignedSessionId)) lns_session_ = *s;
    }
  }
  if (lac_) queue_.push_back({false, Bytes(m.begin(), m.end())});
}

// Learns from our own (fuzzed) control messages: a new tunnel or session.
void Rig::NoteOurs(std::span<const uint8_t> m) {
  ControlMessage cm;
  if (ParseControlMessage(m, cfg_.tunnel_secret, &cm) != ParseStatus::kOk || cm.zlb) return;
  if (cm.header.tunnel_id == 0) {
    if (auto t = cm.U16(AvpType::kAssignedTunnelId)) our_tunnel_ = *t;
    our_ns_ = 1;
    return;
  }
  our_ns_ = uint16_t(cm.header.ns + 1);
}

void Rig::Pump(int max) {
  for (int n = 0; n < max && !queue_.empty(); ++n) {
    Msg msg = std::move(queue_.front());
    queue_.pop_front();
    Header h;
    const bool control = ParseHeader(msg.bytes, &h) == HeaderError::kOk && h.control;
    if (msg.to_lns) {
      if (control) {
        NoteOurs(msg.bytes);
        lns_->OnControlMessage(ClientBinding(kSa), msg.bytes);
      } else {
        lns_->OnDataMessage(ClientBinding(kSa), msg.bytes);
      }
    } else if (lac_) {
      if (control) lac_->OnControlMessage(msg.bytes);
      else lac_->OnDataMessage(msg.bytes);
    }
  }
}

PeerBinding Rig::BindingFor(uint8_t flags) const {
  if (flags & 0x40) return ClientBinding(kNoSa);
  return ClientBinding((flags & 0x20) ? kOtherSa : kSa);
}

void Rig::Control(std::span<const uint8_t> data) {
  Cursor c(data);
  const uint8_t fl = c.U8();
  auto rest = c.Rest();
  Bytes m(rest.begin(), rest.end());
  // Fix-ups only where the header has the field (control: T, L, S set).
  if (m.size() >= kControlHeaderSize && (Get16(m.data()) & 0xC800) == 0xC800) {
    if (fl & 0x01) Set16(&m[4], lns_tunnel_);
    if (fl & 0x02) Set16(&m[6], lns_session_);
    if (fl & 0x04) Set16(&m[8], our_ns_);
    if (fl & 0x08) Set16(&m[10], lns_next_ns_[our_tunnel_]);
    if (fl & 0x10) Set16(&m[2], uint16_t(m.size()));
  }
  NoteOurs(m);
  lns_->OnControlMessage(BindingFor(fl), m);
}

void Rig::Data(std::span<const uint8_t> data) {
  Cursor c(data);
  const uint8_t fl = c.U8();
  auto rest = c.Rest();
  Bytes m(rest.begin(), rest.end());
  if (m.size() >= 2) {
    const uint16_t bits = Get16(m.data());
    size_t at = 2 + ((bits & kFlagLength) ? 2 : 0);  // tunnel id offset
    if ((bits & kFlagLength) && (fl & 0x10) && m.size() >= 4) Set16(&m[2], uint16_t(m.size()));
    if ((fl & 0x01) && m.size() >= at + 2) Set16(&m[at], lns_tunnel_);
    if ((fl & 0x02) && m.size() >= at + 4) Set16(&m[at + 2], lns_session_);
  }
  lns_->OnDataMessage(BindingFor(fl), m);
}

void Rig::Operator(uint8_t what) {
  switch (what % 8) {
    case 0:
      for (const TunnelView& t : lns_->Tunnels()) (void)TunnelStateName(t.state);
      for (const SessionView& s : lns_->Sessions()) (void)SessionStateName(s.state);
      break;
    case 1:
      (void)lns_->CloseTunnel({.local_id = lns_tunnel_}, "fuzz");
      break;
    case 2:
      (void)lns_->CloseSession(lns_tunnel_, lns_session_, "fuzz");
      break;
    case 3:
      lns_->OnSaDeleted(kSa);
      break;
    case 4:
      lns_->RebindSa(kSa, kRekeyedSa);
      break;
    case 5:
      (void)lns_->SetLinkInfo(lns_tunnel_, lns_session_, 0, 0xFFFFFFFF);
      break;
    case 6:
      lns_->CloseAll("fuzz");
      break;
    case 7:
      lns_->OnSaDeleted(kRekeyedSa);
      break;
  }
}

void Rig::EndpointAction(Cursor c) {
  const uint8_t what = c.U8();
  auto frame = c.Rest();
  for (const auto& e : endpoints_) {
    if (e->link == nullptr) continue;
    if (what & 1) e->link->ClosePppLink("fuzz: endpoint closes");
    else e->link->SendPppFrame(frame);
  }
}

void Rig::Run(const Record& r) {
  switch (r.kind % 7) {
    case 0:
      Control(r.data);
      break;
    case 1:
      Data(r.data);
      break;
    case 2: {
      Cursor c(r.data);
      const uint8_t fl = c.U8();
      lns_->DeliverPppFrame(BindingFor(fl), lns_tunnel_, lns_session_, c.Rest());
      break;
    }
    case 3:
      timers_.Advance(absl::Milliseconds(100) * Cursor(r.data).U16());
      break;
    case 4:
      Operator(Cursor(r.data).U8());
      break;
    case 5:
      Pump(50);
      break;
    case 6:
      EndpointAction(Cursor(r.data));
      break;
  }
  if (!lac_) queue_.clear();
}

void Rig::Finish() {
  if (std::getenv("FUZZ_DEBUG")) {  // what the input reached (seed checking)
    for (const auto& [name, value] : lns_->counters().Named())
      if (value) std::fprintf(stderr, "%s=%lu ", std::string(name).c_str(), value);
    std::fprintf(stderr, "\n");
  }
  lac_.reset();
  queue_.clear();
  lns_->CloseAll("fuzz: done");
  // StopCCN retransmissions give up, the reap timers run.
  for (int i = 0; i < 20; ++i) timers_.Advance(absl::Seconds(30));
  FUZZ_CHECK(lns_->Tunnels().empty());
  FUZZ_CHECK(lns_->session_count() == 0);
  for (const auto& e : endpoints_) {
    FUZZ_CHECK(e->link_down == 1);
    FUZZ_CHECK(e->destroyed);
  }
}

}  // namespace vpn::l2tp::fuzzing

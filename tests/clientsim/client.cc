#include "client.h"

#include <arpa/inet.h>

#include "absl/strings/str_cat.h"
#include "vpn/log.h"

namespace vpn::clientsim {

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kIdle: return "idle";
    case Phase::kIke: return "ike";
    case Phase::kL2tp: return "l2tp";
    case Phase::kPpp: return "ppp";
    case Phase::kUp: return "up";
    case Phase::kTeardown: return "teardown";
    case Phase::kDone: return "done";
  }
  return "?";
}

// The PPP side of our L2TP session: IPv4 frames go to the simulator's
// traffic code, everything else to ppp::ClientSession.
class SimClient::PppEndpoint : public cp::PppEndpoint {
 public:
  PppEndpoint(SimClient& c, cp::PppLink& link)
      : c_(c),
        link_(link),
        session_(link, c.timers_, c.s_.ppp,
                 ppp::ClientCallbacks{[&c](const ppp::ClientUp& up) { c.OnPppUp(up); },
                                      [&c](std::string_view r) { c.OnPppDown(r); }},
                 absl::StrCat("client", c.index_)) {}
  ~PppEndpoint() override {
    if (c_.ppp_ == this) c_.ppp_ = nullptr;
  }
  void OnPppFrame(std::span<const uint8_t> f) override {
    if (f.size() >= 2 && f[0] == 0x00 && f[1] == 0x21) {
      c_.OnIpPacket(f.subspan(2));
      return;
    }
    session_.OnPppFrame(f);
  }
  void OnLinkDown(std::string_view reason) override { session_.OnLinkDown(reason); }
  void SendIp(ByteSpan ipv4) { link_.SendPppFrame(PppIpv4Frame(ipv4)); }
  ppp::ClientSession& session() { return session_; }

 private:
  SimClient& c_;
  cp::PppLink& link_;
  ppp::ClientSession session_;
};

SimClient::SimClient(int index, const ClientSettings& s, cp::TimerQueue& timers,
                     esp::Engine& engine, ClientIo& io, uint32_t local_ip)
    : index_(index),
      s_(s),
      timers_(timers),
      engine_(engine),
      io_(io),
      local_ip_(local_ip),
      sas_(0x5EED0000u + uint64_t(index)) {}

SimClient::~SimClient() {
  *alive_ = false;
  for (auto id : {connect_timer_, progress_timer_, traffic_timer_, teardown_timer_})
    if (id) timers_.Cancel(id);
  lac_.reset();  // destroys the PPP endpoint, which refers to us
  ike_.reset();
}

ike::Endpoint SimClient::LocalIke(uint16_t port) const { return {htonl(local_ip_), port}; }
ike::Endpoint SimClient::ServerIke(uint16_t port) const { return {htonl(s_.server_ip), port}; }

void SimClient::Start(std::function<void(SimClient&)> done) {
  done_ = std::move(done);
  t0_ = timers_.Now();
  phase_ = Phase::kIke;
  ike::InitiatorOptions opts;
  opts.qm_port = s_.l2tp_port;
  opts.initial_contact = true;
  ike_ = std::make_unique<ike::Initiator>(s_.ike, timers_, sas_, static_cast<ike::Transport&>(*this),
                                          static_cast<ike::Events&>(*this), opts);
  if (!ike_->init_status().ok()) return Fail(absl::StrCat("IKE config: ", ike_->init_status().message()));
  // The port we claim (500) differs from the socket's, so the responder sees
  // "initiator behind NAT" and both sides use UDP encapsulation.
  auto id = ike_->Connect(LocalIke(kIkePort), ServerIke(kIkePort));
  if (!id.ok()) return Fail(absl::StrCat("IKE start: ", id.status().message()));
  ike_sa_ = *id;
  std::weak_ptr<bool> alive = alive_;
  connect_timer_ = timers_.Schedule(s_.connect_timeout, [this, alive] {
    if (alive.expired()) return;
    connect_timer_ = 0;
    if (phase_ < Phase::kUp)
      Fail(absl::StrCat("timeout in ", PhaseName(phase_),
                        phase_ == Phase::kIke ? " (" + IkeFailureHint() + ")" : ""));
  });
  progress_timer_ = timers_.Schedule(absl::Seconds(1), [this] { CheckIkeProgress(); });
}

// Fails fast when Main/Quick Mode gave up (the engine deletes a half-open SA
// without an event).
void SimClient::CheckIkeProgress() {
  progress_timer_ = 0;
  if (phase_ != Phase::kIke) return;
  if (ike_ && ike_->FindSa(ike_sa_) == nullptr) return Fail("IKE: " + IkeFailureHint());
  progress_timer_ = timers_.Schedule(absl::Seconds(1), [this] { CheckIkeProgress(); });
}

std::string SimClient::IkeFailureHint() const {
  if (!ike_) return "no IKE";
  const ike::Counters& c = ike_->counters();
  std::string out;
  auto add = [&out](const char* name, uint64_t v) {
    if (v) absl::StrAppend(&out, out.empty() ? "" : " ", name, "=", v);
  };
  add("auth_failed", c.auth_failed);
  add("no_proposal_chosen", c.no_proposal_chosen);
  add("qm_no_proposal", c.qm_no_proposal_chosen);
  add("notifies_received", c.notifies_received);
  add("invalid_hash", c.invalid_hash);
  add("decrypt_failed", c.rx_decrypt_failed);
  add("retransmits", c.retransmits);
  add("exchange_timeouts", c.exchange_timeouts);
  if (c.rx_datagrams == 0) out = "no answer from server" + (out.empty() ? "" : " (" + out + ")");
  const ike::IkeSa* sa = ike_->FindSa(ike_sa_);
  if (sa && sa->established()) {
    absl::StrAppend(&out, "; Quick Mode unanswered");
  } else if (sa && sa->state == ike::SaState::kMmI5Sent && c.rx_datagrams > 0) {
    // A responder that cannot decrypt message 5 stays silent (RFC 2409 5).
    absl::StrAppend(&out, "; Main Mode message 5 unanswered (wrong PSK?)");
  } else if (sa) {
    absl::StrAppend(&out, "; state ", std::string(ike::SaStateName(sa->state)));
  }
  return out.empty() ? "no answer from server" : out;
}

void SimClient::OnDatagram(uint16_t src_port, ByteSpan payload) {
  if (!ike_ || phase_ == Phase::kDone) return;
  if (src_port == s_.natt_port) {
    NattPayload p = ClassifyNatT(payload);
    switch (p.kind) {
      case NattKind::kIke:
        ike_->OnDatagram(LocalIke(kNatTPort), ServerIke(kNatTPort), p.body);
        break;
      case NattKind::kEsp: OnEsp(p.body); break;
      case NattKind::kKeepalive: break;
      case NattKind::kInvalid: ++result_.esp_dropped; break;
    }
  } else if (src_port == s_.ike_port) {
    ike_->OnDatagram(LocalIke(kIkePort), ServerIke(kIkePort), payload);
  }
}

// The engine speaks of ports 500/4500; the server may listen elsewhere.
void SimClient::SendIke(const ike::Endpoint&, const ike::Endpoint& remote,
                        std::span<const uint8_t> msg) {
  if (remote.port == kNatTPort) {
    io_.SendToServer(s_.natt_port, FrameIkeForNatT(msg));
  } else {
    io_.SendToServer(s_.ike_port, msg);
  }
}

void SimClient::OnChildSaInstalled(const cp::ChildSaHandle& h, const ike::ChildSaInfo& info) {
  EspPair* pair = sas_.FindByInboundIndex(h.inbound_index);
  if (!pair) return Fail("ESP SA installed but not in our table");
  if (pair->install().encap != shm::Encap::kUdp)
    return Fail("server did not agree to UDP encapsulation (NAT-T)");
  if (ntohs(pair->install().peer_port) != kNatTPort)
    return Fail("ESP SA names server port " + std::to_string(ntohs(pair->install().peer_port)));
  esp_port_ = s_.natt_port;
  result_.esp_suite = info.suite;
  if (phase_ != Phase::kIke) return;  // a rekey: newest() takes over
  result_.t_ike = timers_.Now() - t0_;
  phase_ = Phase::kL2tp;
  l2tp::PeerBinding lns;
  lns.sa_index = h.inbound_index;
  lns.peer_ip = htonl(s_.server_ip);
  lns.peer_port = kL2tpPort;
  lns.local_ip = htonl(local_ip_);
  lns.local_port = s_.l2tp_port;
  lac_ = std::make_unique<l2tp::Lac>(s_.l2tp, timers_, static_cast<l2tp::Transport&>(*this), lns);
  lac_->on_tunnel_up = [this] { OnTunnelUp(); };
  lac_->on_tunnel_down = [this](std::string_view r) {
    if (phase_ < Phase::kTeardown) Fail("L2TP tunnel down: " + std::string(r));
  };
  if (absl::Status st = lac_->OpenTunnel(); !st.ok())
    Fail(absl::StrCat("L2TP: ", st.message()));
}

void SimClient::OnChildSaDeleted(const cp::ChildSaHandle&) {
  if (sas_.size() == 0 && phase_ < Phase::kTeardown) Fail("server deleted the ESP SA");
}

void SimClient::OnIkeSaDeleted(uint64_t id) {
  if (id == ike_sa_ && phase_ < Phase::kTeardown) Fail("IKE SA deleted");
}

void SimClient::OnPeerDead(uint64_t, const ike::Endpoint&) {
  if (phase_ < Phase::kTeardown) Fail("server dead (DPD)");
}

void SimClient::SendL2tp(const l2tp::PeerBinding&, std::span<const uint8_t> msg) {
  EspPair* pair = sas_.newest();
  if (!pair) return;
  Bytes seg = BuildUdpSegment(local_ip_, s_.server_ip, s_.l2tp_port, kL2tpPort, msg);
  Bytes esp;
  Reason why{};
  if (!pair->Seal(engine_, seg, kIpProtoUdp, &esp, &why)) {
    VPN_LOG(esp, kWarn, "client %d: ESP seal failed: %s", index_, std::string(InfoOf(why).name));
    return;
  }
  ++result_.esp_sealed;
  io_.SendToServer(esp_port_, esp);
}

void SimClient::OnEsp(ByteSpan esp) {
  const uint32_t spi = uint32_t(esp[0]) << 24 | uint32_t(esp[1]) << 16 | uint32_t(esp[2]) << 8 | esp[3];
  EspPair* pair = sas_.FindByInboundSpi(spi);
  Bytes payload;
  uint8_t nh = 0;
  Reason why{};
  if (!pair || !pair->Open(engine_, esp, &payload, &nh, &why)) {
    ++result_.esp_dropped;
    return;
  }
  ++result_.esp_opened;
  if (nh != kIpProtoUdp) {
    ++result_.esp_dropped;
    return;
  }
  // RFC 3948 3.1.2: the transport-mode checksum covers addresses we may not
  // share with the server's view; ESP's ICV already protects the segment.
  auto udp = ParseUdpSegment(payload, s_.server_ip, local_ip_, false);
  if (!udp || udp->sport != kL2tpPort || udp->dport != s_.l2tp_port) {
    ++result_.esp_dropped;
    return;
  }
  OnL2tp(udp->data);
}

void SimClient::OnL2tp(ByteSpan l2tp) {
  if (!lac_) return;
  if (L2tpIsControl(l2tp)) {
    lac_->OnControlMessage(l2tp);
  } else {
    lac_->OnDataMessage(l2tp);
  }
}

void SimClient::OnTunnelUp() {
  if (phase_ != Phase::kL2tp) return;
  auto sid = lac_->OpenSession([this](cp::PppLink& link, const cp::L2tpSessionInfo& info) {
    return MakePppEndpoint(link, info);
  });
  if (!sid.ok()) return Fail(absl::StrCat("L2TP session: ", sid.status().message()));
  l2tp_session_ = *sid;
}

std::unique_ptr<cp::PppEndpoint> SimClient::MakePppEndpoint(cp::PppLink& link,
                                                            const cp::L2tpSessionInfo&) {
  result_.t_l2tp = timers_.Now() - t0_;
  phase_ = Phase::kPpp;
  auto ep = std::make_unique<PppEndpoint>(*this, link);
  ppp_ = ep.get();
  ep->session().Start();  // LCP Configure-Request (the session is established)
  return ep;
}

void SimClient::OnPppUp(const ppp::ClientUp& up) {
  if (phase_ != Phase::kPpp) return;
  phase_ = Phase::kUp;
  result_.connected = true;
  result_.t_connect = timers_.Now() - t0_;
  result_.address = up.ip;
  result_.dns = up.dns[0];
  if (connect_timer_) timers_.Cancel(connect_timer_);
  connect_timer_ = 0;
  if (s_.traffic.kind == TrafficSettings::Kind::kNone || s_.traffic.count <= 0)
    traffic_mode_ = TrafficMode::kOff;
  if (traffic_mode_ == TrafficMode::kOff) return TrafficFinished();
  if (traffic_mode_ == TrafficMode::kNow) StartTraffic();
}

void SimClient::StartTraffic() {
  if (phase_ != Phase::kUp || traffic_started_ || traffic_mode_ == TrafficMode::kOff) return;
  traffic_started_ = true;
  std::weak_ptr<bool> alive = alive_;
  traffic_timer_ = timers_.Schedule(s_.traffic.start_delay, [this, alive] {
    if (!alive.expired()) SendTrafficPacket();
  });
}

void SimClient::OnPppDown(std::string_view reason) {
  if (phase_ < Phase::kTeardown) Fail("PPP down: " + std::string(reason));
}

void SimClient::SendTrafficPacket() {
  traffic_timer_ = 0;
  if (phase_ != Phase::kUp || !ppp_) return;
  const TrafficSettings& t = s_.traffic;
  const uint16_t seq = ++next_seq_;
  Ipv4Fields ip;
  ip.src = result_.address;
  ip.dst = t.target;
  ip.id = ip_id_++;
  Bytes data(t.size);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i + index_);
  Bytes pkt;
  if (t.kind == TrafficSettings::Kind::kPing) {
    pkt = BuildIcmpEcho(ip, false, uint16_t(index_), seq, data);
  } else {
    if (data.size() >= 2) {
      data[0] = uint8_t(seq >> 8);
      data[1] = uint8_t(seq);
    }
    pkt = BuildUdpPacket(ip, uint16_t(20000 + index_ % 40000), t.udp_port, data);
  }
  in_flight_[seq] = timers_.Now();
  ++result_.sent;
  ppp_->SendIp(pkt);
  std::weak_ptr<bool> alive = alive_;
  if (int(result_.sent) < t.count) {
    traffic_timer_ = timers_.Schedule(t.interval, [this, alive] {
      if (!alive.expired()) SendTrafficPacket();
    });
  } else {
    traffic_timer_ = timers_.Schedule(t.reply_wait, [this, alive] {
      if (alive.expired()) return;
      traffic_timer_ = 0;
      TrafficFinished();
    });
  }
}

void SimClient::OnIpPacket(ByteSpan ipv4) {
  Ipv4Packet p;
  if (ParseIpv4(ipv4, &p) != Ipv4Error::kOk || p.fields.dst != result_.address) return;
  const TrafficSettings& t = s_.traffic;
  std::optional<uint16_t> seq;
  if (auto e = ParseIcmpEcho(p)) {
    if (!e->reply) {  // answer pings to our address (the demo's LAN host may ask)
      Ipv4Fields r;
      r.src = result_.address;
      r.dst = p.fields.src;
      r.id = ip_id_++;
      if (ppp_) ppp_->SendIp(BuildIcmpEcho(r, true, e->id, e->seq, e->data));
      return;
    }
    if (t.kind == TrafficSettings::Kind::kPing && e->id == uint16_t(index_) &&
        p.fields.src == t.target)
      seq = e->seq;
  } else if (t.kind == TrafficSettings::Kind::kUdp && p.fields.protocol == kIpProtoUdp) {
    auto u = ParseUdpSegment(p.payload, p.fields.src, p.fields.dst, true);
    if (u && p.fields.src == t.target && u->sport == t.udp_port && u->data.size() >= 2)
      seq = uint16_t(u->data[0] << 8 | u->data[1]);
  }
  if (!seq) return;
  auto it = in_flight_.find(*seq);
  if (it == in_flight_.end()) return;  // duplicate or unknown
  ++result_.received;
  result_.rtt_sum += timers_.Now() - it->second;
  in_flight_.erase(it);
  if (int(result_.sent) >= t.count && in_flight_.empty() && traffic_timer_) {
    timers_.Cancel(traffic_timer_);
    traffic_timer_ = 0;
    TrafficFinished();
  }
}

void SimClient::TrafficFinished() {
  if (phase_ != Phase::kUp) return;
  if (result_.received < result_.sent) {
    return Fail(absl::StrCat("traffic: ", result_.received, "/", result_.sent, " replies"));
  }
  result_.ok = true;
  std::weak_ptr<bool> alive = alive_;
  teardown_timer_ = timers_.Schedule(s_.hold, [this, alive] {
    if (alive.expired()) return;
    teardown_timer_ = 0;
    BeginTeardown();
  });
}

void SimClient::Stop(const std::string& why) {
  if (phase_ >= Phase::kTeardown) return;
  if (phase_ < Phase::kUp) return Fail("stopped: " + why);
  if (!result_.ok && !traffic_started_ && traffic_mode_ == TrafficMode::kDeferred)
    return Fail("stopped before its traffic sample: " + why);
  if (!result_.ok) {  // traffic still running: judge what we have
    if (traffic_timer_) timers_.Cancel(traffic_timer_);
    traffic_timer_ = 0;
    TrafficFinished();
    if (phase_ != Phase::kUp) return;  // failed: teardown already scheduled
  }
  if (teardown_timer_) timers_.Cancel(teardown_timer_);
  teardown_timer_ = 0;
  BeginTeardown();
}

void SimClient::Abandon(const std::string& why) {
  if (phase_ != Phase::kIdle) return;
  result_.failure = why;
  result_.failed_in = Phase::kIdle;
  phase_ = Phase::kDone;
}

// Never tears down synchronously: callers may be deep inside the Lac, PPP or
// IKE code.
void SimClient::Fail(const std::string& why) {
  if (phase_ >= Phase::kTeardown) return;
  if (result_.failure.empty()) {
    result_.failure = why;
    result_.failed_in = phase_;
  }
  result_.ok = false;
  VPN_LOG(ike, kInfo, "client %d failed in %s: %s", index_, PhaseName(phase_), why);
  for (auto* id : {&connect_timer_, &progress_timer_, &traffic_timer_, &teardown_timer_}) {
    if (*id) timers_.Cancel(*id);
    *id = 0;
  }
  std::weak_ptr<bool> alive = alive_;
  phase_ = Phase::kTeardown;
  teardown_timer_ = timers_.Schedule(absl::ZeroDuration(), [this, alive] {
    if (alive.expired()) return;
    teardown_timer_ = 0;
    BeginTeardown();
  });
}

// Polite teardown in the order a real client does it: LCP Terminate (then
// CDN from the LAC), StopCCN, IKE DELETE; each step bounded by the grace.
void SimClient::BeginTeardown() {
  phase_ = Phase::kTeardown;
  for (auto* id : {&connect_timer_, &progress_timer_, &traffic_timer_}) {
    if (*id) timers_.Cancel(*id);
    *id = 0;
  }
  std::weak_ptr<bool> alive = alive_;
  const absl::Duration g = s_.teardown_grace;
  int step = 0;
  if (ppp_ && !ppp_->session().finished()) {
    ppp_->session().Disconnect("clientsim: done");
    ++step;
  }
  auto after = [&](int n) { return g * n; };
  if (lac_ && lac_->tunnel_state() == l2tp::LacTunnelState::kEstablished) {
    timers_.Schedule(after(step), [this, alive] {
      if (!alive.expired() && lac_) lac_->CloseTunnel("clientsim: done");
    });
    ++step;
  }
  if (ike_ && ike_->FindSa(ike_sa_)) {
    timers_.Schedule(after(step), [this, alive] {
      if (!alive.expired() && ike_) ike_->DeleteIkeSa(ike_sa_);
    });
    ++step;
  }
  teardown_timer_ = timers_.Schedule(after(step), [this, alive] {
    if (alive.expired()) return;
    teardown_timer_ = 0;
    Finish();
  });
}

void SimClient::Finish() {
  if (phase_ == Phase::kDone) return;
  lac_.reset();
  ike_.reset();
  phase_ = Phase::kDone;
  if (done_) done_(*this);
}

}  // namespace vpn::clientsim

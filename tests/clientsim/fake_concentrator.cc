#include "fake_concentrator.h"

#include <arpa/inet.h>

#include "absl/strings/str_cat.h"

namespace vpn::clientsim::testing {

class FakeConcentrator::IkeTx : public ike::Transport {
 public:
  explicit IkeTx(FakeConcentrator& f) : f_(f) {}
  void SendIke(const ike::Endpoint& local, const ike::Endpoint& remote,
               std::span<const uint8_t> msg) override {
    ++f_.stats_.ike_out;
    Bytes d = local.port == kNatTPort ? FrameIkeForNatT(msg) : Bytes(msg.begin(), msg.end());
    f_.ToClient(ntohl(remote.ip), remote.port, local.port, std::move(d));
  }

 private:
  FakeConcentrator& f_;
};

class FakeConcentrator::L2tpTx : public l2tp::Transport {
 public:
  explicit L2tpTx(FakeConcentrator& f) : f_(f) {}
  void SendL2tp(const l2tp::PeerBinding& b, std::span<const uint8_t> msg) override {
    f_.SendL2tp(b, msg);
  }

 private:
  FakeConcentrator& f_;
};

// What the daemon does on IKE events that concern L2TP.
class FakeConcentrator::IkeEvents : public ike::Events {
 public:
  explicit IkeEvents(FakeConcentrator& f) : f_(f) {}
  void OnChildSaDeleted(const cp::ChildSaHandle& h) override {
    if (f_.lns_) f_.lns_->OnSaDeleted(h.inbound_index);
  }

 private:
  FakeConcentrator& f_;
};

// ServerSession plus the dataplane's part: IPv4 from the client goes to the
// LAN, whose answer comes back on the same session.
class FakeConcentrator::LanEndpoint : public cp::PppEndpoint {
 public:
  LanEndpoint(FakeConcentrator& f, cp::PppLink& link, const cp::L2tpSessionInfo& info)
      : f_(f), link_(link) {
    ppp::ServerCallbacks cb;
    cb.on_network_up = [this](const ppp::NetworkUp&) { ++f_.stats_.network_up; };
    cb.on_down = [this](std::string_view) { ++f_.stats_.sessions_down; };
    session_ = std::make_unique<ppp::ServerSession>(
        link, f.timers_, f.cfg_, *f.pools_, f.auth_,
        absl::StrCat(Ipv4ToString(ntohl(info.peer_ip)), " t", info.local_tunnel_id, " s",
                     info.local_session_id),
        cb);
    session_->Start();
  }
  void OnPppFrame(std::span<const uint8_t> f) override {
    auto frame = ParsePppFrame(f);
    if (frame && frame->protocol == kPppProtoIpv4) {
      // Only a session whose IPCP is up forwards, as in the dataplane.
      if (session_->phase() != ppp::PppPhase::kNetwork || session_->address() == 0) return;
      Bytes answer = f_.LanAnswer(frame->info);
      if (!answer.empty()) link_.SendPppFrame(PppIpv4Frame(answer));
      return;
    }
    session_->OnPppFrame(f);
  }
  void OnLinkDown(std::string_view reason) override { session_->OnLinkDown(reason); }

 private:
  FakeConcentrator& f_;
  cp::PppLink& link_;
  std::unique_ptr<ppp::ServerSession> session_;
};

FakeConcentrator::FakeConcentrator(cp::TimerQueue& timers, esp::Engine& engine,
                                   config::Config cfg, uint32_t server_ip, uint32_t lan_host)
    : timers_(timers),
      engine_(engine),
      cfg_(std::move(cfg)),
      server_ip_(server_ip),
      lan_host_(lan_host),
      auth_(cfg_) {
  auto pools = ppp::PoolRegistry::Create(cfg_);
  if (pools.ok()) pools_ = *std::move(pools);
  ike_tx_ = std::make_unique<IkeTx>(*this);
  l2tp_tx_ = std::make_unique<L2tpTx>(*this);
  ike_events_ = std::make_unique<IkeEvents>(*this);
  responder_ = std::make_unique<ike::Responder>(cfg_.ike, timers_, sas_, *ike_tx_, *ike_events_);
  lns_ = std::make_unique<l2tp::Lns>(
      cfg_.l2tp, timers_, *l2tp_tx_,
      [this](cp::PppLink& link, const cp::L2tpSessionInfo& info) -> std::unique_ptr<cp::PppEndpoint> {
        if (!pools_) return nullptr;
        return std::make_unique<LanEndpoint>(*this, link, info);
      });
}

FakeConcentrator::~FakeConcentrator() {
  lns_.reset();
  responder_.reset();
}

FakeConcentrator::Port& FakeConcentrator::AddPort(uint32_t ip, uint16_t port) {
  ports_.push_back(std::make_unique<Port>());
  Port& p = *ports_.back();
  p.ip = ip;
  p.port = port;
  p.net_ = this;
  return p;
}

void FakeConcentrator::Port::SendToServer(uint16_t dst_port, ByteSpan payload) {
  net_->FromClient(*this, dst_port, payload);
}

void FakeConcentrator::FromClient(Port& p, uint16_t dst_port, ByteSpan payload) {
  if (drop && drop(true, payload)) {
    ++stats_.dropped_by_test;
    return;
  }
  Bytes d(payload.begin(), payload.end());
  const uint32_t ip = p.ip;
  const uint16_t port = p.port;
  timers_.Schedule(latency, [this, ip, port, dst_port, d = std::move(d)] {
    Receive(ip, port, dst_port, d);
  });
}

void FakeConcentrator::Receive(uint32_t src_ip, uint16_t src_port, uint16_t dst_port,
                               ByteSpan d) {
  const ike::Endpoint remote{htonl(src_ip), src_port};
  if (dst_port == kIkePort) {
    ++stats_.ike_in;
    responder_->OnDatagram({htonl(server_ip_), kIkePort}, remote, d);
    return;
  }
  if (dst_port != kNatTPort) return;
  NattPayload p = ClassifyNatT(d);
  if (p.kind == NattKind::kIke) {
    ++stats_.ike_in;
    responder_->OnDatagram({htonl(server_ip_), kNatTPort}, remote, p.body);
  } else if (p.kind == NattKind::kEsp) {
    ServerEsp(src_ip, src_port, p.body);
  }
}

void FakeConcentrator::ServerEsp(uint32_t src_ip, uint16_t src_port, ByteSpan esp) {
  ++stats_.esp_in;
  const uint32_t spi = uint32_t(esp[0]) << 24 | uint32_t(esp[1]) << 16 | uint32_t(esp[2]) << 8 | esp[3];
  EspPair* pair = sas_.FindByInboundSpi(spi);
  Bytes payload;
  uint8_t nh = 0;
  Reason why{};
  // The dataplane checks that ESP comes from the SA's owner (esp_wrong_peer).
  if (!pair || ntohl(pair->install().peer_ip) != src_ip ||
      ntohs(pair->install().peer_port) != src_port ||
      !pair->Open(engine_, esp, &payload, &nh, &why) || nh != kIpProtoUdp) {
    ++stats_.esp_drops;
    return;
  }
  auto udp = ParseUdpSegment(payload, src_ip, server_ip_, true);
  if (!udp || udp->dport != kL2tpPort) {
    ++stats_.esp_drops;
    return;
  }
  l2tp::PeerBinding b;
  b.sa_index = shm::SpiIndex(spi);
  b.peer_ip = htonl(src_ip);
  b.peer_port = udp->sport;
  b.local_ip = htonl(server_ip_);
  b.local_port = kL2tpPort;
  if (L2tpIsControl(udp->data)) {
    ++stats_.l2tp_ctl_in;
    lns_->OnControlMessage(b, udp->data);
  } else {
    ++stats_.l2tp_data_in;
    lns_->OnDataMessage(b, udp->data);
  }
}

void FakeConcentrator::SendL2tp(const l2tp::PeerBinding& b, ByteSpan msg) {
  EspPair* pair = sas_.FindByInboundIndex(b.sa_index);
  if (!pair) return;
  const uint32_t client_ip = ntohl(pair->install().peer_ip);
  const uint16_t client_port = ntohs(pair->install().peer_port);
  Bytes seg = BuildUdpSegment(server_ip_, client_ip, kL2tpPort, b.peer_port, msg);
  Bytes esp;
  Reason why{};
  if (!pair->Seal(engine_, seg, kIpProtoUdp, &esp, &why)) return;
  ++stats_.esp_out;
  ToClient(client_ip, client_port, kNatTPort, std::move(esp));
}

void FakeConcentrator::ToClient(uint32_t ip, uint16_t port, uint16_t src_port, Bytes payload) {
  if (drop && drop(false, payload)) {
    ++stats_.dropped_by_test;
    return;
  }
  if (to_client) return to_client(ip, port, src_port, payload);
  timers_.Schedule(latency, [this, ip, port, src_port, d = std::move(payload)] {
    for (auto& p : ports_)
      if (p->ip == ip && p->port == port && p->client) {
        p->client->OnDatagram(src_port, d);
        return;
      }
  });
}

Bytes FakeConcentrator::LanAnswer(ByteSpan ipv4) {
  Ipv4Packet p;
  if (ParseIpv4(ipv4, &p) != Ipv4Error::kOk || p.fields.dst != lan_host_) return {};
  Ipv4Fields r;
  r.src = lan_host_;
  r.dst = p.fields.src;
  r.ttl = 63;
  r.id = 0x4242;
  if (auto e = ParseIcmpEcho(p); e && !e->reply) {
    ++stats_.lan_echo_answered;
    return BuildIcmpEcho(r, true, e->id, e->seq, e->data);
  }
  if (p.fields.protocol == kIpProtoUdp) {
    auto u = ParseUdpSegment(p.payload, p.fields.src, p.fields.dst, true);
    if (!u || u->dport != 7) return {};
    ++stats_.lan_udp_answered;
    return BuildUdpPacket(r, 7, u->sport, u->data);
  }
  return {};
}

}  // namespace vpn::clientsim::testing

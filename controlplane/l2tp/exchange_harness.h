// In-process LAC <-> LNS harness: a fake network on a ManualTimerQueue that
// can drop, duplicate and delay (reorder) individual messages, loopback PPP
// endpoints, and a fixture that brings clients up.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "control_message.h"
#include "lac.h"
#include "lns.h"
#include "timer_queue.h"

namespace vpn::l2tp::testing {

using Bytes = std::vector<uint8_t>;

struct EndpointLog {
  std::vector<Bytes> frames;
  std::vector<std::string> link_down;
  cp::L2tpSessionInfo info;
  cp::PppLink* link = nullptr;  // cleared on link down
};

// Records what arrives; with echo, sends every frame straight back.
class LoopbackEndpoint : public cp::PppEndpoint {
 public:
  LoopbackEndpoint(cp::PppLink& link, std::shared_ptr<EndpointLog> log, bool echo)
      : link_(link), log_(std::move(log)), echo_(echo) {
    log_->link = &link_;
  }
  void OnPppFrame(std::span<const uint8_t> f) override {
    log_->frames.emplace_back(f.begin(), f.end());
    if (echo_) link_.SendPppFrame(f);
  }
  void OnLinkDown(std::string_view reason) override {
    log_->link_down.emplace_back(reason);
    log_->link = nullptr;
  }

 private:
  cp::PppLink& link_;
  std::shared_ptr<EndpointLog> log_;
  bool echo_;
};

enum class Dir { kToLns, kToLac };

struct Wire {
  Dir dir = Dir::kToLns;
  int client = -1;         // -1: LNS sent to an unknown binding
  Bytes bytes;
  absl::Time when;
  bool control = false;
  bool zlb = false;
  uint16_t type = 0;   // Message Type for non-ZLB control messages
  Header header;
};

class Net {
 public:
  enum class Fate { kDeliver, kDrop, kDuplicate, kDelay };
  struct Client {
    Lac* lac = nullptr;
    PeerBinding seen_by_lns;
    // An older SA the client still decrypts (rekey overlap): what the LNS
    // sends through it reaches the client too.
    uint32_t also_receives_on = kNoSa;
    bool Receives(const PeerBinding& b) const {
      PeerBinding old = seen_by_lns;
      old.sa_index = also_receives_on;
      return seen_by_lns.SamePeer(b) || (also_receives_on != kNoSa && old.SamePeer(b));
    }
  };

  explicit Net(cp::ManualTimerQueue& t) : timers_(t) {}

  class LnsSide : public Transport {
   public:
    explicit LnsSide(Net* n) : net_(n) {}
    void SendL2tp(const PeerBinding& b, std::span<const uint8_t> m) override {
      net_->FromLns(b, m);
    }
   private:
    Net* net_;
  };
  class LacSide : public Transport {
   public:
    LacSide(Net* n, int c) : net_(n), client_(c) {}
    void SendL2tp(const PeerBinding&, std::span<const uint8_t> m) override {
      net_->FromLac(client_, m);
    }
   private:
    Net* net_;
    int client_;
  };

  void FromLns(const PeerBinding& b, std::span<const uint8_t> m) {
    // Clients may share a binding (tests of per-client limits): the tunnel
    // id in the header picks the LAC, as a real client's socket would.
    int c = -1;
    Header h;
    const bool parsed = ParseHeader(m, &h) == HeaderError::kOk;
    for (size_t i = 0; i < clients.size(); ++i)
      if (clients[i].lac != nullptr && clients[i].Receives(b) &&
          (c < 0 || (parsed && clients[i].lac->local_tunnel_id() == h.tunnel_id)))
        c = int(i);
    Dispatch(Make(Dir::kToLac, c, m));
  }
  void FromLac(int c, std::span<const uint8_t> m) { Dispatch(Make(Dir::kToLns, c, m)); }

  // Control messages of `type` (0: ZLBs) sent in direction `d` so far.
  int Count(Dir d, uint16_t type, int client = -2) const {
    int n = 0;
    for (const Wire& w : log)
      if (w.dir == d && w.control && (w.zlb ? 0 : w.type) == type &&
          (client == -2 || w.client == client))
        ++n;
    return n;
  }
  int Count(Dir d, MessageType t, int client = -2) const {
    return Count(d, uint16_t(t), client);
  }
  int DataCount(Dir d) const {
    int n = 0;
    for (const Wire& w : log) n += (w.dir == d && !w.control);
    return n;
  }
  const Wire* Last(Dir d, MessageType t) const {
    for (auto it = log.rbegin(); it != log.rend(); ++it)
      if (it->dir == d && it->control && !it->zlb && it->type == uint16_t(t)) return &*it;
    return nullptr;
  }
  // Result Code (result, error) of a logged StopCCN/CDN.
  static std::pair<uint16_t, uint16_t> ResultOf(const Wire& w) {
    ControlMessage m;
    ParseControlMessage(w.bytes, "", &m);
    const Avp* r = m.Find(AvpType::kResultCode);
    if (r == nullptr) return {0, 0};
    return {Get16(r->value.data()),
            r->value.size() >= 4 ? Get16(r->value.data() + 2) : uint16_t(0)};
  }

  std::function<Fate(const Wire&)> fate;  // null: deliver everything
  absl::Duration latency = absl::Milliseconds(10);
  absl::Duration delay = absl::Milliseconds(300);  // Fate::kDelay extra
  std::vector<Wire> log;
  std::vector<Client> clients;
  Lns* lns = nullptr;

 private:
  Wire Make(Dir d, int c, std::span<const uint8_t> m) {
    Wire w;
    w.dir = d;
    w.client = c;
    w.bytes.assign(m.begin(), m.end());
    w.when = timers_.Now();
    ControlMessage cm;
    if (ParseHeader(m, &w.header) == HeaderError::kOk && w.header.control) {
      w.control = true;
      if (ParseControlMessage(m, "", &cm) == ParseStatus::kOk) {
        w.zlb = cm.zlb;
        w.type = cm.type;
      }
    }
    return w;
  }
  void Dispatch(Wire w) {
    log.push_back(w);
    Fate f = fate ? fate(w) : Fate::kDeliver;
    if (f == Fate::kDrop || w.client < 0) return;
    auto deliver = [this, w] { Arrive(w); };
    if (f == Fate::kDuplicate) timers_.Schedule(latency, deliver);
    timers_.Schedule(f == Fate::kDelay ? latency + delay : latency, deliver);
  }
  void Arrive(const Wire& w) {
    if (w.dir == Dir::kToLns) {
      const PeerBinding& b = clients[w.client].seen_by_lns;
      if (w.control) lns->OnControlMessage(b, w.bytes);
      else lns->OnDataMessage(b, w.bytes);
    } else {
      Lac* lac = clients[w.client].lac;
      if (lac == nullptr) return;  // that client is gone
      if (w.control) lac->OnControlMessage(w.bytes);
      else lac->OnDataMessage(w.bytes);
    }
  }
  cp::ManualTimerQueue& timers_;
};

class ExchangeTest : public ::testing::Test {
 protected:
  ExchangeTest() {
    cfg.hello_interval_s = 60;
    cfg.hostname = "lns.test";
  }
  ~ExchangeTest() override {
    DropLacs();
    lns.reset();
  }
  // Destroys every LAC; messages still in flight to them are lost.
  void DropLacs() {
    for (auto& c : net.clients) c.lac = nullptr;
    lacs.clear();
  }

  void StartLns(LnsOptions o = {}) {
    lns = std::make_unique<Lns>(
        cfg, timers, lns_side,
        [this](cp::PppLink& link, const cp::L2tpSessionInfo& info)
            -> std::unique_ptr<cp::PppEndpoint> {
          if (refuse_endpoints) return nullptr;
          auto log = std::make_shared<EndpointLog>();
          log->info = info;
          lns_eps.push_back(log);
          return std::make_unique<LoopbackEndpoint>(link, log, lns_echo);
        },
        o);
    net.lns = lns.get();
  }

 public:
  static PeerBinding ClientBinding(int i) {
    PeerBinding b;
    b.sa_index = 100 + i;
    b.peer_ip = htonl(0xC6120000u + 10 + i);  // 198.18.0.(10+i)
    b.peer_port = 1701;
    b.local_ip = htonl(0xC6120001u);
    b.local_port = 1701;
    return b;
  }

 protected:
  int AddClient(PeerBinding seen, config::L2tp lac_cfg, LacOptions o = {}) {
    int idx = int(lacs.size());
    lac_sides.push_back(std::make_unique<Net::LacSide>(&net, idx));
    PeerBinding to_lns;  // the LAC's view; unused by the fake network
    lacs.push_back(std::make_unique<Lac>(lac_cfg, timers, *lac_sides.back(), to_lns,
                                         std::move(o)));
    net.clients.push_back(Net::Client{lacs.back().get(), seen});
    return idx;
  }
  int AddClient(LacOptions o = {}) {
    config::L2tp c = cfg;
    c.hostname = "lac" + std::to_string(lacs.size());
    return AddClient(ClientBinding(int(lacs.size())), c, std::move(o));
  }

  void Run(absl::Duration d) { timers.Advance(d); }

  // The LNS's view of client c's tunnel (Tunnels() is ordered by our random
  // tunnel ids, so index 0 is nobody in particular once there are two). Our
  // tunnel id is unique per peer only: the client's binding and its own
  // tunnel id pick the tunnel.
  TunnelView TunnelOf(int c) const {
    for (const TunnelView& t : lns->Tunnels())
      if (t.local_id == lacs[c]->peer_tunnel_id() && t.peer_id == lacs[c]->local_tunnel_id() &&
          t.binding.peer_ip == net.clients[c].seen_by_lns.peer_ip &&
          t.binding.peer_port == net.clients[c].seen_by_lns.peer_port)
        return t;
    ADD_FAILURE() << "no tunnel for client " << c;
    return {};
  }

  ::testing::AssertionResult BringUp(int c) {
    if (auto s = lacs[c]->OpenTunnel(); !s.ok())
      return ::testing::AssertionFailure() << s;
    Run(absl::Seconds(1));
    if (lacs[c]->tunnel_state() != LacTunnelState::kEstablished)
      return ::testing::AssertionFailure()
             << "LAC tunnel state " << int(lacs[c]->tunnel_state());
    return ::testing::AssertionSuccess();
  }

  // Opens a call; the LAC endpoint records frames (no echo).
  uint16_t OpenCall(int c, std::shared_ptr<EndpointLog>* lac_log,
                    LacCallOptions o = {}) {
    auto log = std::make_shared<EndpointLog>();
    if (lac_log) *lac_log = log;
    auto sid = lacs[c]->OpenSession(
        [log](cp::PppLink& link, const cp::L2tpSessionInfo& info)
            -> std::unique_ptr<cp::PppEndpoint> {
          log->info = info;
          return std::make_unique<LoopbackEndpoint>(link, log, false);
        },
        std::move(o));
    EXPECT_TRUE(sid.ok()) << sid.status();
    Run(absl::Seconds(1));
    return sid.ok() ? *sid : 0;
  }

  uint64_t LnsCounter(std::string_view name) const {
    return lns->counters().Get(name);
  }

  config::L2tp cfg;
  cp::ManualTimerQueue timers;
  Net net{timers};
  Net::LnsSide lns_side{&net};
  bool lns_echo = true;
  bool refuse_endpoints = false;
  std::vector<std::shared_ptr<EndpointLog>> lns_eps;
  std::unique_ptr<Lns> lns;
  std::vector<std::unique_ptr<Net::LacSide>> lac_sides;
  std::vector<std::unique_ptr<Lac>> lacs;
};

}  // namespace vpn::l2tp::testing

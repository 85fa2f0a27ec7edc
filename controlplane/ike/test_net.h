// In-process network for exchange tests: one responder, any number of
// initiators ("clients"), optionally all behind one NAPT that rewrites
// source addresses and ports (several clients share the public address and
// even their private address, as behind a home router).
#pragma once

#include <arpa/inet.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>

#include "events.h"
#include "initiator.h"
#include "responder.h"

namespace vpn::ike::testing {

inline uint32_t Ip(const char* s) { return inet_addr(s); }

struct RecordingEvents : Events {
  struct Entry {
    std::string what;
    cp::ChildSaHandle handle;
    uint64_t ike_sa = 0;
  };
  std::vector<Entry> log;
  std::vector<ChildSaInfo> installed;
  int dead = 0;
  void OnIkeSaEstablished(uint64_t id, const Endpoint&, const std::string&) override {
    log.push_back({"ike-up", {}, id});
  }
  void OnChildSaInbound(uint32_t inbound_index, const ChildSaInfo& info) override {
    log.push_back({"child-inbound", {inbound_index, shm::kInvalidIndex}, info.ike_sa});
  }
  void OnChildSaAborted(uint32_t inbound_index) override {
    log.push_back({"child-aborted", {inbound_index, shm::kInvalidIndex}, 0});
  }
  void OnChildSaInstalled(const cp::ChildSaHandle& h, const ChildSaInfo& info) override {
    log.push_back({"child-up", h, info.ike_sa});
    installed.push_back(info);
  }
  void OnChildSaDeleted(const cp::ChildSaHandle& h) override { log.push_back({"child-down", h, 0}); }
  void OnChildSaMoved(const cp::ChildSaHandle& h, uint64_t id) override {
    log.push_back({"child-moved", h, id});
  }
  void OnIkeSaDeleted(uint64_t id) override { log.push_back({"ike-down", {}, id}); }
  void OnPeerDead(uint64_t id, const Endpoint&) override {
    ++dead;
    log.push_back({"dead", {}, id});
  }
  int Count(const std::string& what) const {
    int n = 0;
    for (const auto& e : log) n += e.what == what;
    return n;
  }
};

struct Packet {
  bool to_server = false;
  int client = 0;
  Endpoint src, dst;  // as on the wire at the receiver's side
  Bytes data;
};

class Net {
 public:
  static constexpr const char* kServer = "198.18.0.254";
  static constexpr const char* kNatPublic = "198.18.0.1";
  static constexpr const char* kPrivate = "192.168.1.10";
  // With server_nat the responder sits behind a static port forward and has
  // this address itself (clients still dial kServer).
  static constexpr const char* kServerPrivate = "198.19.0.254";

  struct Keepalive {
    absl::Time at;
    Endpoint local, remote;
  };

  struct Client {
    Net* net = nullptr;
    int index = 0;
    struct Tx : Transport {
      Client* c;
      void SendIke(const Endpoint& local, const Endpoint& remote,
                   std::span<const uint8_t> msg) override {
        c->net->FromClient(c->index, local, remote, msg);
      }
      void SendNatKeepalive(const Endpoint& local, const Endpoint& remote) override {
        c->keepalives.push_back({c->net->timers_.Now(), local, remote});
      }
    } tx;
    std::vector<Keepalive> keepalives;
    cp::RecordingSaSink sink;
    RecordingEvents events;
    std::unique_ptr<Initiator> ike;
    Endpoint local;
  };

  Net(cp::TimerQueue& timers, const config::Ike& server_cfg, bool nat, bool server_nat = false,
      const ResponderOptions& ropts = {})
      : timers_(timers), nat_(nat), server_nat_(server_nat) {
    server_tx_.net = this;
    server = std::make_unique<Responder>(server_cfg, timers, server_sink, server_tx_,
                                         server_events, ropts);
    server_ep = {Ip(kServer), kIkePort};
  }

  Client& AddClient(const config::Ike& cfg, InitiatorOptions opts = {}) {
    auto c = std::make_unique<Client>();
    c->net = this;
    c->index = static_cast<int>(clients.size());
    c->tx.c = c.get();
    // Behind the NAT every client has the same private address.
    std::string ip = nat_ ? kPrivate : "198.18.0." + std::to_string(10 + c->index);
    c->local = {Ip(ip.c_str()), kIkePort};
    // Two RecordingSaSinks hand out the same SPI sequence; skew the client's
    // so the two directions of a pair differ, as real random SPIs do.
    for (int i = 0; i < 100 * (c->index + 1); ++i) (void)c->sink.AllocateInboundSpi();
    c->ike = std::make_unique<Initiator>(cfg, timers_, c->sink, c->tx, c->events, opts);
    clients.push_back(std::move(c));
    return *clients.back();
  }

  // Delivers queued packets until quiet (bounded).
  int Pump(int max = 200) {
    int n = 0;
    while (!queue_.empty() && n < max) {
      Packet p = std::move(queue_.front());
      queue_.pop_front();
      ++n;
      if (drop && drop(p)) continue;
      wire.push_back(p);
      if (p.to_server) server->OnDatagram(p.dst, p.src, p.data);
      else clients[p.client]->ike->OnDatagram(p.dst, p.src, p.data);
    }
    return n;
  }

  // Injects a datagram to the server as if from `src`.
  void InjectToServer(const Endpoint& src, ByteSpan data) {
    server->OnDatagram({Ip(kServer), kIkePort}, src, data);
  }

  Endpoint PublicOf(int client, uint16_t private_port) {
    if (!nat_) return {clients[client]->local.ip, private_port};
    auto key = std::make_pair(client, private_port);
    auto it = nat_out_.find(key);
    if (it == nat_out_.end()) {
      uint16_t port = next_port_++;
      it = nat_out_.emplace(key, port).first;
      nat_in_[port] = key;
    }
    return {Ip(kNatPublic), it->second};
  }

  std::unique_ptr<Responder> server;
  cp::RecordingSaSink server_sink;
  RecordingEvents server_events;
  Endpoint server_ep;
  std::vector<std::unique_ptr<Client>> clients;
  std::function<bool(const Packet&)> drop;  // return true to lose a packet
  std::vector<Packet> wire;                 // everything delivered
  std::vector<Keepalive> server_keepalives;

 private:
  struct ServerTx : Transport {
    Net* net;
    void SendIke(const Endpoint& local, const Endpoint& remote,
                 std::span<const uint8_t> msg) override {
      net->FromServer(local, remote, msg);
    }
    void SendNatKeepalive(const Endpoint& local, const Endpoint& remote) override {
      net->server_keepalives.push_back({net->timers_.Now(), local, remote});
    }
  } server_tx_;

  void FromClient(int index, const Endpoint& local, const Endpoint& remote, ByteSpan msg) {
    Packet p;
    p.to_server = true;
    p.client = index;
    p.src = PublicOf(index, local.port);
    p.dst = remote;
    if (server_nat_ && remote.ip == Ip(kServer)) p.dst.ip = Ip(kServerPrivate);
    p.data.assign(msg.begin(), msg.end());
    queue_.push_back(std::move(p));
  }

  void FromServer(const Endpoint& local, const Endpoint& remote, ByteSpan msg) {
    Packet p;
    p.src = local;
    if (server_nat_ && local.ip == Ip(kServerPrivate)) p.src.ip = Ip(kServer);
    p.data.assign(msg.begin(), msg.end());
    if (nat_) {
      auto it = nat_in_.find(remote.port);
      if (remote.ip != Ip(kNatPublic) || it == nat_in_.end()) return;  // no mapping: lost
      p.client = it->second.first;
      p.dst = {Ip(kPrivate), it->second.second};
    } else {
      bool found = false;
      for (auto& c : clients)
        if (c->local.ip == remote.ip) {
          p.client = c->index;
          found = true;
        }
      if (!found) return;
      p.dst = remote;
    }
    queue_.push_back(std::move(p));
  }

  cp::TimerQueue& timers_;
  bool nat_;
  bool server_nat_;
  std::deque<Packet> queue_;
  std::map<std::pair<int, uint16_t>, uint16_t> nat_out_;
  std::map<uint16_t, std::pair<int, uint16_t>> nat_in_;
  uint16_t next_port_ = 40000;
};

}  // namespace vpn::ike::testing

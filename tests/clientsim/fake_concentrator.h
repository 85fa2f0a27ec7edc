// Test support: the concentrator's control-plane libraries (ike::Responder,
// l2tp::Lns, ppp::ServerSession with a LocalAuthenticator and a pool) behind
// an in-memory network on a ManualTimerQueue, with a fake dataplane that does
// what vpn-dataplane does for them: RFC 3948 demux on port 4500, ESP with the
// same engine (EspSaTable, server view), L2TP to the LNS, and a "LAN host"
// that answers ICMP echo and UDP echo sent by the clients. Lets the exchange
// test run the whole client stack without DPDK; clientsim-fakeserver puts it
// on real UDP sockets (loopback tests of vpn-clientsim itself).
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "authenticator.h"
#include "address_pool.h"
#include "client.h"
#include "esp_sa_table.h"
#include "lns.h"
#include "responder.h"
#include "server_session.h"
#include "timer_queue.h"

namespace vpn::clientsim::testing {

struct FakeStats {
  uint64_t ike_in = 0, ike_out = 0, esp_in = 0, esp_out = 0, esp_drops = 0;
  uint64_t l2tp_ctl_in = 0, l2tp_data_in = 0;
  uint64_t lan_echo_answered = 0, lan_udp_answered = 0;
  uint64_t network_up = 0, sessions_down = 0;
  uint64_t dropped_by_test = 0;
};

class FakeConcentrator {
 public:
  // Server at `server_ip`; the LAN host answering pings at `lan_host`
  // (host order).
  FakeConcentrator(cp::TimerQueue& timers, esp::Engine& engine, config::Config cfg,
                   uint32_t server_ip, uint32_t lan_host);
  ~FakeConcentrator();

  // One client "socket": the SimClient sends through it; set `client`
  // before the client starts.
  class Port : public ClientIo {
   public:
    void SendToServer(uint16_t dst_port, ByteSpan payload) override;
    SimClient* client = nullptr;
    uint32_t ip = 0;  // host order
    uint16_t port = 0;

   private:
    friend class FakeConcentrator;
    FakeConcentrator* net_ = nullptr;
  };
  Port& AddPort(uint32_t ip, uint16_t port);

  // A datagram from a client's (ip, port) to our UDP port 500 or 4500.
  void Receive(uint32_t src_ip, uint16_t src_port, uint16_t dst_port, ByteSpan d);
  // Where datagrams to clients go when set (real sockets); otherwise to the
  // Port with that address after `latency`.
  std::function<void(uint32_t ip, uint16_t port, uint16_t src_port, ByteSpan d)> to_client;

  // Drop predicate for datagrams in either direction (loss tests).
  std::function<bool(bool to_server, ByteSpan udp_payload)> drop;
  absl::Duration latency = absl::Milliseconds(2);

  const FakeStats& stats() const { return stats_; }
  ike::Responder& responder() { return *responder_; }
  l2tp::Lns& lns() { return *lns_; }
  const config::Config& config() const { return cfg_; }

 private:
  class IkeTx;
  class L2tpTx;
  class LanEndpoint;
  class IkeEvents;
  friend class LanEndpoint;

  void FromClient(Port& p, uint16_t dst_port, ByteSpan payload);
  void ServerEsp(uint32_t src_ip, uint16_t src_port, ByteSpan esp);
  void ToClient(uint32_t ip, uint16_t port, uint16_t src_port, Bytes payload);
  void SendL2tp(const l2tp::PeerBinding& b, ByteSpan msg);
  // Answers the LAN host's part of a client's IPv4 packet; empty if none.
  Bytes LanAnswer(ByteSpan ipv4);

  cp::TimerQueue& timers_;
  esp::Engine& engine_;
  const config::Config cfg_;
  const uint32_t server_ip_, lan_host_;
  FakeStats stats_;
  EspSaTable sas_{0xC0FFEE};
  std::unique_ptr<ppp::PoolRegistry> pools_;
  ppp::LocalAuthenticator auth_;
  std::unique_ptr<IkeTx> ike_tx_;
  std::unique_ptr<L2tpTx> l2tp_tx_;
  std::unique_ptr<IkeEvents> ike_events_;
  std::unique_ptr<ike::Responder> responder_;
  std::unique_ptr<l2tp::Lns> lns_;
  std::deque<std::unique_ptr<Port>> ports_;
};

}  // namespace vpn::clientsim::testing

// One simulated L2TP/IPsec client: everything a Windows/Linux built-in client
// does, on one UDP socket (given as a ClientIo), driven by a TimerQueue:
//
//   IKEv1 Main Mode PSK + Quick Mode transport UDP/1701 (ike::Initiator),
//     NAT-T forced: we tell the initiator our IKE port is 500 while the
//     socket uses another, so the NAT-D hashes differ (RFC 3947 3.2), both
//     sides float to 4500 and ESP is UDP-encapsulated (RFC 3948), which a
//     plain socket can carry without kernel XFRM;
//   -> L2TP LAC (l2tp::Lac) inside ESP transport mode (next header 17, our
//     own UDP header sport->1701, sealed by EspSaTable);
//   -> PPP client (ppp::ClientSession: LCP, MS-CHAPv2 by default, IPCP);
//   -> traffic: ICMP echo or UDP datagrams from the assigned address,
//     counting replies; then an optional hold and a polite teardown
//     (LCP Terminate, CDN, StopCCN, IKE DELETE).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "esp_sa_table.h"
#include "initiator.h"
#include "lac.h"
#include "client_session.h"
#include "timer_queue.h"
#include "vpn/config.h"
#include "wire.h"

namespace vpn::clientsim {

struct TrafficSettings {
  enum class Kind { kNone, kPing, kUdp };
  Kind kind = Kind::kNone;
  uint32_t target = 0;            // host order, on the LAN side
  int count = 0;                  // packets to send
  absl::Duration interval = absl::Milliseconds(200);
  size_t size = 56;               // ICMP data / UDP payload bytes
  uint16_t udp_port = 7;          // echo
  absl::Duration reply_wait = absl::Seconds(3);  // after the last packet
  // After IPCP is up, before the first packet. A stock pppd LNS configures
  // its interface (ip-pre-up, proxy ARP, ip-up) only after acking IPCP, so
  // packets sent at once may be dropped there; our concentrator must not
  // need a delay.
  absl::Duration start_delay = absl::ZeroDuration();
};

// What every client shares.
struct ClientSettings {
  uint32_t server_ip = 0;  // host order
  config::Ike ike;         // psk, proposals, esp_proposals, lifetimes
  config::L2tp l2tp;
  ppp::ClientSettings ppp;
  TrafficSettings traffic;
  uint16_t l2tp_port = 1701;                       // our L2TP UDP port
  // The server's UDP ports (tests run a fake server on unprivileged ones).
  uint16_t ike_port = kIkePort;
  uint16_t natt_port = kNatTPort;
  absl::Duration connect_timeout = absl::Seconds(60);
  absl::Duration hold = absl::ZeroDuration();      // stay up after traffic
  absl::Duration teardown_grace = absl::Milliseconds(500);
};

enum class Phase { kIdle, kIke, kL2tp, kPpp, kUp, kTeardown, kDone };
const char* PhaseName(Phase p);

struct ClientResult {
  bool connected = false;       // PPP/IPCP came up
  bool ok = false;              // connected and the traffic check passed
  std::string failure;          // why not, "" if ok
  Phase failed_in = Phase::kIdle;
  absl::Duration t_ike, t_l2tp, t_connect;  // from Start to child SA / tunnel / IPCP up
  uint32_t address = 0;                     // host order, from IPCP
  uint32_t dns = 0;
  uint64_t sent = 0, received = 0;          // traffic packets
  absl::Duration rtt_sum;                   // over replies
  uint64_t esp_sealed = 0, esp_opened = 0, esp_dropped = 0;
  std::string esp_suite;
};

// How one client's datagrams leave: from its own socket to the server.
class ClientIo {
 public:
  virtual ~ClientIo() = default;
  virtual void SendToServer(uint16_t dst_port, ByteSpan payload) = 0;
};

class SimClient : private ike::Transport, private ike::Events, private l2tp::Transport {
 public:
  // `local_ip` (host order) is the socket's address as the server sees it;
  // the socket's port (the caller's, behind `io`) must not be 500 (see NAT-T
  // above).
  SimClient(int index, const ClientSettings& s, cp::TimerQueue& timers, esp::Engine& engine,
            ClientIo& io, uint32_t local_ip);
  ~SimClient() override;
  SimClient(const SimClient&) = delete;
  SimClient& operator=(const SimClient&) = delete;

  // Connects; `done` is called once when the client finished (traffic and
  // hold over and torn down, or failed). It must not destroy the client.
  void Start(std::function<void(SimClient&)> done);
  // A datagram from the server's `src_port` (ike_port or natt_port).
  void OnDatagram(uint16_t src_port, ByteSpan payload);
  // Ends the hold early (e.g. SIGINT): tears down politely.
  void Stop(const std::string& why);
  // Records a failure for a client that never started (no socket, run
  // stopped before its turn); it is finished at once.
  void Abandon(const std::string& why);

  // Which clients send the configured traffic (set before Start). kNow: as
  // soon as IPCP is up (the default); kDeferred: only when StartTraffic() is
  // called (the perf ramp pings a sample once every client is up); kOff:
  // this client sends nothing and is ok once connected.
  enum class TrafficMode { kNow, kDeferred, kOff };
  void set_traffic_mode(TrafficMode m) { traffic_mode_ = m; }
  TrafficMode traffic_mode() const { return traffic_mode_; }
  // Starts a deferred client's traffic; no-op unless up and still waiting.
  void StartTraffic();
  // Up, with traffic configured and its verdict not in yet.
  bool traffic_pending() const {
    return phase_ == Phase::kUp && !result_.ok && traffic_mode_ != TrafficMode::kOff;
  }

  int index() const { return index_; }
  Phase phase() const { return phase_; }
  const ClientResult& result() const { return result_; }
  bool finished() const { return phase_ == Phase::kDone; }
  absl::Time started_at() const { return t0_; }

 private:
  class PppEndpoint;
  friend class PppEndpoint;

  // ike::Transport
  void SendIke(const ike::Endpoint& local, const ike::Endpoint& remote,
               std::span<const uint8_t> msg) override;
  // ike::Events
  void OnChildSaInstalled(const cp::ChildSaHandle& h, const ike::ChildSaInfo& info) override;
  void OnChildSaDeleted(const cp::ChildSaHandle& h) override;
  void OnIkeSaDeleted(uint64_t id) override;
  void OnPeerDead(uint64_t id, const ike::Endpoint& remote) override;
  // l2tp::Transport
  void SendL2tp(const l2tp::PeerBinding& b, std::span<const uint8_t> msg) override;

  void OnEsp(ByteSpan esp);
  void OnL2tp(ByteSpan l2tp);
  void OnTunnelUp();
  std::unique_ptr<cp::PppEndpoint> MakePppEndpoint(cp::PppLink& link,
                                                   const cp::L2tpSessionInfo& info);
  void OnPppUp(const ppp::ClientUp& up);
  void OnPppDown(std::string_view reason);
  void OnIpPacket(ByteSpan ipv4);
  void SendTrafficPacket();
  void TrafficFinished();
  void Fail(const std::string& why);
  void BeginTeardown();
  void Finish();
  void CheckIkeProgress();
  std::string IkeFailureHint() const;
  ike::Endpoint LocalIke(uint16_t port) const;
  ike::Endpoint ServerIke(uint16_t port) const;

  const int index_;
  const ClientSettings& s_;
  cp::TimerQueue& timers_;
  esp::Engine& engine_;
  ClientIo& io_;
  const uint32_t local_ip_;

  Phase phase_ = Phase::kIdle;
  TrafficMode traffic_mode_ = TrafficMode::kNow;
  bool traffic_started_ = false;
  ClientResult result_;
  absl::Time t0_;
  std::function<void(SimClient&)> done_;
  std::vector<cp::TimerQueue::TimerId> timers_owned_;
  cp::TimerQueue::TimerId connect_timer_ = 0, progress_timer_ = 0, traffic_timer_ = 0,
                          teardown_timer_ = 0;

  EspSaTable sas_;
  std::unique_ptr<ike::Initiator> ike_;
  uint64_t ike_sa_ = 0;
  uint16_t esp_port_ = kNatTPort;  // server's ESP port from the install
  std::unique_ptr<l2tp::Lac> lac_;
  PppEndpoint* ppp_ = nullptr;  // owned by the Lac's session
  uint16_t l2tp_session_ = 0;

  uint16_t next_seq_ = 0;
  std::map<uint16_t, absl::Time> in_flight_;  // traffic seq -> sent at
  uint16_t ip_id_ = 1;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vpn::clientsim

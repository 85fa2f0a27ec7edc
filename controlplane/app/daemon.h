// vpn-controlplane: ties the protocol engines to the shared-memory contract.
//
//   punt ring --IKE--------> ike::Responder --SaSink--> ShmTables (SA records)
//             --L2TP ctl---> l2tp::Lns --PppEndpointFactory--> ppp::ServerSession
//             --PPP ctl----> l2tp::Lns::DeliverPppFrame          |
//   inject ring <-- ike::Transport / l2tp::Transport <-----------+
//   ppp on_network_up --> ShmTables::InstallSession (dataplane forwards)
#pragma once

#include <map>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "capture_manager.h"
#include "control_server.h"
#include "event_loop.h"
#include "ike/events.h"
#include "ike/responder.h"
#include "ike/transport.h"
#include "l2tp/lns.h"
#include "l2tp/transport.h"
#include "metrics.h"
#include "metrics_http.h"
#include "packet_io.h"
#include "ppp/address_pool.h"
#include "ppp/authenticator.h"
#include "ppp/server_session.h"
#include "radius/accounting.h"
#include "radius/client.h"
#include "radius/dae_server.h"
#include "radius/radius_authenticator.h"
#include "sa_bindings.h"
#include "shm_tables.h"
#include "vpn/config.h"
#include "vpn/shm_segment.h"

namespace vpn::cp {

struct DaemonCounters {
  uint64_t punts = 0, punts_ike = 0, punts_l2tp = 0, punts_ppp = 0, punts_sa_event = 0;
  uint64_t punts_unhandled = 0, punts_malformed = 0;
  uint64_t sessions_up = 0, sessions_down = 0, session_install_failures = 0;
  uint64_t orphans_removed = 0;
};

// One PPP session as the control plane tracks it for the dataplane and vpnctl.
struct ClientRecord {
  uint64_t id = 0;
  L2tpSessionInfo l2tp;
  std::string peer;            // "198.18.0.7:4500" for logs
  uint32_t dp_session = 0;     // dataplane session slot, 0 until the address is acked
  std::optional<ppp::NetworkUp> up;
  absl::Time created, up_since;
  ppp::ServerSession* ppp = nullptr;  // owned by the L2TP session
  std::string acct_session_id;        // RADIUS Acct-Session-Id
  uint32_t terminate_cause = 0;       // RADIUS Acct-Terminate-Cause override
};

// The configuration new PPP sessions are built with. A reload makes a new
// generation; each session keeps the one it started with alive (its group
// pointers point into it), so a reload never changes a running session.
struct PppGeneration {
  config::Config cfg;
  std::unique_ptr<ppp::LocalAuthenticator> auth;  // reads cfg
};

class Daemon : private ike::Transport, private ike::Events, private l2tp::Transport {
 public:
  explicit Daemon(config::Config cfg);
  ~Daemon() override;
  // Attaches to (or creates) the segment, adopts what a previous control plane
  // left, builds the protocol engines and registers pollers, timers and the
  // control socket.
  absl::Status Start();
  void Run() { loop_.Run(); }
  void Stop() { loop_.Stop(); }
  // Polite shutdown: StopCCN to every tunnel, then stop the loop.
  void Shutdown();
  EventLoop& loop() { return loop_; }
  ControlServer& control() { return *control_; }
  const DaemonCounters& counters() const { return counters_; }

  // Operations (daemon_ops.cc): Prometheus text of the whole concentrator,
  // and `vpnctl reload` (re-reads cfg_.path; see config_reload.h).
  std::string MetricsText();
  absl::StatusOr<std::string> Reload();
  uint16_t metrics_port() const { return metrics_http_ ? metrics_http_->port() : 0; }

  // Debug and test check: the indexes by SA (bindings_, the LNS's) against
  // scans of every client and tunnel. O(clients); never on an event path.
  absl::Status CheckSaIndexes() const;

 private:
  // Tests and perf/cp_sa_bench drive the engines' events and the LNS entry
  // points directly (daemon_test_rig.h): nothing else reaches in.
  friend class DaemonProbe;

  // Punt dispatch.
  void OnPunt(const PuntedPacket& p);
  void OnPuntL2tp(const PuntedPacket& p);
  void OnPuntPpp(const PuntedPacket& p);
  void OnSaEvent(const PuntedPacket& p);
  l2tp::PeerBinding BindingOf(const shm::PacketMeta& m) const;

  // ike::Transport / l2tp::Transport: out through the inject ring.
  void SendIke(const ike::Endpoint& local, const ike::Endpoint& remote,
               std::span<const uint8_t> msg) override;
  void SendNatKeepalive(const ike::Endpoint& local, const ike::Endpoint& remote) override;
  void SendL2tp(const l2tp::PeerBinding& b, std::span<const uint8_t> msg) override;

  // ike::Events.
  void OnIkeSaEstablished(uint64_t ike_sa, const ike::Endpoint& remote,
                          const std::string& peer_id) override;
  void OnChildSaInbound(uint32_t inbound_index, const ike::ChildSaInfo& info) override;
  void OnChildSaAborted(uint32_t inbound_index) override;
  void OnChildSaInstalled(const ChildSaHandle& h, const ike::ChildSaInfo& info) override;
  void OnChildSaDeleted(const ChildSaHandle& h) override;
  void OnPeerDead(uint64_t ike_sa, const ike::Endpoint& remote) override;

  // Sessions (daemon_sessions.cc).
  std::unique_ptr<PppEndpoint> MakePppEndpoint(PppLink& link, const L2tpSessionInfo& info);
  void OnNetworkUp(uint64_t id, const ppp::NetworkUp& up);
  absl::Status InstallDataplaneSession(ClientRecord& c, const ppp::NetworkUp& up);
  void OnSessionDown(uint64_t id, std::string_view reason);
  void RemoveOrphansOf(uint32_t peer_ip, uint16_t peer_port);
  void ExpireOrphans();
  // Adopted sessions keep their (tunnel id, session id) key in the dataplane:
  // the LNS must not hand the pair out until the record is removed.
  void ReserveOrphanIds();
  void RemoveOrphanSession(uint32_t index);

  // RADIUS (daemon_radius.cc): client, authenticator, accounting, RFC 5176.
  absl::Status StartRadius();
  void RadiusSessionUp(ClientRecord& c);
  void RadiusSessionDown(ClientRecord& c, std::string_view reason);
  int RadiusDisconnect(const radius::DisconnectRequest& d);
  void AppendRadiusMetrics(metrics::Writer* w);

  void Heartbeat();
  void FinishShutdown(absl::Time deadline);
  void RegisterCommands();  // daemon_commands.cc
  void RegisterOpsCommands();  // daemon_ops.cc: metrics, reload, capture
  absl::StatusOr<std::string> ShowSessions(const ControlRequest& r);  // daemon_ops_sessions.cc
  std::shared_ptr<const PppGeneration> CurrentPppGeneration();
  absl::StatusOr<std::string> CaptureCommand(const ControlRequest& r);

  config::Config cfg_;
  EventLoop loop_;
  shm::Segment seg_;
  std::unique_ptr<ShmTables> tables_;
  // Child SAs of client endpoints, rekey chains and our sessions' SAs, each
  // indexed by inbound SA (sa_bindings.h); writes our session records.
  std::unique_ptr<SaBindings> bindings_;
  std::unique_ptr<PacketIo> io_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<ppp::PoolRegistry> pools_;
  std::unique_ptr<radius::Client> radius_client_;
  std::unique_ptr<radius::RadiusAuthenticator> radius_auth_;
  std::unique_ptr<radius::Accounting> radius_acct_;
  std::unique_ptr<radius::DaeServer> radius_dae_;
  uint32_t boot_time_ = 0;
  std::unique_ptr<ike::Responder> ike_;
  std::unique_ptr<l2tp::Lns> lns_;
  DaemonCounters counters_;

  uint64_t next_client_id_ = 1;
  std::map<uint64_t, ClientRecord> clients_;
  std::map<uint32_t, uint64_t> client_by_dp_session_;
  absl::Time orphan_deadline_;

  // daemon_ops.cc (declared last: destroyed before io_ and loop_ they use).
  std::shared_ptr<PppGeneration> ppp_gen_;
  std::unique_ptr<CaptureManager> capture_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  uint64_t reloads_applied_ = 0, reloads_refused_ = 0;
};

}  // namespace vpn::cp

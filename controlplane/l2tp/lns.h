// The L2TPv2 Network Server (RFC 2661): accepts control connections and
// incoming calls from LACs (the VPN clients), binds every tunnel to the IPsec
// SA and outer address it arrived through, and hands each established
// session to a PPP endpoint.
//
// Lifetime rule: tunnels and sessions are never destroyed inside a call that
// a PPP endpoint made into its PppLink. Teardown is immediate on the wire
// (StopCCN/CDN) and in listings; the objects, and the endpoint's OnLinkDown,
// follow at the end of the outermost Lns call or on a zero-delay timer.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "counters.h"
#include "id_allocator.h"
#include "timer_queue.h"
#include "transport.h"
#include "vpn/config.h"

namespace vpn::l2tp {

class LnsTunnel;
class LnsSession;
struct ControlMessage;

struct LnsOptions {
  // Accept L2TP that did not come through IPsec (config
  // dataplane.require_ipsec = false); refused and counted otherwise.
  bool allow_cleartext = false;
  // Hide every AVP that may be hidden (section 4.3) when a secret is set.
  bool hide_avps = false;
  // A tunnel without SCCCN or a session without ICCN this long is dropped.
  absl::Duration setup_timeout = absl::Seconds(60);
  std::string vendor_name = "vpnconc";
  // Capacity (the daemon: dataplane.max_sessions). Tunnel ids repeat across
  // peers (id_allocator.h), so neither is capped at 65535. 0: no limit.
  size_t max_tunnels = 0;
  size_t max_sessions = 0;
  // Test seams: propose local tunnel / session ids instead of random ones.
  // Ids in use are still skipped, so a constant makes every peer share one
  // tunnel id while (tunnel id, session id) stays unique.
  IdAllocator::Source tunnel_id_source, session_id_source;
};

// Names one of our tunnels for an operator action. Our tunnel id is unique
// per peer address only (several clients may hold the same one), so a bare
// id is accepted only when exactly one peer has it.
struct TunnelRef {
  uint16_t local_id = 0;
  uint32_t peer_ip = 0;    // network order; 0: any peer
  uint16_t peer_port = 0;  // host order; 0: any port
  std::string ToString() const;
};

enum class TunnelState : uint8_t { kWaitCtlConn, kEstablished, kClosing, kDead };
enum class SessionState : uint8_t { kWaitConnect, kEstablished, kDead };
std::string_view TunnelStateName(TunnelState s);
std::string_view SessionStateName(SessionState s);

// What the operator CLI shows (`show vpn-sessiondb`-style, seed 002).
struct SessionView {
  uint16_t local_tunnel_id = 0, local_session_id = 0;
  uint16_t peer_tunnel_id = 0, peer_session_id = 0;
  SessionState state = SessionState::kWaitConnect;
  uint32_t call_serial = 0;
  uint32_t tx_connect_bps = 0;
  bool sequencing = false;
  bool has_endpoint = false;
  absl::Time created, established;
  uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
  uint64_t wan_errors = 0;  // sum of the last WEN's Call Errors counters
};

struct TunnelView {
  uint16_t local_id = 0, peer_id = 0;
  PeerBinding binding;
  // A phase 2 rekey's other SAs, also accepted (kNoSa: none): the one the
  // tunnel was rebound from until it is deleted, and the one whose Quick
  // Mode 3 has not come yet.
  uint32_t previous_sa = kNoSa, pending_sa = kNoSa;
  TunnelState state = TunnelState::kWaitCtlConn;
  std::string peer_hostname, peer_vendor;
  uint16_t peer_window = 4;
  bool authenticated = false;  // challenge/response passed (4.4.3)
  size_t sessions = 0;
  absl::Time created, established, last_rx;
  uint64_t rx_control = 0, tx_control = 0, retransmits = 0;
  uint16_t last_result = 0, last_error = 0;  // from a received StopCCN
};

class Lns {
 public:
  Lns(const config::L2tp& cfg, cp::TimerQueue& timers, Transport& transport,
      PppEndpointFactory factory, LnsOptions options = {});
  ~Lns();
  Lns(const Lns&) = delete;
  Lns& operator=(const Lns&) = delete;

  // A control message (from the L2TP header) that arrived on `b`.
  void OnControlMessage(const PeerBinding& b, std::span<const uint8_t> msg);
  // A data message (from the L2TP header), e.g. punted by the dataplane.
  void OnDataMessage(const PeerBinding& b, std::span<const uint8_t> msg);
  // A PPP frame the dataplane already took out of its L2TP header for local
  // tunnel/session ids; FF03 and protocol compression are undone here.
  void DeliverPppFrame(const PeerBinding& b, uint16_t tunnel_id,
                       uint16_t session_id, std::span<const uint8_t> frame);

  // The inbound SA went away (IKE delete, DPD death, hard lifetime): every
  // tunnel bound to it is torn down without StopCCN (nothing can reach the
  // client any more). A tunnel that was rebound keeps running.
  void OnSaDeleted(uint32_t sa_index);
  // Quick Mode rekey, message 2 sent (RFC 2409 5.5): the initiator may send
  // through `pending_sa` before message 3 completes the pair, so tunnels
  // bound to `current_sa` also accept it; replies stay on `current_sa`
  // (the pending SA has no outbound half yet). RebindSa(current, pending)
  // makes it the binding; OnSaDeleted(pending) (message 3 never came) forgets it.
  void AcceptAlsoOn(uint32_t current_sa, uint32_t pending_sa);
  // Quick Mode rekey: tunnels bound to `old_sa` move to `new_sa`. Until
  // OnSaDeleted(old_sa) both are accepted; replies use the new one.
  void RebindSa(uint32_t old_sa, uint32_t new_sa);

  // Operator reload: retransmission, window and hostname apply to tunnels set
  // up from now on, the hello interval at each tunnel's next hello. The
  // tunnel secret cannot change under running tunnels (their hidden AVPs and
  // challenges use it): FailedPrecondition, and nothing changes.
  absl::Status Reconfigure(const config::L2tp& cfg);

  // Operator actions. StopCCN / CDN with "administrative" results.
  // CloseTunnel: NotFound, or FailedPrecondition naming the peers when the
  // reference matches tunnels of several peers (nothing is closed then).
  absl::Status CloseTunnel(const TunnelRef& ref, std::string_view reason);
  // (tunnel id, session id) is unique in the LNS, so it names one session.
  absl::Status CloseSession(uint16_t tunnel_id, uint16_t session_id,
                            std::string_view reason);
  // StopCCN on every tunnel (daemon shutdown).
  void CloseAll(std::string_view reason);
  // Sends Set-Link-Info (RFC 2661 6.16) with the PPP-negotiated ACCMs.
  absl::Status SetLinkInfo(uint16_t tunnel_id, uint16_t session_id,
                           uint32_t send_accm, uint32_t recv_accm);

  // A session a previous control plane installed in the dataplane keeps its
  // (tunnel id, session id) key there: no new session may get that pair
  // until it is removed (then Release; a no-op for pairs not reserved).
  // AlreadyExists if in use.
  absl::Status ReserveSessionIds(uint16_t tunnel_id, uint16_t session_id);
  void ReleaseSessionIds(uint16_t tunnel_id, uint16_t session_id);

  // Debug and test check of the index by SA (tunnels_by_sa_) against a scan
  // of every tunnel: Internal naming the first difference. O(tunnels).
  absl::Status CheckSaIndex() const;

  std::vector<TunnelView> Tunnels() const;
  std::vector<SessionView> Sessions() const;
  size_t tunnel_count() const;   // not yet closing
  size_t session_count() const;  // not dead
  const Counters& counters() const { return counters_; }
  const IdAllocator& ids() const { return ids_; }

 private:
  friend class LnsTunnel;
  friend class LnsSession;
  // A tunnel's bound, previous and pending SA (LnsTunnel::Sas).
  using TunnelSas = std::array<uint32_t, 3>;
  using PeerKey = std::tuple<uint32_t, uint32_t, uint16_t, uint16_t>;
  // (our tunnel id, peer ip, peer port): unique, ordered by id so that the
  // tunnels sharing an id are one range.
  using TunnelKey = std::tuple<uint16_t, uint32_t, uint16_t>;

  // Entry-point guard: reaps dead objects when the outermost call returns.
  class Guard {
   public:
    explicit Guard(Lns* l) : l_(l) { ++l_->depth_; }
    ~Guard();
   private:
    Lns* l_;
  };

  void HandleNewTunnel(const PeerBinding& b, ControlMessage& m);
  void RefuseSccrq(const PeerBinding& b, uint16_t peer_tunnel_id,
                   uint16_t result, uint16_t error, std::string_view why);
  // The tunnel a message from `b` naming our `id` is for (its peer address;
  // the caller still checks the SA with Accepts).
  LnsTunnel* FindTunnel(const PeerBinding& b, uint16_t id) const;
  LnsTunnel* FindForData(const PeerBinding& b, uint16_t tunnel_id);
  LnsSession* FindSessionByIds(uint16_t tunnel_id, uint16_t session_id) const;
  // Who a tunnel counts against for max_tunnels_per_client: its SA, or
  // without IPsec its address and port.
  static uint64_t ClientKey(const PeerBinding& b);
  size_t ClientTunnels(const PeerBinding& b) const;

  // Called by tunnels and sessions.
  void Unindex(LnsTunnel* t);
  // Moves `t` in tunnels_by_sa_ from the SAs in `before` to its current ones.
  void ReindexSas(LnsTunnel* t, const TunnelSas& before);
  // The tunnels naming `sa` in any role, in tunnels_ order (what a scan of
  // every tunnel visited them in), copied: callers change the index.
  std::vector<LnsTunnel*> TunnelsOnSa(uint32_t sa) const;
  void MoveClient(LnsTunnel* t, uint64_t to);  // 0: no longer counted
  void BuryTunnel(LnsTunnel* t);
  void BurySession(std::unique_ptr<LnsSession> s, std::string reason);
  void RequestReap();
  void Reap();

  config::L2tp cfg_;
  cp::TimerQueue& timers_;
  Transport& transport_;
  PppEndpointFactory factory_;
  LnsOptions options_;
  Counters counters_;

  IdAllocator ids_;  // outlives tunnels_ and sessions (they release ids)
  std::map<TunnelKey, std::unique_ptr<LnsTunnel>> tunnels_;
  std::map<PeerKey, LnsTunnel*> by_peer_;  // (sa, ip, port, peer tunnel id)
  // Open (not closing) tunnels per ClientKey, so the per-client limit costs
  // no scan of every tunnel on each SCCRQ.
  absl::flat_hash_map<uint64_t, uint32_t> client_tunnels_;
  // Every SA some tunnel in tunnels_ accepts (bound, previous or pending)
  // -> those tunnels, so that an SA event costs O(its tunnels) instead of a
  // scan of all of them (at 100k clients one rekey scanned 300k tunnels:
  // docs/perf.md "Session 6"). Kept by ReindexSas from LnsTunnel::SetSas,
  // on creation and in BuryTunnel; CheckSaIndex compares it with a scan.
  absl::flat_hash_map<uint32_t, absl::InlinedVector<LnsTunnel*, 2>> tunnels_by_sa_;
  absl::flat_hash_set<uint32_t> reserved_;  // ReserveSessionIds pairs
  std::vector<std::unique_ptr<LnsTunnel>> dead_tunnels_;
  std::vector<std::pair<std::unique_ptr<LnsSession>, std::string>> dead_sessions_;
  int depth_ = 0;
  bool destroying_ = false;
  cp::TimerQueue::TimerId reap_timer_ = 0;
};

}  // namespace vpn::l2tp

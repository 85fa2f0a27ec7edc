// Local tunnel and session ids of the LNS (RFC 2661 3.1: 16 bits each, 0
// reserved: "Tunnel ID 0 / Session ID 0" address the whole control
// connection or a peer that has no id of ours yet).
//
// Every stock client opens its own tunnel, so a 16-bit tunnel id unique per
// LNS caps the box at 65535 clients. Two rules keep both sides correct with
// more:
//
//  - A tunnel id is unique per peer *scope* (the client's outer address and
//    L2TP port, which never change for a tunnel), not per LNS. The client's
//    control messages carry only our tunnel id (RFC 2661 3.1), so the LNS
//    finds a tunnel by (scope, tunnel id) and then checks the SA; different
//    peers may share an id.
//  - A (tunnel id, session id) pair is unique across the LNS. The dataplane
//    finds a session by that pair in O(1) (dataplane/pipeline/runtime.h
//    SessionKey) and then checks it belongs to the SA the packet came
//    through, so a shared tunnel id never makes two sessions share a key.
//
// Ids are drawn at random (predictable ids help blind injection), so
// allocation is O(1) expected: a few hash lookups; the deterministic scan of
// the 16-bit space only runs when one peer or one tunnel id is nearly full.
// Capacity is bounded by the configured limits, not by 65535.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace vpn::l2tp {

struct IdLimits {
  size_t max_tunnels = 0;   // 0: no limit beyond 65535 ids per peer
  size_t max_sessions = 0;  // 0: no limit beyond 65535 ids per tunnel id
};

class IdAllocator {
 public:
  using Limits = IdLimits;
  // Proposes a candidate id (any value; 0 and ids in use are skipped). Unset:
  // RAND_bytes. Tests force collisions through it.
  using Source = std::function<uint16_t()>;

  explicit IdAllocator(Limits limits = {}, Source tunnel_ids = nullptr,
                       Source session_ids = nullptr);

  // The scope of a peer: its outer address (network order) and L2TP port.
  static uint64_t Scope(uint32_t peer_ip, uint16_t peer_port) {
    return uint64_t(peer_ip) << 16 | peer_port;
  }

  // A tunnel id that no other tunnel of `scope` has. ResourceExhausted when
  // max_tunnels is reached or the peer uses all 65535 ids.
  absl::StatusOr<uint16_t> AllocateTunnel(uint64_t scope);
  void ReleaseTunnel(uint64_t scope, uint16_t tunnel_id);
  bool TunnelInUse(uint64_t scope, uint16_t tunnel_id) const;

  // A session id such that (tunnel_id, session id) is used nowhere in the
  // LNS. ResourceExhausted when max_sessions is reached or all 65535 session
  // ids of that tunnel id are taken (by the tunnels of every peer using it).
  absl::StatusOr<uint16_t> AllocateSession(uint16_t tunnel_id);
  // Takes a given pair, e.g. a session a previous control plane left in the
  // dataplane (still forwarding under that key). AlreadyExists if taken;
  // InvalidArgument for a 0 id. Not bounded by max_sessions: the slot exists.
  absl::Status Reserve(uint16_t tunnel_id, uint16_t session_id);
  void ReleaseSession(uint16_t tunnel_id, uint16_t session_id);
  bool SessionInUse(uint16_t tunnel_id, uint16_t session_id) const;

  void set_limits(Limits l) { limits_ = l; }
  const Limits& limits() const { return limits_; }
  size_t tunnels() const { return tunnels_.size(); }
  size_t sessions() const { return pairs_.size(); }

 private:
  static uint64_t TunnelKey(uint64_t scope, uint16_t tid) { return scope << 16 | tid; }
  static uint32_t PairKey(uint16_t tid, uint16_t sid) { return uint32_t(tid) << 16 | sid; }
  // Random candidates first, then the first free id after a random start.
  template <typename Taken>
  uint16_t Pick(const Source& source, Taken taken) const;
  uint16_t Random16() const;

  Limits limits_;
  Source tunnel_ids_, session_ids_;
  absl::flat_hash_set<uint64_t> tunnels_;              // TunnelKey
  absl::flat_hash_map<uint64_t, uint32_t> per_scope_;  // tunnels per peer
  absl::flat_hash_set<uint32_t> pairs_;                // PairKey
  std::vector<uint32_t> per_tid_;                      // sessions per tunnel id
};

}  // namespace vpn::l2tp

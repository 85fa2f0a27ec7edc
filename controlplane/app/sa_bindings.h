// What of the daemon's state names each inbound ESP SA, indexed by that SA,
// so that a phase 2 SA event (a Quick Mode rekey's message 2 or 3, its
// abort, a DELETE) touches only the client it belongs to. Scanning every
// client per event cost O(N) per rekey and O(N^2) per rekey storm: 185 ms
// per rekey at 100k clients (docs/perf.md, "Session 6").
//
// It owns three mappings and, for each, an index by inbound SA:
//   - the current child SA pair of every client endpoint (public address
//     and port), by which a new Quick Mode is recognised as a rekey;
//   - rebound: an inbound SA replaced by a rekey -> its replacement, for
//     sessions whose tunnel started on the old one;
//   - our dataplane session records' inbound_sa / inbound_sa_alt. Every
//     install, rebind and removal of one of our sessions goes through here
//     (not ShmTables directly), and the index is rebuilt from the record as
//     written, so a failed write cannot leave it stale.
// Check() recomputes all three by a scan and compares (tests, debugging).
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sa_sink.h"
#include "shm_tables.h"

namespace vpn::cp {

class SaBindings {
 public:
  // A client endpoint: public IP (network order), IKE port (host order).
  using Peer = std::pair<uint32_t, uint16_t>;

  explicit SaBindings(ShmTables& tables) : tables_(tables) {}
  SaBindings(const SaBindings&) = delete;
  SaBindings& operator=(const SaBindings&) = delete;

  // --- Client endpoints' current child SA ---
  // nullptr if the endpoint has none.
  const ChildSaHandle* CurrentChild(const Peer& peer) const;
  void SetCurrentChild(const Peer& peer, const ChildSaHandle& h);
  // The pair was deleted: every endpoint whose current pair it is has none.
  void ForgetChild(const ChildSaHandle& h);

  // --- Our dataplane sessions (the daemon's clients' dp_session slots) ---
  absl::StatusOr<uint32_t> InstallSession(const ShmTables::SessionSpec& spec);
  absl::Status RemoveSession(uint32_t session);

  // --- Phase 2 events ---
  // Quick Mode 2 of a rekey: sessions on `current_in` also accept `new_in`
  // (replacing any earlier alternate).
  void AcceptAlsoOn(uint32_t current_in, uint32_t new_in);
  // Quick Mode 3: sessions on `old_in` move to `now`; `old_in` stays
  // accepted until it is forgotten. Remembers old_in -> now.inbound_index.
  void Rebind(uint32_t old_in, const ChildSaHandle& now);
  // The inbound SA is gone (deleted, or its Quick Mode aborted): no session
  // accepts it as an alternate any more, and no rebound entry names it.
  void Forget(uint32_t inbound);
  // `sa` after the rekeys that replaced it since (at most 16 hops).
  uint32_t CurrentInboundSa(uint32_t sa) const;

  // Recomputes every mapping by a scan and compares it with its index:
  // Internal naming the first difference. `sessions`: the dataplane session
  // slots the caller owns (every client's dp_session). O(everything).
  absl::Status Check(std::span<const uint32_t> sessions) const;

 private:
  // The SAs a session is indexed under: its record's inbound and alternate.
  struct SessionSas {
    uint32_t inbound = shm::kInvalidIndex, alt = shm::kInvalidIndex;
    bool operator==(const SessionSas&) const = default;
  };
  absl::Status RebindSession(uint32_t session, uint32_t inbound, uint32_t alt,
                             uint32_t outbound);
  // Moves `session` in sessions_by_sa_ to what its record now says (nothing
  // if it is not active or `drop`).
  void Reindex(uint32_t session, bool drop = false);
  // Sessions naming `sa` as inbound or alternate, in the order of their
  // owner (the client id): the order a scan of the clients visited them.
  std::vector<uint32_t> SessionsOnSa(uint32_t sa) const;
  void SetRebound(uint32_t old_in, uint32_t new_in);
  void EraseRebound(uint32_t old_in);

  template <typename V>
  static void RemoveFrom(absl::flat_hash_map<uint32_t, V>& index, uint32_t key,
                         const typename V::value_type& v);

  ShmTables& tables_;
  absl::flat_hash_map<Peer, ChildSaHandle> child_by_peer_;
  absl::flat_hash_map<uint32_t, absl::InlinedVector<Peer, 1>> peers_by_child_;  // by inbound
  absl::flat_hash_map<uint32_t, uint32_t> rebound_;  // old inbound -> replacement
  absl::flat_hash_map<uint32_t, absl::InlinedVector<uint32_t, 1>> rebound_from_;
  absl::flat_hash_map<uint32_t, SessionSas> session_sas_;  // ours, as indexed
  absl::flat_hash_map<uint32_t, absl::InlinedVector<uint32_t, 2>> sessions_by_sa_;
};

}  // namespace vpn::cp

#include "sa_bindings.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"

namespace vpn::cp {

namespace {

bool Valid(uint32_t sa) { return sa != shm::kInvalidIndex; }

// An index (key -> values) as a scan would build it, for Check: sorted
// values per key, keys in order, so two of them compare with ==.
template <typename V>
using Canonical = std::map<uint32_t, std::vector<V>>;

template <typename V, typename Index>
Canonical<V> CanonicalOf(const Index& index) {
  Canonical<V> out;
  for (const auto& [key, values] : index) {
    std::vector<V>& v = out[key];
    v.assign(values.begin(), values.end());
    std::sort(v.begin(), v.end());
  }
  return out;
}

template <typename V>
absl::Status Compare(const char* what, Canonical<V> want, const Canonical<V>& have) {
  for (auto& [key, v] : want) std::sort(v.begin(), v.end());
  if (want == have) return absl::OkStatus();
  for (const auto& [key, v] : want) {
    auto it = have.find(key);
    if (it == have.end() || it->second != v)
      return absl::InternalError(absl::StrFormat("%s: SA %u names %d entries, its index %d", what,
                                                 key, v.size(),
                                                 it == have.end() ? 0 : it->second.size()));
  }
  for (const auto& [key, v] : have)
    if (!want.contains(key))
      return absl::InternalError(absl::StrFormat("%s: SA %u indexed with %d entries, named by none",
                                                 what, key, v.size()));
  return absl::InternalError(absl::StrFormat("%s: index differs from the scan", what));
}

}  // namespace

template <typename V>
void SaBindings::RemoveFrom(absl::flat_hash_map<uint32_t, V>& index, uint32_t key,
                            const typename V::value_type& v) {
  auto it = index.find(key);
  if (it == index.end()) return;
  it->second.erase(std::remove(it->second.begin(), it->second.end(), v), it->second.end());
  if (it->second.empty()) index.erase(it);
}

// --- Client endpoints ----------------------------------------------------------

const ChildSaHandle* SaBindings::CurrentChild(const Peer& peer) const {
  auto it = child_by_peer_.find(peer);
  return it == child_by_peer_.end() ? nullptr : &it->second;
}

void SaBindings::SetCurrentChild(const Peer& peer, const ChildSaHandle& h) {
  auto [it, inserted] = child_by_peer_.try_emplace(peer, h);
  if (!inserted) {
    if (it->second == h) return;
    RemoveFrom(peers_by_child_, it->second.inbound_index, peer);
    it->second = h;
  }
  peers_by_child_[h.inbound_index].push_back(peer);
}

void SaBindings::ForgetChild(const ChildSaHandle& h) {
  auto it = peers_by_child_.find(h.inbound_index);
  if (it == peers_by_child_.end()) return;
  const absl::InlinedVector<Peer, 1> peers = it->second;  // RemoveFrom changes it
  for (const Peer& p : peers) {
    auto c = child_by_peer_.find(p);
    if (c == child_by_peer_.end() || !(c->second == h)) continue;
    child_by_peer_.erase(c);
    RemoveFrom(peers_by_child_, h.inbound_index, p);
  }
}

// --- Sessions ------------------------------------------------------------------

absl::StatusOr<uint32_t> SaBindings::InstallSession(const ShmTables::SessionSpec& spec) {
  absl::StatusOr<uint32_t> idx = tables_.InstallSession(spec);
  if (idx.ok()) Reindex(*idx);
  return idx;
}

absl::Status SaBindings::RemoveSession(uint32_t session) {
  absl::Status st = tables_.RemoveSession(session);
  // Ours no longer, whatever the table said: the caller forgets it too.
  Reindex(session, /*drop=*/true);
  return st;
}

absl::Status SaBindings::RebindSession(uint32_t session, uint32_t inbound, uint32_t alt,
                                       uint32_t outbound) {
  absl::Status st = tables_.RebindSession(session, inbound, alt, outbound);
  Reindex(session);
  return st;
}

void SaBindings::Reindex(uint32_t session, bool drop) {
  SessionSas before;
  if (auto it = session_sas_.find(session); it != session_sas_.end()) before = it->second;
  SessionSas after;
  if (!drop) {
    // The record as written, whatever its state: what a scan of our
    // sessions' records compared with.
    const shm::SessionRecord& r = tables_.session(session);
    after = {r.inbound_sa, r.inbound_sa_alt};
  }
  auto in = [](const SessionSas& s, uint32_t sa) { return s.inbound == sa || s.alt == sa; };
  for (uint32_t sa : {before.inbound, before.alt})
    if (Valid(sa) && !in(after, sa)) RemoveFrom(sessions_by_sa_, sa, session);
  for (uint32_t sa : {after.inbound, after.alt}) {
    if (!Valid(sa) || in(before, sa)) continue;
    auto& v = sessions_by_sa_[sa];
    if (std::find(v.begin(), v.end(), session) == v.end()) v.push_back(session);
  }
  if (drop) session_sas_.erase(session);
  else session_sas_[session] = after;
}

std::vector<uint32_t> SaBindings::SessionsOnSa(uint32_t sa) const {
  std::vector<uint32_t> out;
  auto it = sessions_by_sa_.find(sa);
  if (it == sessions_by_sa_.end()) return out;
  out.assign(it->second.begin(), it->second.end());
  auto key = [this](uint32_t s) { return std::make_tuple(tables_.session(s).owner_cookie, s); };
  std::sort(out.begin(), out.end(), [&](uint32_t a, uint32_t b) { return key(a) < key(b); });
  return out;
}

// --- Phase 2 events ------------------------------------------------------------

void SaBindings::AcceptAlsoOn(uint32_t current_in, uint32_t new_in) {
  for (uint32_t s : SessionsOnSa(current_in)) {
    const shm::SessionRecord& r = tables_.session(s);
    // The session's previous alternate (the pair before the current one) is
    // no longer used by a client that has begun this rekey.
    if (r.inbound_sa == current_in) (void)RebindSession(s, r.inbound_sa, new_in, r.outbound_sa);
  }
}

void SaBindings::Rebind(uint32_t old_in, const ChildSaHandle& now) {
  SetRebound(old_in, now.inbound_index);
  for (uint32_t s : SessionsOnSa(old_in)) {
    if (tables_.session(s).inbound_sa == old_in)
      (void)RebindSession(s, now.inbound_index, old_in, now.outbound_index);
  }
}

void SaBindings::Forget(uint32_t inbound) {
  for (uint32_t s : SessionsOnSa(inbound)) {
    const shm::SessionRecord& r = tables_.session(s);
    if (r.inbound_sa_alt == inbound)
      (void)RebindSession(s, r.inbound_sa, shm::kInvalidIndex, r.outbound_sa);
  }
  EraseRebound(inbound);
  auto it = rebound_from_.find(inbound);
  if (it == rebound_from_.end()) return;
  const absl::InlinedVector<uint32_t, 1> olds = it->second;  // EraseRebound changes it
  for (uint32_t old_in : olds) EraseRebound(old_in);
}

uint32_t SaBindings::CurrentInboundSa(uint32_t sa) const {
  // Follow phase 2 rekeys that happened since the tunnel was set up.
  for (int hops = 0; hops < 16; ++hops) {
    auto it = rebound_.find(sa);
    if (it == rebound_.end()) break;
    sa = it->second;
  }
  return sa;
}

void SaBindings::SetRebound(uint32_t old_in, uint32_t new_in) {
  auto [it, inserted] = rebound_.try_emplace(old_in, new_in);
  if (!inserted) {
    if (it->second == new_in) return;
    RemoveFrom(rebound_from_, it->second, old_in);
    it->second = new_in;
  }
  rebound_from_[new_in].push_back(old_in);
}

void SaBindings::EraseRebound(uint32_t old_in) {
  auto it = rebound_.find(old_in);
  if (it == rebound_.end()) return;
  RemoveFrom(rebound_from_, it->second, old_in);
  rebound_.erase(it);
}

// --- Check ---------------------------------------------------------------------

absl::Status SaBindings::Check(std::span<const uint32_t> sessions) const {
  Canonical<Peer> peers;
  for (const auto& [peer, h] : child_by_peer_) peers[h.inbound_index].push_back(peer);
  if (absl::Status s = Compare("client endpoints", peers, CanonicalOf<Peer>(peers_by_child_));
      !s.ok())
    return s;

  Canonical<uint32_t> from;
  for (const auto& [old_in, new_in] : rebound_) from[new_in].push_back(old_in);
  if (absl::Status s = Compare("rebound", from, CanonicalOf<uint32_t>(rebound_from_)); !s.ok())
    return s;

  const absl::flat_hash_set<uint32_t> ours(sessions.begin(), sessions.end());
  if (ours.size() != session_sas_.size())
    return absl::InternalError(absl::StrFormat("sessions: %d owned, %d indexed", ours.size(),
                                               session_sas_.size()));
  Canonical<uint32_t> on_sa;
  for (uint32_t s : ours) {
    auto it = session_sas_.find(s);
    if (it == session_sas_.end())
      return absl::InternalError(absl::StrFormat("session %u: owned, not indexed", s));
    const shm::SessionRecord& r = tables_.session(s);
    if (!(it->second == SessionSas{r.inbound_sa, r.inbound_sa_alt}))
      return absl::InternalError(absl::StrFormat(
          "session %u: record on SAs %u/%u, indexed under %u/%u", s, r.inbound_sa,
          r.inbound_sa_alt, it->second.inbound, it->second.alt));
    if (Valid(r.inbound_sa)) on_sa[r.inbound_sa].push_back(s);
    if (Valid(r.inbound_sa_alt) && r.inbound_sa_alt != r.inbound_sa)
      on_sa[r.inbound_sa_alt].push_back(s);
  }
  return Compare("sessions", on_sa, CanonicalOf<uint32_t>(sessions_by_sa_));
}

}  // namespace vpn::cp

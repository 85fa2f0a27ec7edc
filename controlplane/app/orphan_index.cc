#include "orphan_index.h"

#include <algorithm>

#include "vpn/shm_abi.h"

namespace vpn::cp {

namespace {
std::vector<uint32_t> Sorted(const absl::flat_hash_set<uint32_t>& s) {
  std::vector<uint32_t> v(s.begin(), s.end());
  std::sort(v.begin(), v.end());
  return v;
}
bool Valid(uint32_t sa) { return sa != 0 && sa != shm::kInvalidIndex; }
}  // namespace

void OrphanIndex::AddSa(uint32_t sa, uint64_t peer_key) {
  if (sas_.insert(sa).second) sas_by_peer_[peer_key].push_back(sa);
}

OrphanIndex::SessionSas OrphanIndex::KeysOfSession(uint32_t inbound_sa,
                                                    uint32_t inbound_sa_alt) {
  SessionSas k{{0, 0}, 0};
  if (Valid(inbound_sa)) k.sa[k.n++] = inbound_sa;
  if (Valid(inbound_sa_alt) && inbound_sa_alt != inbound_sa) k.sa[k.n++] = inbound_sa_alt;
  return k;
}

void OrphanIndex::AddSession(uint32_t session, uint32_t inbound_sa, uint32_t inbound_sa_alt) {
  if (!sessions_.insert(session).second) return;
  const SessionSas k = KeysOfSession(inbound_sa, inbound_sa_alt);
  for (uint32_t i = 0; i < k.n; ++i) sessions_by_sa_[k.sa[i]].push_back(session);
}

template <class Key>
void OrphanIndex::EraseFrom(absl::flat_hash_map<Key, std::vector<uint32_t>>& m, Key key,
                            uint32_t value) {
  auto it = m.find(key);
  if (it == m.end()) return;
  std::vector<uint32_t>& v = it->second;  // a handful: one client's records
  v.erase(std::remove(v.begin(), v.end(), value), v.end());
  if (v.empty()) m.erase(it);
}

void OrphanIndex::ForgetSa(uint32_t sa, uint64_t peer_key) {
  if (sas_.erase(sa) == 0) return;
  EraseFrom(sas_by_peer_, peer_key, sa);
}

void OrphanIndex::ForgetSession(uint32_t session, uint32_t inbound_sa, uint32_t inbound_sa_alt) {
  if (sessions_.erase(session) == 0) return;
  const SessionSas k = KeysOfSession(inbound_sa, inbound_sa_alt);
  for (uint32_t i = 0; i < k.n; ++i) EraseFrom(sessions_by_sa_, k.sa[i], session);
}

std::vector<uint32_t> OrphanIndex::SasUnder(uint64_t peer_key) const {
  auto it = sas_by_peer_.find(peer_key);
  if (it == sas_by_peer_.end()) return {};
  std::vector<uint32_t> v = it->second;
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<uint32_t> OrphanIndex::SasOfPeer(uint32_t peer_ip, uint16_t port) const {
  std::vector<uint32_t> v = SasUnder(PeerKey(peer_ip, port));
  if (port != 0) {
    const std::vector<uint32_t> raw = SasUnder(PeerKey(peer_ip, 0));
    v.insert(v.end(), raw.begin(), raw.end());
    std::sort(v.begin(), v.end());
  }
  return v;
}

std::vector<uint32_t> OrphanIndex::SessionsOn(std::span<const uint32_t> sas) const {
  std::vector<uint32_t> v;
  for (uint32_t sa : sas) {
    auto it = sessions_by_sa_.find(sa);
    if (it != sessions_by_sa_.end()) v.insert(v.end(), it->second.begin(), it->second.end());
  }
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::vector<uint32_t> OrphanIndex::Sas() const { return Sorted(sas_); }
std::vector<uint32_t> OrphanIndex::Sessions() const { return Sorted(sessions_); }

size_t OrphanIndex::peer_entries() const {
  size_t n = 0;
  for (const auto& [k, v] : sas_by_peer_) n += v.size();
  return n;
}

size_t OrphanIndex::sa_key_entries() const {
  size_t n = 0;
  for (const auto& [k, v] : sessions_by_sa_) n += v.size();
  return n;
}

}  // namespace vpn::cp

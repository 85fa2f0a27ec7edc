#include "runtime.h"

#include "crypto_adapter.h"

#include <algorithm>
#include <cstring>

#include <rte_byteorder.h>

namespace vpn::dp {
namespace {

uint32_t MaskOf(uint8_t len) {
  return len == 0 ? 0 : rte_cpu_to_be_32(~0u << (32 - len));
}

// Everything the crypto context depends on: if none of it changed, the new
// runtime object keeps the old context (and with it the replay window).
// A new generation is a new SA even with the same keys: fresh replay state.
bool SameCrypto(const shm::SaRecord& a, const shm::SaRecord& b) {
  return a.generation == b.generation && a.spi == b.spi && a.dir == b.dir && a.cipher == b.cipher &&
         a.integ == b.integ && a.cipher_key_len == b.cipher_key_len &&
         a.integ_key_len == b.integ_key_len && a.flags == b.flags &&
         a.replay_window == b.replay_window &&
         std::memcmp(a.cipher_key, b.cipher_key, sizeof a.cipher_key) == 0 &&
         std::memcmp(a.salt, b.salt, sizeof a.salt) == 0 &&
         std::memcmp(a.integ_key, b.integ_key, sizeof a.integ_key) == 0;
}

bool SameRecord(const shm::SaRecord& a, const shm::SaRecord& b) {
  return SameCrypto(a, b) && a.encap == b.encap && a.local_ip == b.local_ip &&
         a.peer_ip == b.peer_ip && a.local_port == b.local_port &&
         a.peer_port == b.peer_port && a.soft_bytes == b.soft_bytes &&
         a.hard_bytes == b.hard_bytes && a.soft_packets == b.soft_packets &&
         a.hard_packets == b.hard_packets && a.state == b.state;
}

}  // namespace

Runtime::Runtime(uint32_t max_sas_in, uint32_t max_sessions_in)
    : max_sas(max_sas_in),
      max_sessions(max_sessions_in),
      sa_(MakeArenaArray<std::atomic<SaRuntime*>>(max_sas_in)),
      sess_(MakeArenaArray<std::atomic<SessionRuntime*>>(max_sessions_in)),
      by_id_(new LookupTable(max_sessions_in)),
      by_ip_(new LookupTable(max_sessions_in)) {
  for (uint32_t i = 0; i < max_sas; ++i) sa_[i].store(nullptr);
  for (uint32_t i = 0; i < max_sessions; ++i) sess_[i].store(nullptr);
}

Runtime::~Runtime() {
  for (uint32_t i = 0; i < max_sas; ++i) delete sa_[i].load();
  for (uint32_t i = 0; i < max_sessions; ++i) delete sess_[i].load();
  delete by_id_.load();
  delete by_ip_.load();
}

void BuildStaticTables(const config::Config& cfg, Runtime* rt) {
  rt->routes.clear();
  for (uint32_t p = 0; p < rt->n_ports; ++p) {
    const PortInfo& pi = rt->ports[p];
    RouteEntry r;
    r.netmask = pi.netmask;
    r.prefix = pi.addr & pi.netmask;
    r.len = uint8_t(__builtin_popcount(pi.netmask));
    r.port = uint8_t(p);
    rt->routes.push_back(r);
  }
  for (const config::Route& cr : cfg.routes) {
    RouteEntry r;
    r.len = cr.prefix.len;
    r.netmask = MaskOf(cr.prefix.len);
    r.prefix = rte_cpu_to_be_32(cr.prefix.addr) & r.netmask;
    r.via = rte_cpu_to_be_32(cr.via);
    // The port is named, or the one whose subnet holds the next hop.
    bool found = false;
    for (uint32_t p = 0; p < rt->n_ports && !found; ++p) {
      if (!cr.port.empty() ? cfg.ports[p].name == cr.port
                           : rt->ports[p].InSubnet(r.via)) {
        r.port = uint8_t(p);
        found = true;
      }
    }
    if (found) rt->routes.push_back(r);
  }
  // A default route via each port's gateway, unless configured otherwise.
  for (uint32_t p = 0; p < rt->n_ports; ++p) {
    if (!rt->ports[p].gateway) continue;
    RouteEntry r;
    r.via = rt->ports[p].gateway;
    r.port = uint8_t(p);
    rt->routes.push_back(r);
  }
  std::stable_sort(rt->routes.begin(), rt->routes.end(),
                   [](const RouteEntry& a, const RouteEntry& b) { return a.len > b.len; });
  rt->pools.clear();
  for (const config::Pool& p : cfg.pools) rt->pools.push_back({p.first, p.last});
}

RuntimeWriter::RuntimeWriter(Runtime* rt, GracePeriods* gp, CryptoFactory factory)
    : rt_(rt), gp_(gp), factory_(std::move(factory)), sa_session_(rt->max_sas, shm::kInvalidIndex),
      out_sa_session_(rt->max_sas, shm::kInvalidIndex) {}

RuntimeWriter::~RuntimeWriter() {
  for (Retired& r : retired_) r.free_fn();
}

void RuntimeWriter::Retire(std::function<void()> free_fn) {
  retired_.push_back({gp_->Start(), std::move(free_fn)});
}

size_t RuntimeWriter::Reclaim() {
  size_t kept = 0;
  for (size_t i = 0; i < retired_.size(); ++i) {
    if (gp_->Done(retired_[i].token)) {
      retired_[i].free_fn();
    } else {
      retired_[kept++] = std::move(retired_[i]);
    }
  }
  retired_.resize(kept);
  return kept;
}

bool RuntimeWriter::ApplySa(uint32_t i, const shm::SaRecord& rec) {
  if (i >= rt_->max_sas) return false;
  SaRuntime* old = rt_->sa_[i].load(std::memory_order_relaxed);
  if (rec.state != shm::SlotState::kActive) {
    if (old) {
      rt_->sa_[i].store(nullptr, std::memory_order_release);
      SetOutboundHints(out_sa_session_[i], nullptr);
      Retire([old] { delete old; });
      ++sa_rebuilds_;
    }
    return true;
  }
  if (old && SameRecord(old->snapshot, rec)) return true;
  // An inbound SPI must name its own slot (shm_abi.h MakeSpi).
  if (rec.dir == shm::SaDir::kInbound && shm::SpiIndex(rec.spi) != i) {
    ++rejected_;
    return false;
  }
  auto* sa = new SaRuntime;
  sa->index = i;
  sa->generation = rec.generation;
  sa->spi = rec.spi;
  sa->dir = rec.dir;
  sa->encap = rec.encap;
  sa->local_ip = rec.local_ip;
  sa->peer_ip = rec.peer_ip;
  sa->local_port = rec.local_port;
  sa->peer_port = rec.peer_port;
  sa->soft_bytes = rec.soft_bytes;
  sa->hard_bytes = rec.hard_bytes;
  sa->soft_packets = rec.soft_packets;
  sa->hard_packets = rec.hard_packets;
  // Plain bytes copy: the record's seq is an atomic (no copy assignment).
  std::memcpy(static_cast<void*>(&sa->snapshot), static_cast<const void*>(&rec), sizeof rec);
  sa->snapshot.seq.store(0, std::memory_order_relaxed);
  sa->session_hint.store(sa_session_[i], std::memory_order_relaxed);
  const uint32_t window = rec.replay_window ? rec.replay_window : 0;
  if (old && SameCrypto(old->snapshot, rec)) {
    sa->crypto = old->crypto;
    sa->soft_punted.store(old->soft_punted.load());
    sa->hard_punted.store(old->hard_punted.load());
  } else if (factory_) {
    sa->crypto = factory_(rec, window);
    if (!sa->crypto) {
      delete sa;
      ++rejected_;
      // An SA we cannot run must not keep running with old keys either.
      if (old) {
        rt_->sa_[i].store(nullptr, std::memory_order_release);
        SetOutboundHints(out_sa_session_[i], nullptr);
        Retire([old] { delete old; });
      }
      return false;
    }
  }
  sa->ctx = sa->crypto ? &sa->crypto->ctx : nullptr;
  rt_->sa_[i].store(sa, std::memory_order_release);
  SetOutboundHints(out_sa_session_[i], sa);
  if (old) Retire([old] { delete old; });
  ++sa_rebuilds_;
  return true;
}

// The published session `session`'s outbound hints, if it still sends
// through sa's slot (sa nullptr: the slot emptied).
void RuntimeWriter::SetOutboundHints(uint32_t session, const SaRuntime* sa) {
  if (session >= rt_->max_sessions) return;
  const SessionRuntime* s = rt_->sess_[session].load(std::memory_order_relaxed);
  if (!s || (sa && s->outbound_sa != sa->index)) return;
  s->out_sa_hint.store(sa, std::memory_order_relaxed);
}

void RuntimeWriter::RemoveSession(uint32_t i) {
  SessionRuntime* old = rt_->sess_[i].load(std::memory_order_relaxed);
  if (!old) return;
  LookupTable* by_id = rt_->by_id_.load(std::memory_order_relaxed);
  LookupTable* by_ip = rt_->by_ip_.load(std::memory_order_relaxed);
  uint32_t key = SessionKey(old->local_tunnel_id, old->local_session_id);
  if (by_id->Find(key) == i) by_id->Erase(key);
  if (old->assigned_ip && by_ip->Find(old->assigned_ip) == i)
    by_ip->Erase(old->assigned_ip);
  rt_->sess_[i].store(nullptr, std::memory_order_release);
  if (old->outbound_sa < rt_->max_sas && out_sa_session_[old->outbound_sa] == i)
    out_sa_session_[old->outbound_sa] = shm::kInvalidIndex;
  SetSessionHint(old->inbound_sa, i, shm::kInvalidIndex);
  SetSessionHint(old->inbound_sa_alt, i, shm::kInvalidIndex);
  Retire([old] { delete old; });
}

// sa_session_[sa] = to if it was `from` (kInvalidIndex: whatever it was), and
// the published SaRuntime's copy with it.
void RuntimeWriter::SetSessionHint(uint32_t sa, uint32_t from, uint32_t to) {
  if (sa >= rt_->max_sas) return;
  if (from != shm::kInvalidIndex && sa_session_[sa] != from) return;
  sa_session_[sa] = to;
  if (SaRuntime* r = rt_->sa_[sa].load(std::memory_order_relaxed)) {
    r->session_hint.store(to, std::memory_order_relaxed);
  }
}

bool RuntimeWriter::ApplySession(uint32_t i, const shm::SessionRecord& rec) {
  if (i >= rt_->max_sessions) return false;
  ++session_rebuilds_;
  if (rec.state != shm::SlotState::kActive) {
    RemoveSession(i);
    MaybeRebuildTables();
    return true;
  }
  auto* s = new SessionRuntime;
  s->index = i;
  s->generation = rec.generation;
  s->local_tunnel_id = rec.local_tunnel_id;
  s->local_session_id = rec.local_session_id;
  s->peer_tunnel_id = rec.peer_tunnel_id;
  s->peer_session_id = rec.peer_session_id;
  s->inbound_sa = rec.inbound_sa;
  // The ABI allows 0 for "no rekey in flight" as well as kInvalidIndex.
  s->inbound_sa_alt = rec.inbound_sa_alt == 0 ? shm::kInvalidIndex : rec.inbound_sa_alt;
  s->outbound_sa = rec.outbound_sa;
  s->assigned_ip = rec.assigned_ip;
  s->peer_ip = rec.peer_ip;
  s->peer_port = rec.peer_port;
  s->mru = rec.mru ? rec.mru : 1500;
  s->flags = rec.flags;
  if (s->outbound_sa < rt_->max_sas) {
    const SaRuntime* out = rt_->sa_[s->outbound_sa].load(std::memory_order_relaxed);
    s->out_sa_hint.store(out, std::memory_order_relaxed);
  }
  SessionRuntime* old = rt_->sess_[i].load(std::memory_order_relaxed);
  // Sequencing state carries over updates of the same session only.
  s->ns_next.store(old && old->generation == s->generation ? old->ns_next.load()
                                                           : rec.ns_next);
  LookupTable* by_id = rt_->by_id_.load(std::memory_order_relaxed);
  LookupTable* by_ip = rt_->by_ip_.load(std::memory_order_relaxed);
  // Unhook keys that change, publish, then hook the new keys. Readers
  // re-check the key in the record they reach (Runtime::SessionById), so a
  // stale mapping never yields the wrong session.
  if (old) {
    uint32_t old_key = SessionKey(old->local_tunnel_id, old->local_session_id);
    if (old_key != SessionKey(s->local_tunnel_id, s->local_session_id) &&
        by_id->Find(old_key) == i)
      by_id->Erase(old_key);
    if (old->assigned_ip && old->assigned_ip != s->assigned_ip &&
        by_ip->Find(old->assigned_ip) == i)
      by_ip->Erase(old->assigned_ip);
  }
  rt_->sess_[i].store(s, std::memory_order_release);
  if (old && old->outbound_sa != s->outbound_sa && old->outbound_sa < rt_->max_sas &&
      out_sa_session_[old->outbound_sa] == i) {
    out_sa_session_[old->outbound_sa] = shm::kInvalidIndex;
  }
  if (s->outbound_sa < rt_->max_sas) out_sa_session_[s->outbound_sa] = i;
  if (old) {
    if (old->inbound_sa != s->inbound_sa && old->inbound_sa != s->inbound_sa_alt)
      SetSessionHint(old->inbound_sa, i, shm::kInvalidIndex);
    if (old->inbound_sa_alt != s->inbound_sa && old->inbound_sa_alt != s->inbound_sa_alt)
      SetSessionHint(old->inbound_sa_alt, i, shm::kInvalidIndex);
  }
  SetSessionHint(s->inbound_sa, shm::kInvalidIndex, i);
  SetSessionHint(s->inbound_sa_alt, shm::kInvalidIndex, i);
  if (old) Retire([old] { delete old; });
  by_id->Insert(SessionKey(s->local_tunnel_id, s->local_session_id), i);
  if (s->assigned_ip) by_ip->Insert(s->assigned_ip, i);
  MaybeRebuildTables();
  return true;
}

void RuntimeWriter::MaybeRebuildTables() {
  for (std::atomic<LookupTable*>* slot : {&rt_->by_id_, &rt_->by_ip_}) {
    LookupTable* t = slot->load(std::memory_order_relaxed);
    if (!t->NeedsRebuild()) continue;
    auto* fresh = new LookupTable(rt_->max_sessions);
    t->CopyTo(fresh);
    slot->store(fresh, std::memory_order_release);
    Retire([t] { delete t; });
  }
}

}  // namespace vpn::dp

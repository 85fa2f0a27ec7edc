#include "housekeeping.h"

#include <cstring>

#include <rte_cycles.h>
#include <rte_ring_elem.h>

#include "capture.h"
#include "vpn/log.h"

namespace vpn::dp {

Housekeeping::Housekeeping(DataplaneShared* sh, shm::Segment* seg, RuntimeWriter* writer,
                           GracePeriods* gp, Worker* hk_worker, uint64_t tsc_hz)
    : sh_(sh), seg_(seg), rt_(sh->rt), writer_(writer), gp_(gp), hk_(hk_worker),
      tsc_hz_(tsc_hz) {}

void Housekeeping::ApplySa(uint32_t i) {
  shm::SaRecord rec;
  if (!shm::ReadConsistent(seg_->sa(i), &rec)) {
    pending_.push_back({shm::UpdateTable::kSa, i});
    return;
  }
  if (!writer_->ApplySa(i, rec) && rec.state == shm::SlotState::kActive) {
    VPN_LOG(dataplane, kWarn, "SA %u (spi 0x%08x) refused by the dataplane", i, rec.spi);
  }
}

void Housekeeping::ApplySession(uint32_t i) {
  shm::SessionRecord rec;
  if (!shm::ReadConsistent(seg_->session(i), &rec)) {
    pending_.push_back({shm::UpdateTable::kSession, i});
    return;
  }
  writer_->ApplySession(i, rec);
}

void Housekeeping::FullRescan() {
  const shm::Header& h = seg_->header();
  for (uint32_t i = 0; i < h.max_sas; ++i) ApplySa(i);
  for (uint32_t i = 0; i < h.max_sessions; ++i) ApplySession(i);
}

void Housekeeping::DrainUpdates() {
  shm::RingHeader* r = seg_->update_ring();
  const shm::Header& h = seg_->header();
  for (int n = 0; n < 4096; ++n) {
    uint8_t* slot = shm::RingPeek(r);
    if (!slot) break;
    shm::UpdateNotice u;
    std::memcpy(&u, slot, sizeof u);
    if (u.table == shm::UpdateTable::kSa && u.index < h.max_sas)
      ApplySa(u.index);
    else if (u.table == shm::UpdateTable::kSession && u.index < h.max_sessions)
      ApplySession(u.index);
    // Popped only once applied: a reader that sees the ring's tail pass a
    // notice (tests' settle, the control plane) knows the workers can see it.
    shm::RingPop(r);
  }
  // The control plane sets the flag when it could not queue a notice: the
  // notices are lost, so read everything. Cleared here (exchange) so one
  // overflow costs one rescan.
  if (seg_->header().cp_update_overflow.exchange(0, std::memory_order_acq_rel)) {
    VPN_LOG(dataplane, kWarn, "update ring overflowed: rescanning all records");
    FullRescan();
  }
}

void Housekeeping::RetryPending() {
  if (pending_.empty()) return;
  auto todo = std::move(pending_);
  pending_.clear();
  for (auto& [table, i] : todo) {
    if (table == shm::UpdateTable::kSa)
      ApplySa(i);
    else
      ApplySession(i);
  }
}

bool Housekeeping::UnseenDeletions() {
  // The control plane bumps cp_epoch before it marks the record and queues
  // the notice, so a deletion of epoch E may still be on its way when we
  // read E. Look at the records we still publish: any no longer active is
  // applied now and the grace period starts again.
  bool found = false;
  const shm::Header& h = seg_->header();
  for (uint32_t i = 0; i < h.max_sas; ++i) {
    if (rt_->SaLive(i) && seg_->sa(i).state != shm::SlotState::kActive) {
      ApplySa(i);
      found = true;
    }
  }
  for (uint32_t i = 0; i < h.max_sessions; ++i) {
    if (rt_->SessionLive(i) && seg_->session(i).state != shm::SlotState::kActive) {
      ApplySession(i);
      found = true;
    }
  }
  return found;
}

void Housekeeping::Epoch() {
  shm::Header& h = seg_->header();
  if (!epoch_pending_ || !gp_->Done(epoch_token_)) return;
  if (UnseenDeletions() || !pending_.empty()) {
    epoch_token_ = gp_->Start();
    return;
  }
  h.dp_quiesced_epoch.store(epoch_target_, std::memory_order_release);
  epoch_pending_ = false;
}

void Housekeeping::DrainInjects() {
  shm::RingHeader* r = seg_->inject_ring();
  shm::WorkerCounters* c = hk_->counters();
  for (int n = 0; n < 64; ++n) {
    uint8_t* slot = shm::RingPeek(r);
    if (!slot) break;
    shm::PacketMeta meta;
    std::memcpy(&meta, slot, sizeof meta);
    Reason res = meta.kind == shm::kInjectCaptureControl
                     ? ApplyCaptureRequest(meta, slot + sizeof meta, rt_->n_ports)
                     : hk_->Inject(meta, slot + sizeof meta);
    ++c->reason[static_cast<uint32_t>(res)];
    shm::RingPop(r);
  }
  hk_->Flush();
}

void Housekeeping::Resolve(uint32_t ip, uint8_t port, uint64_t now) {
  NeighEntry* e = rt_->neigh.FindOrCreate(ip, port);
  if (!e || e->state == NeighState::kReachable) return;
  // At most one request per second per address (RFC 1122 2.3.2.1).
  if (e->requests && now - e->requested_tsc < tsc_hz_) return;
  e->requested_tsc = now;
  e->requests++;
  e->port = port;
  hk_->SendArpRequest(port, ip);
}

void Housekeeping::DrainEvents() {
  if (!sh_->hk_events) return;
  const uint32_t held_before = n_held_;
  HkEvent evs[64];
  unsigned n = rte_ring_sc_dequeue_burst_elem(sh_->hk_events, evs, sizeof(HkEvent), 64, nullptr);
  const uint64_t now = rte_rdtsc();
  for (unsigned i = 0; i < n; ++i) {
    const HkEvent& ev = evs[i];
    if (ev.port >= rt_->n_ports) continue;
    if (ev.kind == HkEvent::kLearn) {
      if (NeighEntry* e = rt_->neigh.FindOrCreate(ev.ip, ev.port)) {
        e->port = ev.port;
        rt_->neigh.Learn(e, ev.mac, now);
      }
    } else if (ev.kind == HkEvent::kResolve) {
      Resolve(ev.ip, ev.port, now);
    } else if (ev.kind == HkEvent::kHold) {
      Hold(ev, now);
    }
  }
  ReleaseHeld(now);
  if (n || held_before) hk_->Flush();
}

void Housekeeping::Hold(const HkEvent& ev, uint64_t now) {
  Resolve(ev.ip, ev.port, now);
  uint32_t same = 0;
  for (uint32_t i = 0; i < n_held_; ++i) same += held_[i].ip == ev.ip;
  if (n_held_ == kMaxHeld || same >= kMaxHeldPerAddress) {
    ++hk_->counters()->reason[static_cast<uint32_t>(Reason::k_arp_unresolved)];
    rte_pktmbuf_free(ev.m);
    return;
  }
  held_[n_held_++] = Held{ev.m, ev.ip, ev.port, now};
}

void Housekeeping::ReleaseHeld(uint64_t now) {
  // Sent once the neighbour answers; dropped after 3 s like an unanswered
  // ARP (RFC 1122 2.3.2.1), counted as arp_unresolved.
  uint32_t kept = 0;
  uint8_t mac[6];
  for (uint32_t i = 0; i < n_held_; ++i) {
    Held& h = held_[i];
    if (rt_->neigh.Lookup(h.ip, mac)) {
      hk_->SendVia(h.port, h.ip, h.m);
    } else if (now - h.since > 3 * tsc_hz_) {
      ++hk_->counters()->reason[static_cast<uint32_t>(Reason::k_arp_unresolved)];
      rte_pktmbuf_free(h.m);
    } else {
      held_[kept++] = h;
    }
  }
  n_held_ = kept;
}

void Housekeeping::AgeNeighbours(uint64_t now) {
  // Reachable for 60 s, then probe again; three unanswered probes make the
  // entry incomplete so packets stop going to a vanished host.
  NeighbourTable& t = rt_->neigh;
  for (uint32_t i = 0; i < t.capacity(); ++i) {
    NeighEntry& e = t.at(i);
    if (e.state == NeighState::kReachable && now - e.confirmed_tsc > 60 * tsc_hz_) {
      t.SetState(&e, NeighState::kStale);
      e.requests = 0;
    }
    if (e.state == NeighState::kStale) {
      if (e.requests >= 3 && now - e.requested_tsc > tsc_hz_) {
        t.SetState(&e, NeighState::kIncomplete);
      } else if (!e.requests || now - e.requested_tsc > tsc_hz_) {
        e.requested_tsc = now;
        e.requests++;
        hk_->SendArpRequest(e.port, e.ip);
      }
    }
  }
  hk_->Flush();
}

void Housekeeping::ResolveGateways() {
  const uint64_t now = rte_rdtsc();
  for (uint32_t p = 0; p < rt_->n_ports; ++p)
    if (rt_->ports[p].gateway) Resolve(rt_->ports[p].gateway, uint8_t(p), now);
  for (const RouteEntry& r : rt_->routes)
    if (r.via) Resolve(r.via, r.port, now);
  hk_->Flush();
}

void Housekeeping::RunOnce() {
  shm::Header& h = seg_->header();
  const uint64_t now = rte_rdtsc();
  // Read the epoch before the notices: everything the control plane queued
  // before bumping it is then in the ring we drain now.
  const uint32_t epoch = h.cp_epoch.load(std::memory_order_acquire);
  DrainUpdates();
  RetryPending();
  if (!epoch_pending_ && epoch != h.dp_quiesced_epoch.load(std::memory_order_relaxed) &&
      pending_.empty()) {
    epoch_pending_ = true;
    epoch_target_ = epoch;
    epoch_token_ = gp_->Start();
  }
  Epoch();
  writer_->Reclaim();
  DrainInjects();
  DrainEvents();
  if (now >= next_age_) {
    AgeNeighbours(now);
    next_age_ = now + tsc_hz_;
  }
  ExpireCapture(now);
  if (now >= next_heartbeat_) {
    h.dp_heartbeat.fetch_add(1, std::memory_order_relaxed);
    next_heartbeat_ = now + tsc_hz_;
  }
}

}  // namespace vpn::dp

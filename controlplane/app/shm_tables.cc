#include "shm_tables.h"

#include <sys/random.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "vpn/log.h"

namespace vpn::cp {

// --- SlotAllocator ---------------------------------------------------------

SlotAllocator::SlotAllocator(uint32_t capacity) : capacity_(capacity), used_(capacity, false) {
  free_.reserve(capacity);
  for (uint32_t i = capacity; i-- > 1;) free_.push_back(i);  // pop_back yields 1 first
  if (capacity > 0) used_[0] = true;
}

absl::StatusOr<uint32_t> SlotAllocator::Allocate() {
  // Entries of slots adopted since they were listed are skipped here
  // (MarkUsed leaves them): used_ is the truth, free_ a superset of it.
  while (!free_.empty()) {
    const uint32_t i = free_.back();
    free_.pop_back();
    if (used_[i]) continue;
    used_[i] = true;
    ++in_use_;
    return i;
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("table full (", capacity_, " slots, ", pending_.size(),
                   " awaiting dataplane quiescence)"));
}

void SlotAllocator::FreeAfter(uint32_t index, uint32_t epoch) {
  if (index == 0 || index >= capacity_ || !used_[index]) return;
  pending_.emplace_back(epoch, index);
  --in_use_;
}

void SlotAllocator::MarkUsed(uint32_t index) {
  if (index == 0 || index >= capacity_ || used_[index]) return;
  // Not erased from free_ (that was a scan per adopted record: 100k clients
  // adopted in 7.6 s); Allocate skips it.
  used_[index] = true;
  ++in_use_;
}

std::vector<uint32_t> SlotAllocator::Reclaim(uint32_t quiesced_epoch) {
  std::vector<uint32_t> out;
  // Epochs are handed out in order, so pending_ is sorted by epoch. Compare
  // with wrap-around arithmetic.
  while (!pending_.empty() && int32_t(quiesced_epoch - pending_.front().first) >= 0) {
    uint32_t i = pending_.front().second;
    pending_.pop_front();
    used_[i] = false;
    free_.push_back(i);
    out.push_back(i);
  }
  return out;
}

// --- ShmTables -------------------------------------------------------------

ShmTables::ShmTables(shm::Segment& seg)
    : seg_(seg),
      sa_slots_(seg.header().max_sas),
      session_slots_(seg.header().max_sessions) {}

uint32_t ShmTables::AdoptExisting() {
  const shm::Header& h = seg_.header();
  uint32_t adopted = 0;
  for (uint32_t i = 1; i < h.max_sas; ++i) {
    shm::SlotState st = seg_.sa(i).state;
    if (st == shm::SlotState::kActive) {
      sa_slots_.MarkUsed(i);
      orphans_.AddSa(i, OrphanKey(seg_.sa(i)));
      ++adopted;
    } else if (st == shm::SlotState::kFreePending) {
      sa_slots_.MarkUsed(i);
      sa_slots_.FreeAfter(i, seg_.sa(i).free_epoch);
    }
  }
  for (uint32_t i = 1; i < h.max_sessions; ++i) {
    shm::SlotState st = seg_.session(i).state;
    if (st == shm::SlotState::kActive) {
      session_slots_.MarkUsed(i);
      orphans_.AddSession(i, seg_.session(i).inbound_sa, seg_.session(i).inbound_sa_alt);
      ++adopted;
    } else if (st == shm::SlotState::kFreePending) {
      session_slots_.MarkUsed(i);
      session_slots_.FreeAfter(i, seg_.session(i).free_epoch);
    }
  }
  return adopted;
}

void ShmTables::Notify(shm::UpdateTable t, uint32_t index) {
  if (!shm::RingPushUpdate(seg_.update_ring(), {t, index})) {
    // The dataplane rescans every record when it sees this flag.
    seg_.header().cp_update_overflow.store(1, std::memory_order_release);
  }
}

uint32_t ShmTables::NextEpoch() {
  return seg_.header().cp_epoch.fetch_add(1, std::memory_order_acq_rel) + 1;
}

bool ShmTables::DataplaneAlive() const {
  return seg_.header().dp_pid.load(std::memory_order_relaxed) != 0 &&
         absl::Now() - last_dp_heartbeat_change_ < absl::Seconds(3);
}

uint32_t ShmTables::NextGeneration(uint32_t previous) {
  // Per slot and never 0 (0 means "not tracked" to readers). The record
  // keeps it across control-plane restarts, so it differs from every
  // counter row's generation left by earlier occupants until it wraps
  // (2^32 installs in one slot).
  const uint32_t g = previous + 1;
  return g == 0 ? 1 : g;
}

absl::StatusOr<uint32_t> ShmTables::AllocateInboundSpi() {
  absl::StatusOr<uint32_t> idx = sa_slots_.Allocate();
  if (!idx.ok()) return idx.status();
  uint32_t check = 0;
  while (check == 0) {
    if (getrandom(&check, sizeof check, 0) != sizeof check) check = 0x5A5;
    check &= (1u << (32 - shm::kSpiIndexBits)) - 1;
  }
  return shm::MakeSpi(*idx, check);
}

void ShmTables::ReleaseInboundSpi(uint32_t spi) {
  uint32_t idx = shm::SpiIndex(spi);
  // Never published, so no worker can hold it: reusable at once.
  sa_slots_.FreeAfter(idx, seg_.header().dp_quiesced_epoch.load());
}

namespace {
void FillSa(shm::SaRecord& r, const ChildSaInstall& sa, const EspSaKeys& k, shm::SaDir dir,
            uint32_t paired) {
  r.dir = dir;
  r.cipher = sa.cipher;
  r.integ = sa.integ;
  r.spi = k.spi;
  r.cipher_key_len = static_cast<uint8_t>(k.cipher_key.size());
  r.integ_key_len = static_cast<uint8_t>(k.integ_key.size());
  r.encap = sa.encap;
  r.flags = sa.allow_weak ? shm::kSaFlagAllowWeak : 0;
  r.local_ip = sa.local_ip;
  r.peer_ip = sa.peer_ip;
  r.local_port = sa.local_port;
  r.peer_port = sa.peer_port;
  r.replay_window = dir == shm::SaDir::kInbound ? sa.replay_window : 0;
  r.paired_index = paired;
  r.free_epoch = 0;
  r.owner_cookie = sa.ike_sa_cookie;
  r.hard_bytes = sa.lifetime_kbytes * 1024;
  r.soft_bytes = r.hard_bytes / 10 * 9;  // rekey well before the hard limit
  r.soft_packets = r.hard_packets = 0;
  std::memset(r.cipher_key, 0, sizeof r.cipher_key);
  std::memset(r.integ_key, 0, sizeof r.integ_key);
  std::memset(r.salt, 0, sizeof r.salt);
  // Empty vectors may hand out a null data(): memcpy with null is UB even
  // for zero bytes, so copy only what is there.
  if (!k.cipher_key.empty()) std::memcpy(r.cipher_key, k.cipher_key.data(), k.cipher_key.size());
  if (!k.integ_key.empty()) std::memcpy(r.integ_key, k.integ_key.data(), k.integ_key.size());
  if (!k.salt.empty()) std::memcpy(r.salt, k.salt.data(), std::min<size_t>(k.salt.size(), 4));
}

absl::Status CheckKeys(const ChildSaInstall& sa, const EspSaKeys& k) {
  if (k.cipher_key.size() > 32 || k.integ_key.size() > 64 || k.salt.size() > 4) {
    return absl::InvalidArgumentError("ESP key material larger than the SA record allows");
  }
  if (sa.cipher == shm::Cipher::kAesGcm16 && k.salt.size() != 4) {
    return absl::InvalidArgumentError("AES-GCM SA without a 4-byte salt");
  }
  return absl::OkStatus();
}
}  // namespace

// Writes one SA record under its seqlock, makes it live and tells the
// workers. A new generation in the slot: the dataplane's workers start the
// slot's counters from zero for it (shm_abi.h CountersFor).
void ShmTables::PublishSa(uint32_t idx, const ChildSaInstall& sa, const EspSaKeys& keys,
                          shm::SaDir dir, uint32_t paired) {
  shm::SaRecord& r = seg_.sa(idx);
  const uint32_t gen = NextGeneration(r.generation);
  shm::BeginWrite(r);
  FillSa(r, sa, keys, dir, paired);
  r.generation = gen;
  r.state = shm::SlotState::kActive;
  shm::EndWrite(r);
  Notify(shm::UpdateTable::kSa, idx);
}

absl::StatusOr<ChildSaHandle> ShmTables::Install(const ChildSaInstall& sa) {
  if (absl::Status s = CheckKeys(sa, sa.inbound); !s.ok()) return s;
  if (absl::Status s = CheckKeys(sa, sa.outbound); !s.ok()) return s;
  const uint32_t in_idx = shm::SpiIndex(sa.inbound.spi);
  if (in_idx == 0 || in_idx >= seg_.header().max_sas) {
    return absl::InvalidArgumentError("inbound SPI does not name an SA slot");
  }
  absl::StatusOr<uint32_t> out_idx = sa_slots_.Allocate();
  if (!out_idx.ok()) return out_idx.status();

  // Outbound first, then inbound: the inbound SA going live is what lets the
  // client's traffic in, and by then we can already answer.
  PublishSa(*out_idx, sa, sa.outbound, shm::SaDir::kOutbound, in_idx);
  PublishSa(in_idx, sa, sa.inbound, shm::SaDir::kInbound, *out_idx);
  return ChildSaHandle{in_idx, *out_idx};
}

// The inbound SA goes live alone (Quick Mode message 2 is about to leave):
// the client may send on it at once. paired_index stays invalid until
// CompleteOutbound, so nothing can be sent on its behalf before then.
absl::StatusOr<uint32_t> ShmTables::InstallInbound(const ChildSaInstall& sa) {
  if (absl::Status s = CheckKeys(sa, sa.inbound); !s.ok()) return s;
  const uint32_t in_idx = shm::SpiIndex(sa.inbound.spi);
  if (in_idx == 0 || in_idx >= seg_.header().max_sas) {
    return absl::InvalidArgumentError("inbound SPI does not name an SA slot");
  }
  shm::SaRecord& in = seg_.sa(in_idx);
  if (in.state == shm::SlotState::kActive) {
    return absl::FailedPreconditionError("inbound SA slot already live");
  }
  PublishSa(in_idx, sa, sa.inbound, shm::SaDir::kInbound, shm::kInvalidIndex);
  return in_idx;
}

// Quick Mode message 3: the outbound SA goes live, then the inbound record
// learns its pair (what SendL2tp and new sessions send with).
absl::StatusOr<ChildSaHandle> ShmTables::CompleteOutbound(uint32_t in_idx,
                                                          const ChildSaInstall& sa) {
  if (absl::Status s = CheckKeys(sa, sa.outbound); !s.ok()) return s;
  if (in_idx == 0 || in_idx >= seg_.header().max_sas ||
      seg_.sa(in_idx).state != shm::SlotState::kActive ||
      seg_.sa(in_idx).dir != shm::SaDir::kInbound ||
      seg_.sa(in_idx).paired_index != shm::kInvalidIndex) {
    return absl::FailedPreconditionError("no inbound-only SA in that slot");
  }
  absl::StatusOr<uint32_t> out_idx = sa_slots_.Allocate();
  if (!out_idx.ok()) return out_idx.status();
  PublishSa(*out_idx, sa, sa.outbound, shm::SaDir::kOutbound, in_idx);

  // Same SA, same generation: its counters carry on.
  shm::SaRecord& in = seg_.sa(in_idx);
  shm::BeginWrite(in);
  in.paired_index = *out_idx;
  shm::EndWrite(in);
  Notify(shm::UpdateTable::kSa, in_idx);
  return ChildSaHandle{in_idx, *out_idx};
}

void ShmTables::AbortInbound(uint32_t inbound_index) {
  // Published, so freed like any live SA: after the workers quiesce.
  (void)Remove({inbound_index, shm::kInvalidIndex});
}

absl::Status ShmTables::Remove(const ChildSaHandle& h) {
  const uint32_t epoch = NextEpoch();
  bool any = false;
  for (uint32_t idx : {h.inbound_index, h.outbound_index}) {
    if (idx == 0 || idx >= seg_.header().max_sas) continue;
    shm::SaRecord& r = seg_.sa(idx);
    if (r.state != shm::SlotState::kActive) continue;
    orphans_.ForgetSa(idx, OrphanKey(r));
    shm::BeginWrite(r);
    r.state = shm::SlotState::kFreePending;
    r.free_epoch = epoch;
    // Keys are wiped at once: a deleted SA must not decrypt anything.
    std::memset(r.cipher_key, 0, sizeof r.cipher_key);
    std::memset(r.integ_key, 0, sizeof r.integ_key);
    shm::EndWrite(r);
    Notify(shm::UpdateTable::kSa, idx);
    sa_slots_.FreeAfter(idx, epoch);
    any = true;
  }
  return any ? absl::OkStatus() : absl::NotFoundError("no such active SA");
}

void ShmTables::SetOwner(const ChildSaHandle& h, uint64_t ike_sa_cookie) {
  // owner_cookie is opaque to the dataplane; still written under the
  // record's sequence lock so readers see a consistent record.
  for (uint32_t idx : {h.inbound_index, h.outbound_index}) {
    if (idx == 0 || idx >= seg_.header().max_sas) continue;
    shm::SaRecord& r = seg_.sa(idx);
    if (r.state != shm::SlotState::kActive) continue;
    shm::BeginWrite(r);
    r.owner_cookie = ike_sa_cookie;
    shm::EndWrite(r);
  }
}

absl::StatusOr<uint32_t> ShmTables::InstallSession(const SessionSpec& s) {
  absl::StatusOr<uint32_t> idx = session_slots_.Allocate();
  if (!idx.ok()) return idx.status();
  shm::SessionRecord& r = seg_.session(*idx);
  const uint32_t gen = NextGeneration(r.generation);  // counters restart
  shm::BeginWrite(r);
  r.generation = gen;
  r.flags = s.flags;
  r.mru = s.mru;
  r.local_tunnel_id = s.local_tunnel_id;
  r.local_session_id = s.local_session_id;
  r.peer_tunnel_id = s.peer_tunnel_id;
  r.peer_session_id = s.peer_session_id;
  r.inbound_sa = s.inbound_sa;
  r.outbound_sa = s.outbound_sa;
  r.inbound_sa_alt = shm::kInvalidIndex;
  r.assigned_ip = s.assigned_ip;
  r.peer_ip = s.peer_ip;
  r.peer_port = s.peer_port;
  r.free_epoch = 0;
  r.owner_cookie = s.owner_cookie;
  r.ns_next = 0;
  r.state = shm::SlotState::kActive;
  shm::EndWrite(r);
  Notify(shm::UpdateTable::kSession, *idx);
  return *idx;
}

absl::Status ShmTables::UpdateSessionOutboundSa(uint32_t index, uint32_t outbound_sa) {
  if (index == 0 || index >= seg_.header().max_sessions) return absl::NotFoundError("bad session");
  shm::SessionRecord& r = seg_.session(index);
  if (r.state != shm::SlotState::kActive) return absl::NotFoundError("session not active");
  // One store under the seqlock: the dataplane switches atomically (rekey).
  shm::BeginWrite(r);
  r.outbound_sa = outbound_sa;
  shm::EndWrite(r);
  Notify(shm::UpdateTable::kSession, index);
  return absl::OkStatus();
}

absl::Status ShmTables::RebindSession(uint32_t index, uint32_t inbound, uint32_t alt,
                                      uint32_t outbound) {
  if (index == 0 || index >= seg_.header().max_sessions) return absl::NotFoundError("bad session");
  shm::SessionRecord& r = seg_.session(index);
  if (r.state != shm::SlotState::kActive) return absl::NotFoundError("session not active");
  if (orphans_.IsSession(index)) {  // an adopted session rebound (test: RebindingAnOrphanSession...)
    orphans_.ForgetSession(index, r.inbound_sa, r.inbound_sa_alt);
    orphans_.AddSession(index, inbound, alt);
  }
  shm::BeginWrite(r);
  r.inbound_sa = inbound;
  r.inbound_sa_alt = alt;
  r.outbound_sa = outbound;
  shm::EndWrite(r);
  Notify(shm::UpdateTable::kSession, index);
  return absl::OkStatus();
}

uint64_t ShmTables::OrphanKey(const shm::SaRecord& r) {
  return OrphanIndex::PeerKey(r.peer_ip, r.encap == shm::Encap::kUdp ? r.peer_port : 0);
}

std::vector<uint32_t> ShmTables::OrphanSasOf(uint32_t peer_ip, uint16_t peer_port) const {
  // Behind NAT several clients share the address: the port tells them apart.
  return orphans_.SasOfPeer(peer_ip, peer_port);
}

absl::Status ShmTables::CheckOrphanIndex() const {
  size_t sas = 0, session_keys = 0;
  for (uint32_t i : orphans_.Sas()) {
    const shm::SaRecord& r = seg_.sa(i);
    if (r.state != shm::SlotState::kActive)
      return absl::InternalError(absl::StrCat("orphan SA ", i, " is not active"));
    const std::vector<uint32_t> of_peer = orphans_.SasUnder(OrphanKey(r));
    if (std::find(of_peer.begin(), of_peer.end(), i) == of_peer.end())
      return absl::InternalError(absl::StrCat("orphan SA ", i, " not under its peer address and port"));
    ++sas;
  }
  if (orphans_.peer_entries() != sas)
    return absl::InternalError(absl::StrCat("peer index holds ", orphans_.peer_entries(),
                                            " entries for ", sas, " orphan SAs"));
  for (uint32_t s : orphans_.Sessions()) {
    const shm::SessionRecord& r = seg_.session(s);
    if (r.state != shm::SlotState::kActive)
      return absl::InternalError(absl::StrCat("orphan session ", s, " is not active"));
    const OrphanIndex::SessionSas keys =
        OrphanIndex::KeysOfSession(r.inbound_sa, r.inbound_sa_alt);
    for (uint32_t k = 0; k < keys.n; ++k) {
      const uint32_t sa = keys.sa[k];
      const uint32_t one[] = {sa};
      const std::vector<uint32_t> on = orphans_.SessionsOn(one);
      if (std::find(on.begin(), on.end(), s) == on.end())
        return absl::InternalError(absl::StrCat("orphan session ", s, " not under SA ", sa));
      ++session_keys;
    }
  }
  if (orphans_.sa_key_entries() != session_keys)
    return absl::InternalError(absl::StrCat("SA index holds ", orphans_.sa_key_entries(),
                                            " entries for ", session_keys, " expected"));
  return absl::OkStatus();
}

absl::Status ShmTables::RemoveSession(uint32_t index) {
  if (index == 0 || index >= seg_.header().max_sessions) return absl::NotFoundError("bad session");
  shm::SessionRecord& r = seg_.session(index);
  if (r.state != shm::SlotState::kActive) return absl::NotFoundError("session not active");
  orphans_.ForgetSession(index, r.inbound_sa, r.inbound_sa_alt);
  const uint32_t epoch = NextEpoch();
  shm::BeginWrite(r);
  r.state = shm::SlotState::kFreePending;
  r.free_epoch = epoch;
  shm::EndWrite(r);
  Notify(shm::UpdateTable::kSession, index);
  session_slots_.FreeAfter(index, epoch);
  return absl::OkStatus();
}

bool ShmTables::Poll() {
  shm::Header& h = seg_.header();
  uint64_t hb = h.dp_heartbeat.load(std::memory_order_relaxed);
  if (hb != last_dp_heartbeat_) {
    last_dp_heartbeat_ = hb;
    last_dp_heartbeat_change_ = absl::Now();
  }
  // Without a running dataplane nobody can hold a slot: reclaim everything.
  uint32_t q = DataplaneAlive() ? h.dp_quiesced_epoch.load(std::memory_order_acquire)
                                : h.cp_epoch.load(std::memory_order_relaxed);
  bool did = false;
  for (uint32_t i : sa_slots_.Reclaim(q)) {
    shm::SaRecord& r = seg_.sa(i);
    shm::BeginWrite(r);
    r.state = shm::SlotState::kFree;
    shm::EndWrite(r);
    did = true;
  }
  for (uint32_t i : session_slots_.Reclaim(q)) {
    shm::SessionRecord& r = seg_.session(i);
    shm::BeginWrite(r);
    r.state = shm::SlotState::kFree;
    shm::EndWrite(r);
    did = true;
  }
  return did;
}

shm::SaCounters ShmTables::SumSaCounters(uint32_t index) const {
  return seg_.SumSaCounters(index);
}

shm::SessionCounters ShmTables::SumSessionCounters(uint32_t index) const {
  return seg_.SumSessionCounters(index);
}

}  // namespace vpn::cp

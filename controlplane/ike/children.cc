// ESP SA pairs (children) of an IKE SA: install through the SaSink with
// KEYMAT per RFC 2409 5.5, removal, lifetime/rekey timers, and the move to
// a newer IKE SA of the same peer after a phase 1 rekey (ESP SAs outlive the
// ISAKMP SA that negotiated them in IKEv1, RFC 2409 5.5 / RFC 2408 4.7).
#include <arpa/inet.h>

#include <algorithm>

#include "engine.h"
#include "exchanges.h"
#include "vpn/log.h"

namespace vpn::ike {

cp::ChildSaInstall Engine::ChildInstallOf(const IkeSa& sa, const QuickMode& qm) const {
  const EspSuite& s = qm.suite;
  size_t need = s.cipher_key_len() + s.salt_len() + s.integ_key_len();
  std::optional<ByteSpan> g;
  if (!qm.gxy.empty()) g = ByteSpan(qm.gxy);
  const uint8_t esp = static_cast<uint8_t>(ProtocolId::kEsp);
  auto split = [&](uint32_t spi) {
    Bytes km = Keymat(sa.suite.hash, sa.keys.skeyid_d, g, esp, spi, qm.ni, qm.nr, need);
    cp::EspSaKeys k;
    k.spi = spi;
    // RFC 2409 5.5 / RFC 4106 8.1: encryption key first, then (GCM) salt,
    // then the integrity key.
    auto p = km.begin();
    k.cipher_key.assign(p, p + s.cipher_key_len());
    p += s.cipher_key_len();
    k.salt.assign(p, p + s.salt_len());
    p += s.salt_len();
    k.integ_key.assign(p, p + s.integ_key_len());
    return k;
  };
  const bool udp = qm.udp_encap();
  cp::ChildSaInstall in;
  in.ike_sa_cookie = sa.id();
  in.local_ip = sa.local.ip;
  in.peer_ip = sa.remote.ip;
  in.local_port = udp ? htons(sa.local.port) : 0;
  in.peer_port = udp ? htons(sa.remote.port) : 0;
  in.encap = udp ? shm::Encap::kUdp : shm::Encap::kNone;
  in.cipher = s.shm_cipher();
  in.integ = s.shm_integ(cfg_.sha256_96);
  in.allow_weak = cfg_.allow_weak_esp;
  in.inbound = split(qm.inbound_spi);
  in.outbound = split(qm.outbound_spi);
  in.lifetime_seconds = qm.life.seconds;
  in.lifetime_kbytes = qm.life.kilobytes;
  in.replay_window = ropts_.replay_window;
  return in;
}

ChildSaInfo Engine::ChildInfoOf(const IkeSa& sa, const QuickMode& qm) const {
  ChildSaInfo info;
  info.ike_sa = sa.id();
  info.local = sa.local;
  info.remote = sa.remote;
  info.peer_id = sa.peer_id ? sa.peer_id->ToString() : "";
  info.inbound_spi = qm.inbound_spi;
  info.outbound_spi = qm.outbound_spi;
  info.suite = qm.suite.ToString();
  info.udp_encap = qm.udp_encap();
  info.peer_inner_ip = qm.peer_inner_ip;
  return info;
}

// Initiator, Quick Mode message 2: both directions at once.
bool Engine::InstallChild(IkeSa& sa, QuickMode& qm) {
  auto h = sink_.Install(ChildInstallOf(sa, qm));
  if (!h.ok()) {
    ++counters_.child_sa_install_failed;
    VPN_LOG(ike, kError, "%s: ESP SA install failed: %s", sa.PeerName(),
            std::string(h.status().message()));
    sink_.ReleaseInboundSpi(qm.inbound_spi);
    qm.inbound_spi = 0;
    return false;
  }
  AdoptChild(sa, qm, *h);
  return true;
}

// Responder, before Quick Mode message 2 leaves: the initiator may use the
// SA as soon as it has message 2 (strongSwan and Windows do), so our inbound
// half must already be live.
bool Engine::InstallInboundChild(IkeSa& sa, QuickMode& qm) {
  auto idx = sink_.InstallInbound(ChildInstallOf(sa, qm));
  if (!idx.ok()) {
    ++counters_.child_sa_install_failed;
    VPN_LOG(ike, kError, "%s: inbound ESP SA %08x install failed: %s", sa.PeerName(),
            qm.inbound_spi, std::string(idx.status().message()));
    return false;  // the SPI stays reserved in qm: DropQuickMode releases it
  }
  qm.inbound_index = *idx;
  ++counters_.child_sa_inbound_installed;
  VPN_LOG(ike, kEvent, "%s: inbound ESP SA %08x live (Quick Mode %08x awaits message 3)",
          sa.PeerName(), qm.inbound_spi, qm.message_id);
  events_.OnChildSaInbound(*idx, ChildInfoOf(sa, qm));
  return true;
}

// Responder, Quick Mode message 3: the outbound half goes live and the pair
// becomes a child of the IKE SA.
bool Engine::CompleteChild(IkeSa& sa, QuickMode& qm) {
  if (qm.inbound_index == shm::kInvalidIndex) return false;
  auto h = sink_.CompleteOutbound(qm.inbound_index, ChildInstallOf(sa, qm));
  if (!h.ok()) {
    ++counters_.child_sa_install_failed;
    VPN_LOG(ike, kError, "%s: outbound ESP SA %08x install failed: %s", sa.PeerName(),
            qm.outbound_spi, std::string(h.status().message()));
    DropQuickMode(sa, qm, true, "outbound install failed");
    return false;
  }
  qm.inbound_index = shm::kInvalidIndex;
  AdoptChild(sa, qm, *h);
  return true;
}

void Engine::DropQuickMode(IkeSa& sa, QuickMode& qm, bool notify, const std::string& reason) {
  if (qm.timer) timers_.Cancel(qm.timer);
  if (qm.retransmit_timer) timers_.Cancel(qm.retransmit_timer);
  qm.timer = qm.retransmit_timer = 0;
  if (qm.inbound_index != shm::kInvalidIndex) {
    const uint32_t idx = qm.inbound_index;
    qm.inbound_index = shm::kInvalidIndex;
    sink_.AbortInbound(idx);
    ++counters_.child_sa_inbound_aborted;
    VPN_LOG(ike, kInfo, "%s: inbound ESP SA %08x removed: %s", sa.PeerName(), qm.inbound_spi,
            reason);
    if (notify) events_.OnChildSaAborted(idx);
  } else if (qm.inbound_spi) {
    sink_.ReleaseInboundSpi(qm.inbound_spi);
  }
  qm.inbound_spi = 0;
}

void Engine::AdoptChild(IkeSa& sa, QuickMode& qm, const cp::ChildSaHandle& h) {
  ChildSa c;
  c.handle = h;
  c.inbound_spi = qm.inbound_spi;
  c.outbound_spi = qm.outbound_spi;
  c.suite = qm.suite;
  c.udp_encap = qm.udp_encap();
  c.lifetime_s = qm.life.seconds;
  c.lifetime_kb = qm.life.kilobytes;
  c.installed_at = timers_.Now();
  c.peer_inner_ip = qm.peer_inner_ip;
  ChildSaInfo info = ChildInfoOf(sa, qm);
  qm.inbound_spi = 0;  // ownership moves to the child
  ArmChildTimers(sa, c);
  sa.children.push_back(c);
  ++counters_.child_sa_installed;
  VPN_LOG(ike, kInfo, "%s: ESP SA %s in %08x out %08x%s installed, %ds", sa.PeerName(),
          c.suite.ToString(), c.inbound_spi, c.outbound_spi, c.udp_encap ? " UDP-encap" : "",
          c.lifetime_s);
  events_.OnChildSaInstalled(c.handle, info);
}

void Engine::RemoveChild(IkeSa& sa, uint32_t inbound_spi, bool send_delete,
                         const std::string& reason) {
  auto it = std::find_if(sa.children.begin(), sa.children.end(),
                         [&](const ChildSa& c) { return c.inbound_spi == inbound_spi; });
  if (it == sa.children.end()) return;
  ChildSa c = *it;
  sa.children.erase(it);
  if (c.expiry_timer) timers_.Cancel(c.expiry_timer);
  if (c.rekey_timer) timers_.Cancel(c.rekey_timer);
  if (send_delete && sa.established()) (void)informational_->SendDeleteChild(sa, inbound_spi);
  auto st = sink_.Remove(c.handle);
  if (!st.ok())
    VPN_LOG(ike, kError, "%s: ESP SA %08x remove failed: %s", sa.PeerName(), inbound_spi,
            std::string(st.message()));
  ++counters_.child_sa_deleted;
  VPN_LOG(ike, kInfo, "%s: ESP SA in %08x out %08x removed: %s", sa.PeerName(), c.inbound_spi,
          c.outbound_spi, reason);
  events_.OnChildSaDeleted(c.handle);
}

// Timers are armed on the owning IKE SA (ScheduleOn looks the SA up by id
// when they fire), relative to when the pair was installed, so a child that
// moves to a newer IKE SA keeps its original deadlines.
void Engine::ArmChildTimers(IkeSa& sa, ChildSa& c) {
  if (c.expiry_timer) timers_.Cancel(c.expiry_timer);
  if (c.rekey_timer) timers_.Cancel(c.rekey_timer);
  c.expiry_timer = c.rekey_timer = 0;
  const uint32_t spi = c.inbound_spi;
  const absl::Time now = timers_.Now();
  if (c.lifetime_s) {
    absl::Duration left = c.installed_at + absl::Seconds(c.lifetime_s) - now;
    c.expiry_timer = ScheduleOn(sa, std::max(left, absl::ZeroDuration()), [this, spi](IkeSa& s) {
      ++counters_.child_sa_expired;
      for (auto& ch : s.children)
        if (ch.inbound_spi == spi) ch.expiry_timer = 0;
      RemoveChild(s, spi, true, "lifetime expired");
    });
  }
  if (sa.initiator && opts_.rekey_fraction > 0 && c.lifetime_s && !c.rekey_started) {
    absl::Duration at = absl::Seconds(static_cast<double>(c.lifetime_s) * opts_.rekey_fraction);
    absl::Duration left = c.installed_at + at - now;
    c.rekey_timer = ScheduleOn(sa, std::max(left, absl::ZeroDuration()), [this, spi](IkeSa& s) {
      for (auto& ch : s.children)
        if (ch.inbound_spi == spi) {
          ch.rekey_timer = 0;
          ch.rekey_started = true;
        }
      (void)qm_initiator_->Start(s, spi);
    });
  }
}

// Phase 1 rekey: everything keyed to the old IKE SA's cookies moves to the
// new one, so deleting the old SA (DELETE, expiry, DPD) leaves the client's
// ESP SAs, their lifetimes and rekeys, and its L2TP tunnel alone.
void Engine::MoveChildren(IkeSa& from, IkeSa& to) {
  if (&from == &to || from.children.empty()) return;
  for (ChildSa& c : from.children) {
    if (c.expiry_timer) timers_.Cancel(c.expiry_timer);
    if (c.rekey_timer) timers_.Cancel(c.rekey_timer);
    c.expiry_timer = c.rekey_timer = 0;
    to.children.push_back(c);
    ChildSa& moved = to.children.back();
    ArmChildTimers(to, moved);
    ++counters_.child_sa_moved;
    VPN_LOG(ike, kEvent, "%s: ESP SA in %08x moves from IKE SA %016x to %016x", to.PeerName(),
            moved.inbound_spi, from.id(), to.id());
    sink_.SetOwner(moved.handle, to.id());
    events_.OnChildSaMoved(moved.handle, to.id());
  }
  from.children.clear();
}

std::pair<IkeSa*, ChildSa*> Engine::FindChildForPeerSpi(IkeSa& via, uint32_t spi) {
  auto search = [&](IkeSa& sa, bool outbound) -> ChildSa* {
    for (auto& c : sa.children)
      if ((outbound ? c.outbound_spi : c.inbound_spi) == spi) return &c;
    return nullptr;
  };
  for (bool outbound : {true, false}) {
    if (ChildSa* c = search(via, outbound)) return {&via, c};
    // After a phase 1 rekey the peer may delete through its newest IKE SA.
    for (auto& [id, other] : sas_)
      if (other.get() != &via && other->remote.ip == via.remote.ip &&
          other->IdentityKey() == via.IdentityKey())
        if (ChildSa* c = search(*other, outbound)) return {other.get(), c};
  }
  return {nullptr, nullptr};
}

}  // namespace vpn::ike

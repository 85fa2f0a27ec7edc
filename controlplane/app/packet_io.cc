#include "packet_io.h"

#include <arpa/inet.h>

#include <cstring>

namespace vpn::cp {

int PacketIo::DrainPunts(const std::function<void(const PuntedPacket&)>& handler, int budget) {
  const uint32_t n = std::min(seg_.header().n_workers, shm::kMaxWorkers);
  if (n == 0) return 0;
  int handled = 0;
  uint32_t idle = 0;
  while (handled < budget && idle < n) {
    const uint32_t w = next_worker_++ % n;
    shm::RingHeader* r = seg_.punt_ring(w);
    uint8_t* slot = shm::RingPeek(r);
    if (!slot) {
      ++idle;
      continue;
    }
    idle = 0;
    PuntedPacket p;
    std::memcpy(&p.meta, slot, sizeof p.meta);
    // The dataplane is trusted less than our own memory: bound the length.
    if (p.meta.length > r->slot_size - sizeof(shm::PacketMeta)) {
      ++malformed_punts_;
    } else {
      p.data = std::span<const uint8_t>(slot + sizeof(shm::PacketMeta), p.meta.length);
      handler(p);
    }
    shm::RingPop(r);
    ++handled;
  }
  return handled;
}

bool PacketIo::Inject(const shm::PacketMeta& meta, std::span<const uint8_t> data) {
  if (data.size() > shm::kInjectSlotSize - sizeof(shm::PacketMeta)) {
    ++counters_.too_large;
    return false;
  }
  // Order first: nothing overtakes a packet already waiting.
  if (backlog_.empty() && shm::RingPushPacket(seg_.inject_ring(), meta, data)) {
    ++counters_.sent;
    return true;
  }
  if (backlog_.size() >= kMaxBacklog) {
    ++counters_.backlog_full;
    return false;
  }
  backlog_.push_back(Pending{meta, std::vector<uint8_t>(data.begin(), data.end())});
  ++counters_.deferred;
  return true;
}

size_t PacketIo::FlushBacklog() {
  size_t moved = 0;
  while (!backlog_.empty()) {
    const Pending& p = backlog_.front();
    if (!shm::RingPushPacket(seg_.inject_ring(), p.meta, p.data)) break;
    backlog_.pop_front();
    ++counters_.backlog_sent;
    ++moved;
  }
  return moved;
}

bool PacketIo::InjectUdp(uint32_t local_ip, uint16_t local_port, uint32_t peer_ip,
                         uint16_t peer_port, std::span<const uint8_t> payload) {
  shm::PacketMeta m{};
  m.kind = uint16_t(shm::InjectKind::kUdpRaw);
  m.sa_index = shm::kInvalidIndex;
  m.session_index = shm::kInvalidIndex;
  m.outer_src_ip = local_ip;
  m.outer_dst_ip = peer_ip;
  m.outer_src_port = htons(local_port);
  m.outer_dst_port = htons(peer_port);
  return Inject(m, payload);
}

bool PacketIo::InjectL2tp(uint32_t outbound_sa, uint32_t local_ip, uint32_t peer_ip,
                          uint16_t peer_port, std::span<const uint8_t> msg) {
  shm::PacketMeta m{};
  m.kind = uint16_t(shm::InjectKind::kL2tpViaSa);
  m.sa_index = outbound_sa;
  m.session_index = shm::kInvalidIndex;
  m.outer_src_ip = local_ip;
  m.outer_dst_ip = peer_ip;
  m.inner_src_ip = local_ip;
  m.inner_dst_ip = peer_ip;
  m.inner_src_port = htons(1701);
  m.inner_dst_port = htons(peer_port);
  return Inject(m, msg);
}

bool PacketIo::InjectPpp(uint32_t session, std::span<const uint8_t> frame) {
  shm::PacketMeta m{};
  m.kind = uint16_t(shm::InjectKind::kPppViaSession);
  m.sa_index = shm::kInvalidIndex;
  m.session_index = session;
  return Inject(m, frame);
}

}  // namespace vpn::cp

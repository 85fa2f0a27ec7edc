#include "id_allocator.h"

#include "absl/strings/str_format.h"
#include "avp.h"
#include "wire.h"

namespace vpn::l2tp {
namespace {
constexpr uint32_t kIds = 0xFFFF;  // 1..65535; 0 is reserved (RFC 2661 3.1)
constexpr int kRandomTries = 64;
}  // namespace

IdAllocator::IdAllocator(Limits limits, Source tunnel_ids, Source session_ids)
    : limits_(limits),
      tunnel_ids_(std::move(tunnel_ids)),
      session_ids_(std::move(session_ids)),
      per_tid_(kIds + 1, 0) {}

uint16_t IdAllocator::Random16() const {
  uint8_t r[2];
  RandomBytes(r);
  return Get16(r);
}

template <typename Taken>
uint16_t IdAllocator::Pick(const Source& source, Taken taken) const {
  // The caller checked that a free id exists. The spaces are nearly empty in
  // practice (a peer address has a few tunnels; at 100k clients a tunnel id
  // has ~1.5 sessions), so the first draw almost always succeeds; with half
  // a space taken, 64 failing draws have probability 2^-64. Only a nearly
  // full space falls through to the scan (at most 65535 lookups).
  for (int i = 0; i < kRandomTries; ++i) {
    const uint16_t id = source ? source() : Random16();
    if (id != 0 && !taken(id)) return id;
  }
  const uint32_t start = Random16();
  for (uint32_t n = 0; n < kIds + 1; ++n) {
    const uint16_t id = uint16_t(start + n);
    if (id != 0 && !taken(id)) return id;
  }
  return 0;  // unreachable when a free id exists
}

absl::StatusOr<uint16_t> IdAllocator::AllocateTunnel(uint64_t scope) {
  if (limits_.max_tunnels != 0 && tunnels_.size() >= limits_.max_tunnels) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("tunnel limit reached (%d tunnels, the configured maximum)",
                        limits_.max_tunnels));
  }
  uint32_t& n = per_scope_[scope];
  if (n >= kIds) {
    return absl::ResourceExhaustedError(
        "all 65535 tunnel ids are in use by tunnels to this peer address");
  }
  const uint16_t id =
      Pick(tunnel_ids_, [&](uint16_t t) { return tunnels_.contains(TunnelKey(scope, t)); });
  if (id == 0) return absl::InternalError("no free tunnel id found");
  tunnels_.insert(TunnelKey(scope, id));
  ++n;
  return id;
}

void IdAllocator::ReleaseTunnel(uint64_t scope, uint16_t tunnel_id) {
  if (tunnels_.erase(TunnelKey(scope, tunnel_id)) == 0) return;
  auto it = per_scope_.find(scope);
  if (it != per_scope_.end() && --it->second == 0) per_scope_.erase(it);
}

bool IdAllocator::TunnelInUse(uint64_t scope, uint16_t tunnel_id) const {
  return tunnels_.contains(TunnelKey(scope, tunnel_id));
}

absl::StatusOr<uint16_t> IdAllocator::AllocateSession(uint16_t tunnel_id) {
  if (tunnel_id == 0) return absl::InvalidArgumentError("tunnel id 0 is reserved");
  if (limits_.max_sessions != 0 && pairs_.size() >= limits_.max_sessions) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("session limit reached (%d sessions, the configured maximum)",
                        limits_.max_sessions));
  }
  if (per_tid_[tunnel_id] >= kIds) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "all 65535 session ids of tunnel id %d are in use", tunnel_id));
  }
  const uint16_t id = Pick(session_ids_, [&](uint16_t s) {
    return pairs_.contains(PairKey(tunnel_id, s));
  });
  if (id == 0) return absl::InternalError("no free session id found");
  pairs_.insert(PairKey(tunnel_id, id));
  ++per_tid_[tunnel_id];
  return id;
}

absl::Status IdAllocator::Reserve(uint16_t tunnel_id, uint16_t session_id) {
  if (tunnel_id == 0 || session_id == 0)
    return absl::InvalidArgumentError("ids 0 are reserved");
  if (!pairs_.insert(PairKey(tunnel_id, session_id)).second)
    return absl::AlreadyExistsError(
        absl::StrFormat("tunnel %d session %d is in use", tunnel_id, session_id));
  ++per_tid_[tunnel_id];
  return absl::OkStatus();
}

void IdAllocator::ReleaseSession(uint16_t tunnel_id, uint16_t session_id) {
  if (pairs_.erase(PairKey(tunnel_id, session_id)) != 0) --per_tid_[tunnel_id];
}

bool IdAllocator::SessionInUse(uint16_t tunnel_id, uint16_t session_id) const {
  return pairs_.contains(PairKey(tunnel_id, session_id));
}

}  // namespace vpn::l2tp

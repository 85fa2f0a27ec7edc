#include "address_pool.h"

#include "absl/strings/str_format.h"
#include "packet.h"

namespace vpn::ppp {

absl::StatusOr<std::unique_ptr<AddressPool>> AddressPool::Create(
    std::string name, uint32_t first, uint32_t last) {
  if (last < first)
    return absl::InvalidArgumentError(
        absl::StrFormat("pool %s: %s > %s", name, FormatIp(first), FormatIp(last)));
  if (last - first >= kMaxSize)
    return absl::InvalidArgumentError(
        absl::StrFormat("pool %s: more than %u addresses", name, kMaxSize));
  return std::unique_ptr<AddressPool>(new AddressPool(std::move(name), first, last));
}

AddressPool::AddressPool(std::string name, uint32_t first, uint32_t last)
    : name_(std::move(name)), first_(first), last_(last),
      slots_(size_t(last - first) + 1, kFree) {}

uint32_t AddressPool::available() const {
  return size() - in_use_ - never_ - reserved_static_;
}

void AddressPool::Reserve(uint32_t a, bool static_only) {
  if (!Contains(a)) return;
  Slot& s = slots_[a - first_];
  if (s != kFree) return;
  if (static_only) {
    s = kReservedStatic;
    ++reserved_static_;
  } else {
    s = kNever;
    ++never_;
  }
}

std::optional<uint32_t> AddressPool::Allocate() {
  const uint32_t n = size();
  for (uint32_t k = 0; k < n; ++k) {
    const uint32_t i = (cursor_ + k) % n;
    if (slots_[i] == kFree) {
      slots_[i] = kDynamic;
      ++in_use_;
      cursor_ = (i + 1) % n;
      return first_ + i;
    }
  }
  return std::nullopt;
}

bool AddressPool::AllocateSpecific(uint32_t a) {
  if (!Contains(a)) return false;
  Slot& s = slots_[a - first_];
  if (s == kFree) {
    s = kDynamic;
  } else if (s == kReservedStatic) {
    s = kStatic;
    --reserved_static_;
  } else {
    return false;
  }
  ++in_use_;
  return true;
}

void AddressPool::Release(uint32_t a) {
  if (!Contains(a)) return;
  Slot& s = slots_[a - first_];
  if (s == kDynamic) {
    s = kFree;
  } else if (s == kStatic) {
    s = kReservedStatic;
    ++reserved_static_;
  } else {
    return;
  }
  --in_use_;
}

AddressLease& AddressLease::operator=(AddressLease&& o) noexcept {
  if (this != &o) {
    Release();
    registry_ = o.registry_;
    addr_ = o.addr_;
    o.registry_ = nullptr;
  }
  return *this;
}

void AddressLease::Release() {
  if (registry_) registry_->ReleaseAddress(addr_);
  registry_ = nullptr;
}

UserSlot& UserSlot::operator=(UserSlot&& o) noexcept {
  if (this != &o) {
    Release();
    registry_ = o.registry_;
    user_ = std::move(o.user_);
    o.registry_ = nullptr;
  }
  return *this;
}

void UserSlot::Release() {
  if (registry_) registry_->ReleaseUser(user_);
  registry_ = nullptr;
}

absl::StatusOr<std::unique_ptr<PoolRegistry>> PoolRegistry::Create(
    const config::Config& config) {
  std::unique_ptr<PoolRegistry> r(new PoolRegistry);
  for (const config::Pool& p : config.pools) {
    auto pool = AddressPool::Create(p.name, p.first, p.last);
    if (!pool.ok()) return pool.status();
    for (const auto& [name, other] : r->pools_) {
      if (p.first <= other->last() && other->first() <= p.last)
        return absl::InvalidArgumentError(absl::StrFormat(
            "pools %s and %s overlap", p.name, name));
    }
    if (!r->pools_.emplace(p.name, *std::move(pool)).second)
      return absl::InvalidArgumentError("duplicate pool " + p.name);
  }
  r->local_ip_ = config.ppp.local_ip;
  for (auto& [name, pool] : r->pools_) {
    pool->Reserve(config.ppp.local_ip, /*static_only=*/false);
    for (const config::User& u : config.users)
      if (u.static_ip) pool->Reserve(u.static_ip, /*static_only=*/true);
  }
  return r;
}

absl::Status PoolRegistry::AddPools(const config::Config& config) {
  std::vector<std::unique_ptr<AddressPool>> added;
  for (const config::Pool& p : config.pools) {
    if (auto it = pools_.find(p.name); it != pools_.end()) {
      if (it->second->first() != p.first || it->second->last() != p.last)
        return absl::FailedPreconditionError(absl::StrFormat(
            "pool %s changed its range (only new pools can be added at run time)", p.name));
      continue;
    }
    auto pool = AddressPool::Create(p.name, p.first, p.last);
    if (!pool.ok()) return pool.status();
    for (const auto& [name, other] : pools_)
      if (p.first <= other->last() && other->first() <= p.last)
        return absl::InvalidArgumentError(
            absl::StrFormat("pools %s and %s overlap", p.name, name));
    for (const auto& other : added)
      if (p.first <= other->last() && other->first() <= p.last)
        return absl::InvalidArgumentError(
            absl::StrFormat("pools %s and %s overlap", p.name, other->name()));
    added.push_back(*std::move(pool));
  }
  for (auto& pool : added) {
    std::string name = pool->name();
    pools_.emplace(std::move(name), std::move(pool));
  }
  local_ip_ = config.ppp.local_ip;
  for (auto& [name, pool] : pools_) {
    pool->Reserve(config.ppp.local_ip, /*static_only=*/false);
    for (const config::User& u : config.users)
      if (u.static_ip) pool->Reserve(u.static_ip, /*static_only=*/true);
  }
  return absl::OkStatus();
}

AddressPool* PoolRegistry::PoolFor(uint32_t addr) {
  for (auto& [name, pool] : pools_)
    if (pool->Contains(addr)) return pool.get();
  return nullptr;
}

const AddressPool* PoolRegistry::pool(const std::string& name) const {
  auto it = pools_.find(name);
  return it == pools_.end() ? nullptr : it->second.get();
}

absl::StatusOr<AddressLease> PoolRegistry::AllocateFromPool(
    const std::string& name) {
  auto it = pools_.find(name);
  if (it == pools_.end())
    return absl::NotFoundError("no pool named '" + name + "'");
  auto a = it->second->Allocate();
  if (!a) return absl::ResourceExhaustedError("pool " + name + " exhausted");
  leased_.insert(*a);
  AddressLease lease;
  lease.registry_ = this;
  lease.addr_ = *a;
  return lease;
}

absl::StatusOr<AddressLease> PoolRegistry::AcquireStatic(uint32_t addr) {
  if (addr == 0) return absl::InvalidArgumentError("address 0.0.0.0");
  if (addr == local_ip_)
    return absl::InvalidArgumentError(FormatIp(addr) +
                                      " is our own PPP address (ppp.local_ip)");
  if (leased_.count(addr))
    return absl::AlreadyExistsError(FormatIp(addr) + " already in use");
  if (AddressPool* p = PoolFor(addr)) {
    if (!p->AllocateSpecific(addr))
      return absl::AlreadyExistsError(FormatIp(addr) + " not assignable");
  }
  leased_.insert(addr);
  AddressLease lease;
  lease.registry_ = this;
  lease.addr_ = addr;
  return lease;
}

void PoolRegistry::ReleaseAddress(uint32_t addr) {
  if (!leased_.erase(addr)) return;
  if (AddressPool* p = PoolFor(addr)) p->Release(addr);
}

bool PoolRegistry::InUse(uint32_t addr) const { return leased_.count(addr) > 0; }

absl::StatusOr<UserSlot> PoolRegistry::AcquireUserSlot(const std::string& user,
                                                       uint32_t limit) {
  uint32_t& n = user_sessions_[user];
  if (limit != 0 && n >= limit) {
    if (n == 0) user_sessions_.erase(user);
    return absl::ResourceExhaustedError(absl::StrFormat(
        "user %s already has %u session(s) (limit %u)", user, n, limit));
  }
  ++n;
  UserSlot slot;
  slot.registry_ = this;
  slot.user_ = user;
  return slot;
}

void PoolRegistry::ReleaseUser(const std::string& user) {
  auto it = user_sessions_.find(user);
  if (it == user_sessions_.end()) return;
  if (--it->second == 0) user_sessions_.erase(it);
}

uint32_t PoolRegistry::SessionsOf(const std::string& user) const {
  auto it = user_sessions_.find(user);
  return it == user_sessions_.end() ? 0 : it->second;
}

}  // namespace vpn::ppp

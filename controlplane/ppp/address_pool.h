// Client address pools (seed 004: 192.168.0.1-192.168.0.31) and the other
// per-process resources a PPP session leases: static addresses and per-user
// session slots. Leases are move-only RAII objects, so every path out of a
// session (normal close, auth failure, link loss, destruction) returns them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vpn/config.h"

namespace vpn::ppp {

class AddressPool {
 public:
  // Inclusive host-order range; at most kMaxSize addresses.
  static constexpr uint32_t kMaxSize = 1u << 20;
  static absl::StatusOr<std::unique_ptr<AddressPool>> Create(std::string name,
                                                             uint32_t first,
                                                             uint32_t last);
  bool Contains(uint32_t a) const { return a >= first_ && a <= last_; }
  // Never allocated dynamically: our own PPP address, or a user's static one
  // (`static_only`, still assignable with AllocateSpecific).
  void Reserve(uint32_t a, bool static_only);
  // Next free address after the last one handed out (round robin, so a
  // released address is not immediately reused by another client).
  std::optional<uint32_t> Allocate();
  bool AllocateSpecific(uint32_t a);
  void Release(uint32_t a);

  const std::string& name() const { return name_; }
  uint32_t first() const { return first_; }
  uint32_t last() const { return last_; }
  uint32_t size() const { return last_ - first_ + 1; }
  uint32_t in_use() const { return in_use_; }
  uint32_t available() const;

 private:
  enum Slot : uint8_t { kFree, kDynamic, kReservedStatic, kStatic, kNever };
  AddressPool(std::string name, uint32_t first, uint32_t last);
  std::string name_;
  uint32_t first_, last_;
  std::vector<Slot> slots_;
  uint32_t cursor_ = 0;
  uint32_t in_use_ = 0;
  uint32_t never_ = 0, reserved_static_ = 0;
};

// Session-level counters kept for the operator (`show ppp counters`).
struct PppCounters {
  uint64_t sessions_started = 0;
  uint64_t sessions_up = 0;          // reached IPCP Opened
  uint64_t sessions_ended = 0;
  uint64_t auth_success = 0;
  uint64_t auth_bad_credentials = 0; // wrong password / unknown user
  uint64_t auth_other_failure = 0;   // not authorised, method not allowed
  uint64_t auth_timeout = 0;
  uint64_t too_many_sessions = 0;
  uint64_t pool_exhausted = 0;
  uint64_t static_address_busy = 0;
  uint64_t echo_timeouts = 0;
  uint64_t idle_timeouts = 0;
  uint64_t session_timeouts = 0;
  uint64_t bad_frames = 0;           // malformed or invalid protocol field
  uint64_t protocol_rejects_sent = 0;
  uint64_t discarded_frames = 0;     // valid but not acceptable in this phase
};

class PoolRegistry;

// An address held by one session; released on destruction.
class AddressLease {
 public:
  AddressLease() = default;
  AddressLease(AddressLease&& o) noexcept { *this = std::move(o); }
  AddressLease& operator=(AddressLease&& o) noexcept;
  ~AddressLease() { Release(); }
  void Release();
  bool held() const { return registry_ != nullptr; }
  uint32_t address() const { return addr_; }

 private:
  friend class PoolRegistry;
  PoolRegistry* registry_ = nullptr;
  uint32_t addr_ = 0;
};

// One of a user's concurrent sessions (group max_sessions_per_user).
class UserSlot {
 public:
  UserSlot() = default;
  UserSlot(UserSlot&& o) noexcept { *this = std::move(o); }
  UserSlot& operator=(UserSlot&& o) noexcept;
  ~UserSlot() { Release(); }
  void Release();
  bool held() const { return registry_ != nullptr; }

 private:
  friend class PoolRegistry;
  PoolRegistry* registry_ = nullptr;
  std::string user_;
};

// Every pool of the configuration plus the static-address and per-user
// session bookkeeping. Outlives all sessions. Single-threaded (the control
// plane event loop).
class PoolRegistry {
 public:
  static absl::StatusOr<std::unique_ptr<PoolRegistry>> Create(
      const config::Config& config);

  // Operator reload: adds the pools of `config` whose names are new (leases
  // of existing pools are untouched) and reserves the local address and new
  // users' static addresses. A new pool overlapping any other, or an existing
  // pool whose range changed, is refused and nothing changes.
  absl::Status AddPools(const config::Config& config);

  // A dynamic address from the named pool; ResourceExhausted when full.
  absl::StatusOr<AddressLease> AllocateFromPool(const std::string& pool);
  // A fixed address (per-user static, RADIUS Framed-IP-Address);
  // AlreadyExists when another session holds it, InvalidArgument for 0 and
  // for our own end of the PPP links (ppp.local_ip), which no client may
  // have even outside every pool.
  absl::StatusOr<AddressLease> AcquireStatic(uint32_t addr);
  // ResourceExhausted when `user` already has `limit` sessions (0 = no limit).
  absl::StatusOr<UserSlot> AcquireUserSlot(const std::string& user,
                                           uint32_t limit);

  uint32_t SessionsOf(const std::string& user) const;
  bool InUse(uint32_t addr) const;
  const AddressPool* pool(const std::string& name) const;
  // Addresses leased right now (all pools and static).
  size_t leased() const { return leased_.size(); }
  PppCounters& counters() { return counters_; }

 private:
  friend class AddressLease;
  friend class UserSlot;
  PoolRegistry() = default;
  void ReleaseAddress(uint32_t addr);
  void ReleaseUser(const std::string& user);
  AddressPool* PoolFor(uint32_t addr);

  std::map<std::string, std::unique_ptr<AddressPool>> pools_;
  std::set<uint32_t> leased_;
  uint32_t local_ip_ = 0;  // ppp.local_ip, never leased
  std::map<std::string, uint32_t> user_sessions_;
  PppCounters counters_;
};

}  // namespace vpn::ppp

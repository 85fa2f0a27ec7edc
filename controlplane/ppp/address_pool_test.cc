#include "address_pool.h"

#include <gtest/gtest.h>

#include <set>

namespace vpn::ppp {
namespace {

constexpr uint32_t Ip(int a, int b, int c, int d) {
  return uint32_t(a) << 24 | uint32_t(b) << 16 | uint32_t(c) << 8 | uint32_t(d);
}

config::Config Seed004() {
  config::Config c;
  c.pools.push_back({"lan", Ip(192, 168, 0, 1), Ip(192, 168, 0, 31), 1});
  c.ppp.local_ip = Ip(192, 168, 0, 1);  // inside the pool: never handed out
  config::User u;
  u.name = "fixed";
  u.static_ip = Ip(192, 168, 0, 10);
  c.users.push_back(u);
  return c;
}

TEST(AddressPool, Seed004PoolHandsOutEachAddressOnce) {
  auto reg = PoolRegistry::Create(Seed004());
  ASSERT_TRUE(reg.ok()) << reg.status();
  std::vector<AddressLease> leases;
  std::set<uint32_t> seen;
  while (true) {
    auto l = (*reg)->AllocateFromPool("lan");
    if (!l.ok()) {
      EXPECT_EQ(l.status().code(), absl::StatusCode::kResourceExhausted);
      break;
    }
    EXPECT_TRUE(seen.insert(l->address()).second);
    leases.push_back(*std::move(l));
    ASSERT_LT(leases.size(), 100u);
  }
  // 31 addresses minus our own .1 minus the static .10.
  EXPECT_EQ(leases.size(), 29u);
  EXPECT_FALSE(seen.count(Ip(192, 168, 0, 1)));
  EXPECT_FALSE(seen.count(Ip(192, 168, 0, 10)));
  EXPECT_EQ((*reg)->leased(), 29u);
  // The static address is still assignable, once.
  auto s = (*reg)->AcquireStatic(Ip(192, 168, 0, 10));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*reg)->AcquireStatic(Ip(192, 168, 0, 10)).status().code(),
            absl::StatusCode::kAlreadyExists);
  // Our own address never is.
  EXPECT_FALSE((*reg)->AcquireStatic(Ip(192, 168, 0, 1)).ok());
  // Releasing one makes exactly that one available again.
  const uint32_t back = leases[5].address();
  leases.erase(leases.begin() + 5);
  auto again = (*reg)->AllocateFromPool("lan");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->address(), back);
  leases.clear();
  s->Release();
  again->Release();
  EXPECT_EQ((*reg)->leased(), 0u);
  EXPECT_EQ((*reg)->pool("lan")->in_use(), 0u);
  EXPECT_EQ((*reg)->pool("lan")->available(), 29u);
}

TEST(AddressPool, RoundRobinAndMoveSemantics) {
  auto reg = PoolRegistry::Create(Seed004());
  ASSERT_TRUE(reg.ok());
  auto a = (*reg)->AllocateFromPool("lan");
  ASSERT_TRUE(a.ok());
  const uint32_t first = a->address();
  a->Release();
  auto b = (*reg)->AllocateFromPool("lan");
  ASSERT_TRUE(b.ok());
  EXPECT_NE(b->address(), first);  // not immediately reused
  AddressLease moved = *std::move(b);
  EXPECT_TRUE(moved.held());
  EXPECT_TRUE((*reg)->InUse(moved.address()));
  { AddressLease gone = std::move(moved); }
  EXPECT_EQ((*reg)->leased(), 0u);
}

TEST(AddressPool, StaticOutsidePoolsAndErrors) {
  auto reg = PoolRegistry::Create(Seed004());
  ASSERT_TRUE(reg.ok());
  auto s = (*reg)->AcquireStatic(Ip(100, 64, 0, 5));
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE((*reg)->AcquireStatic(Ip(100, 64, 0, 5)).ok());
  EXPECT_EQ((*reg)->AllocateFromPool("nope").status().code(),
            absl::StatusCode::kNotFound);
  config::Config bad = Seed004();
  bad.pools.push_back({"x", Ip(192, 168, 0, 20), Ip(192, 168, 0, 40), 2});
  EXPECT_FALSE(PoolRegistry::Create(bad).ok());
  bad.pools.back() = {"x", Ip(10, 0, 0, 9), Ip(10, 0, 0, 1), 2};
  EXPECT_FALSE(PoolRegistry::Create(bad).ok());
  bad.pools.back() = {"x", Ip(10, 0, 0, 0), Ip(10, 255, 255, 255), 2};
  EXPECT_FALSE(PoolRegistry::Create(bad).ok());
}

TEST(UserSlots, LimitAndRelease) {
  auto reg = PoolRegistry::Create(Seed004());
  ASSERT_TRUE(reg.ok());
  auto one = (*reg)->AcquireUserSlot("alice", 2);
  auto two = (*reg)->AcquireUserSlot("alice", 2);
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_EQ((*reg)->AcquireUserSlot("alice", 2).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE((*reg)->AcquireUserSlot("bob", 1).ok());  // released at once
  EXPECT_EQ((*reg)->SessionsOf("bob"), 0u);
  one->Release();
  EXPECT_EQ((*reg)->SessionsOf("alice"), 1u);
  EXPECT_TRUE((*reg)->AcquireUserSlot("alice", 2).ok());
  EXPECT_TRUE((*reg)->AcquireUserSlot("alice", 0).ok());  // unlimited
}

}  // namespace
}  // namespace vpn::ppp

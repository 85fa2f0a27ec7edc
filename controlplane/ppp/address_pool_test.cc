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

TEST(AddressPool, NoTwoSessionsOnOneAddress) {
  // Our own address outside every pool is still never a client's.
  config::Config c = Seed004();
  c.ppp.local_ip = Ip(100, 64, 255, 1);
  auto reg = PoolRegistry::Create(c);
  ASSERT_TRUE(reg.ok());
  EXPECT_EQ((*reg)->AcquireStatic(Ip(100, 64, 255, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE((*reg)->AcquireStatic(0).ok());
  // A RADIUS Framed-IP-Address inside the pool that is not reserved: taken
  // out of the pool while held, back in afterwards; the pool cannot hand it
  // out meanwhile and a second fixed request for it is refused.
  auto fixed = (*reg)->AcquireStatic(Ip(192, 168, 0, 2));
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  std::set<uint32_t> dynamic;
  std::vector<AddressLease> leases;
  for (auto l = (*reg)->AllocateFromPool("lan"); l.ok();
       l = (*reg)->AllocateFromPool("lan")) {
    EXPECT_NE(l->address(), Ip(192, 168, 0, 2));
    EXPECT_TRUE(dynamic.insert(l->address()).second);
    leases.push_back(*std::move(l));
    ASSERT_LT(leases.size(), 100u);
  }
  EXPECT_EQ(leases.size(), 29u);  // 31 - .2 (held) - .10 (static of "fixed")
  EXPECT_EQ((*reg)->AcquireStatic(Ip(192, 168, 0, 2)).status().code(),
            absl::StatusCode::kAlreadyExists);
  // A dynamically leased address cannot be taken as a fixed one either.
  EXPECT_EQ((*reg)->AcquireStatic(*dynamic.begin()).status().code(),
            absl::StatusCode::kAlreadyExists);
  fixed->Release();
  auto l = (*reg)->AllocateFromPool("lan");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->address(), Ip(192, 168, 0, 2));
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

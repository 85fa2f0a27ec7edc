// IdAllocator: tunnel ids unique per peer and reusable across peers,
// (tunnel id, session id) unique across the LNS, 0 never handed out
// (RFC 2661 3.1), capacity bounded by the limits and not by 65535.
#include "id_allocator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

namespace vpn::l2tp {
namespace {

uint64_t Peer(uint32_t n) { return IdAllocator::Scope(0x0A000000u + n, 1701); }

TEST(IdAllocatorTest, TunnelIdsAreNeverZeroAndUniquePerPeer) {
  IdAllocator ids;
  std::set<uint16_t> seen;
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<uint16_t> t = ids.AllocateTunnel(Peer(1));
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_NE(*t, 0);
    EXPECT_TRUE(seen.insert(*t).second) << "tunnel id " << *t << " handed out twice";
    EXPECT_TRUE(ids.TunnelInUse(Peer(1), *t));
    EXPECT_FALSE(ids.TunnelInUse(Peer(2), *t));
  }
  EXPECT_EQ(ids.tunnels(), 1000u);
}

TEST(IdAllocatorTest, ForcedCollisionsShareATunnelIdAcrossPeersOnly) {
  // A source that always proposes 7: every peer gets 7, a peer's second
  // tunnel gets another id.
  IdAllocator ids({}, [] { return uint16_t(7); });
  for (uint32_t p = 0; p < 10; ++p) {
    absl::StatusOr<uint16_t> t = ids.AllocateTunnel(Peer(p));
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(*t, 7);
  }
  absl::StatusOr<uint16_t> second = ids.AllocateTunnel(Peer(3));
  ASSERT_TRUE(second.ok());
  EXPECT_NE(*second, 7);
  EXPECT_NE(*second, 0);
  // Releasing one peer's 7 makes it available to that peer again, and the
  // others keep theirs.
  ids.ReleaseTunnel(Peer(3), 7);
  EXPECT_FALSE(ids.TunnelInUse(Peer(3), 7));
  EXPECT_TRUE(ids.TunnelInUse(Peer(4), 7));
  EXPECT_EQ(*ids.AllocateTunnel(Peer(3)), 7);
}

TEST(IdAllocatorTest, SourceProposingZeroStillNeverYieldsZero) {
  IdAllocator ids({}, [] { return uint16_t(0); }, [] { return uint16_t(0); });
  absl::StatusOr<uint16_t> t = ids.AllocateTunnel(Peer(1));
  ASSERT_TRUE(t.ok());
  EXPECT_NE(*t, 0);
  absl::StatusOr<uint16_t> s = ids.AllocateSession(*t);
  ASSERT_TRUE(s.ok());
  EXPECT_NE(*s, 0);
  EXPECT_FALSE(ids.AllocateSession(0).ok());
}

TEST(IdAllocatorTest, SessionPairsAreUniqueAcrossTunnelsSharingAnId) {
  // Every tunnel id and every session id proposed is 7: the pair (7, 7)
  // goes to the first session only; the others on tunnel id 7 differ.
  IdAllocator ids({}, [] { return uint16_t(7); }, [] { return uint16_t(7); });
  std::set<uint32_t> pairs;
  for (uint32_t p = 0; p < 50; ++p) {
    absl::StatusOr<uint16_t> t = ids.AllocateTunnel(Peer(p));
    ASSERT_TRUE(t.ok());
    ASSERT_EQ(*t, 7);
    for (int k = 0; k < 4; ++k) {
      absl::StatusOr<uint16_t> s = ids.AllocateSession(*t);
      ASSERT_TRUE(s.ok()) << s.status();
      EXPECT_NE(*s, 0);
      EXPECT_TRUE(pairs.insert(uint32_t(*t) << 16 | *s).second)
          << "pair " << *t << "/" << *s << " handed out twice";
    }
  }
  EXPECT_TRUE(ids.SessionInUse(7, 7));
  EXPECT_EQ(ids.sessions(), 200u);
  // A released pair can be handed out again.
  ids.ReleaseSession(7, 7);
  EXPECT_FALSE(ids.SessionInUse(7, 7));
  EXPECT_EQ(*ids.AllocateSession(7), 7);
}

TEST(IdAllocatorTest, RandomIdsSpreadOverTheSpace) {
  // Unpredictable ids: 2000 draws are not a run and cover both halves.
  IdAllocator ids;
  int high = 0;
  uint16_t prev = 0;
  int consecutive = 0;
  for (uint32_t p = 0; p < 2000; ++p) {
    uint16_t t = *ids.AllocateTunnel(Peer(p));
    high += t >= 0x8000;
    consecutive += t == uint16_t(prev + 1);
    prev = t;
  }
  EXPECT_GT(high, 800);
  EXPECT_LT(high, 1200);
  EXPECT_LT(consecutive, 10);
}

TEST(IdAllocatorTest, SeventyThousandTunnelsWithOneSessionEach) {
  // More clients than 16-bit tunnel ids: each its own peer, tunnel and
  // session, as stock clients connect. Every (tid, sid) pair is unique.
  IdAllocator ids({.max_tunnels = 200000, .max_sessions = 200000});
  constexpr uint32_t kClients = 70000;
  std::vector<uint32_t> pairs;
  std::vector<uint32_t> per_tid(65536);
  for (uint32_t p = 0; p < kClients; ++p) {
    absl::StatusOr<uint16_t> t = ids.AllocateTunnel(Peer(p));
    ASSERT_TRUE(t.ok()) << "client " << p << ": " << t.status();
    absl::StatusOr<uint16_t> s = ids.AllocateSession(*t);
    ASSERT_TRUE(s.ok()) << "client " << p << ": " << s.status();
    ASSERT_NE(*t, 0);
    ASSERT_NE(*s, 0);
    pairs.push_back(uint32_t(*t) << 16 | *s);
    ++per_tid[*t];
  }
  std::sort(pairs.begin(), pairs.end());
  EXPECT_EQ(std::adjacent_find(pairs.begin(), pairs.end()), pairs.end())
      << "a (tunnel id, session id) pair was handed out twice";
  EXPECT_EQ(ids.tunnels(), kClients);
  EXPECT_EQ(ids.sessions(), kClients);
  // With 70000 tunnels over 65535 ids, some ids are necessarily shared.
  uint32_t shared = 0;
  for (uint32_t n : per_tid) shared += n > 1;
  EXPECT_GT(shared, 0u);
}

TEST(IdAllocatorTest, ConfiguredLimitsGiveClearErrors) {
  IdAllocator ids({.max_tunnels = 3, .max_sessions = 2});
  uint16_t t = 0;
  for (uint32_t p = 0; p < 3; ++p) t = *ids.AllocateTunnel(Peer(p));
  absl::StatusOr<uint16_t> over = ids.AllocateTunnel(Peer(9));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(over.status().message().find("tunnel limit reached (3 tunnels"), std::string::npos)
      << over.status();
  ASSERT_TRUE(ids.AllocateSession(t).ok());
  ASSERT_TRUE(ids.AllocateSession(t).ok());
  absl::StatusOr<uint16_t> s = ids.AllocateSession(t);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.status().message().find("session limit reached (2 sessions"), std::string::npos)
      << s.status();
  // Raised at run time (the LNS follows its configuration).
  ids.set_limits({.max_tunnels = 4, .max_sessions = 3});
  EXPECT_TRUE(ids.AllocateTunnel(Peer(9)).ok());
  EXPECT_TRUE(ids.AllocateSession(t).ok());
}

TEST(IdAllocatorTest, OnePeerExhaustsItsTunnelIdsButOthersDoNot) {
  IdAllocator ids;
  std::set<uint16_t> seen;
  for (uint32_t i = 0; i < 65535; ++i) {
    absl::StatusOr<uint16_t> t = ids.AllocateTunnel(Peer(1));
    ASSERT_TRUE(t.ok()) << "tunnel " << i << ": " << t.status();
    ASSERT_TRUE(seen.insert(*t).second);
  }
  EXPECT_FALSE(seen.contains(0));
  absl::StatusOr<uint16_t> t = ids.AllocateTunnel(Peer(1));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(t.status().message().find("all 65535 tunnel ids are in use"), std::string::npos)
      << t.status();
  EXPECT_TRUE(ids.AllocateTunnel(Peer(2)).ok());  // another peer is not affected
  ids.ReleaseTunnel(Peer(1), 1234);
  EXPECT_EQ(*ids.AllocateTunnel(Peer(1)), 1234);  // the one free id is found
}

TEST(IdAllocatorTest, SessionIdsOfOneTunnelIdExhaust) {
  IdAllocator ids;
  for (uint32_t i = 0; i < 65535; ++i) ASSERT_TRUE(ids.AllocateSession(9).ok()) << i;
  absl::StatusOr<uint16_t> s = ids.AllocateSession(9);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.status().message().find("all 65535 session ids of tunnel id 9 are in use"),
            std::string::npos)
      << s.status();
  EXPECT_TRUE(ids.AllocateSession(10).ok());  // other tunnel ids are not affected
}

TEST(IdAllocatorTest, ReservedPairsAreNeverHandedOut) {
  // Sessions adopted from a previous control plane hold their pair.
  IdAllocator ids({}, nullptr, [] { return uint16_t(5); });
  ASSERT_TRUE(ids.Reserve(7, 5).ok());
  EXPECT_EQ(ids.Reserve(7, 5).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ids.Reserve(0, 5).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ids.Reserve(7, 0).code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<uint16_t> s = ids.AllocateSession(7);
  ASSERT_TRUE(s.ok());
  EXPECT_NE(*s, 5);
  EXPECT_EQ(*ids.AllocateSession(8), 5);  // only that pair is taken
  ids.ReleaseSession(7, 5);
  EXPECT_EQ(*ids.AllocateSession(7), 5);
}

}  // namespace
}  // namespace vpn::l2tp

// Runtime tables: the lock-free lookup map against std::map (random
// operations), a concurrent reader that must never see a wrong mapping, the
// neighbour table, and RuntimeWriter's publish/retire discipline.
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "lookup_table.h"
#include "neighbour.h"
#include "runtime.h"
#include "worker.h"

namespace vpn::dp {
namespace {

// The control plane allocates SA slots in/out alternately: every inbound
// index is odd. Ownership must still spread them over the workers (a plain
// index % 2 would give one worker all inbound traffic).
TEST(SaOwner, SpreadsInterleavedInboundIndicesOverWorkers) {
  for (uint32_t workers : {1u, 2u, 3u, 4u}) {
    std::vector<uint32_t> per(workers);
    for (uint32_t i = 0; i < 10000; ++i) {
      const uint32_t owner = SaOwner(2 * i + 1, workers);
      ASSERT_LT(owner, workers);
      ++per[owner];
    }
    for (uint32_t w = 0; w < workers; ++w) {
      EXPECT_GT(per[w], 10000 / workers * 9 / 10) << workers << " workers, worker " << w;
      EXPECT_LT(per[w], 10000 / workers * 11 / 10) << workers << " workers, worker " << w;
    }
  }
  EXPECT_EQ(SaOwner(12345, 1), 0u);
}

TEST(LookupTable, MatchesStdMapUnderRandomOps) {
  LookupTable t(1000);
  std::map<uint32_t, uint32_t> ref;
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    uint32_t key = rng() % 1500;
    int op = rng() % 3;
    if (op == 0 && ref.size() < 1000) {
      uint32_t v = rng() % 60000;
      ASSERT_TRUE(t.Insert(key, v));
      ref[key] = v;
    } else if (op == 1) {
      EXPECT_EQ(t.Erase(key), ref.erase(key) == 1);
    } else {
      auto it = ref.find(key);
      EXPECT_EQ(t.Find(key), it == ref.end() ? LookupTable::kNotFound : it->second);
    }
    if (t.NeedsRebuild()) {
      LookupTable fresh(1000);
      t.CopyTo(&fresh);
      for (auto& [k, v] : ref) ASSERT_EQ(fresh.Find(k), v);
      ASSERT_EQ(fresh.size(), ref.size());
    }
  }
  EXPECT_EQ(t.size(), ref.size());
}

TEST(LookupTable, FullTableRefusesInsteadOfLooping) {
  LookupTable t(4);  // 16..32 slots
  uint32_t inserted = 0;
  for (uint32_t k = 0; k < 1000; ++k) inserted += t.Insert(k, k);
  EXPECT_LT(inserted, 1000u);
  EXPECT_EQ(t.Find(5000), LookupTable::kNotFound);  // terminates
}

TEST(LookupTable, ConcurrentReaderNeverSeesAWrongValue) {
  LookupTable t(256);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0}, hits{0};
  // Value is always key * 3 + 1 when present.
  std::thread reader([&] {
    uint32_t k = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      uint32_t v = t.Find(k);
      if (v != LookupTable::kNotFound) {
        ++hits;
        if (v != k * 3 + 1) ++bad;
      }
      k = (k + 1) % 300;
    }
  });
  std::mt19937 rng(1);
  for (int i = 0; i < 300000; ++i) {
    uint32_t k = rng() % 300;
    if (rng() & 1) {
      if (t.size() < 250) t.Insert(k, k * 3 + 1);
    } else {
      t.Erase(k);
    }
  }
  stop = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(hits.load(), 0u);
}

TEST(Neighbour, LearnLookupAndIncomplete) {
  NeighbourTable n(64);
  uint8_t mac[6];
  uint32_t ip = htonl(0xC6120002);
  EXPECT_FALSE(n.Lookup(ip, mac));
  NeighEntry* e = n.FindOrCreate(ip, 1);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(n.Lookup(ip, mac));  // incomplete
  const uint8_t m1[6] = {2, 0, 0, 0, 0, 9};
  n.Learn(e, m1, 100);
  ASSERT_TRUE(n.Lookup(ip, mac));
  EXPECT_EQ(0, memcmp(mac, m1, 6));
  EXPECT_EQ(n.FindOrCreate(ip, 1), e);
  // Fill the table: it keeps one slot free so lookups of absent keys end.
  int created = 0;
  for (uint32_t i = 0; i < 200; ++i) created += n.FindOrCreate(htonl(0x0A000000 + i), 0) != nullptr;
  EXPECT_LT(created, 64);
  EXPECT_FALSE(n.Lookup(htonl(0x0B000000), mac));
}

class FakeGrace : public GracePeriods {
 public:
  uint64_t Start() override { return ++started; }
  bool Done(uint64_t token) override { return token <= completed; }
  uint64_t started = 0, completed = 0;
};

void Fill(shm::SessionRecord& r, uint16_t tid, uint16_t sid, uint32_t ip, uint32_t in_sa);
// Session records hold an atomic (not copyable): filled in place.
struct Sess {
  shm::SessionRecord r{};
  Sess(uint16_t tid, uint16_t sid, uint32_t ip, uint32_t in_sa) { Fill(r, tid, sid, ip, in_sa); }
  operator const shm::SessionRecord&() const { return r; }
};
void Fill(shm::SessionRecord& r, uint16_t tid, uint16_t sid, uint32_t ip, uint32_t in_sa) {
  r.state = shm::SlotState::kActive;
  r.local_tunnel_id = tid;
  r.local_session_id = sid;
  r.assigned_ip = htonl(ip);
  r.inbound_sa = in_sa;
  r.outbound_sa = shm::kInvalidIndex;
  r.mru = 1400;
}

TEST(RuntimeWriter, SessionsByIdAndIpWithDeferredFree) {
  Runtime rt(16, 64);
  FakeGrace gp;
  RuntimeWriter w(&rt, &gp, nullptr);
  ASSERT_TRUE(w.ApplySession(3, Sess(10, 20, 0x64400001, 1)));
  const SessionRuntime* s = rt.SessionById(10, 20);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->index, 3u);
  EXPECT_EQ(rt.SessionByIp(htonl(0x64400001)), s);
  EXPECT_EQ(rt.SessionById(10, 21), nullptr);
  // Re-keying the session moves both lookups; the old object waits for a
  // grace period.
  ASSERT_TRUE(w.ApplySession(3, Sess(11, 22, 0x64400002, 1)));
  EXPECT_EQ(rt.SessionById(10, 20), nullptr);
  EXPECT_EQ(rt.SessionByIp(htonl(0x64400001)), nullptr);
  ASSERT_NE(rt.SessionById(11, 22), nullptr);
  EXPECT_EQ(w.Reclaim(), 1u);  // not yet
  gp.completed = gp.started;
  EXPECT_EQ(w.Reclaim(), 0u);
  Sess gone(11, 22, 0x64400002, 1);
  gone.r.state = shm::SlotState::kFreePending;
  ASSERT_TRUE(w.ApplySession(3, gone));
  EXPECT_EQ(rt.SessionById(11, 22), nullptr);
  EXPECT_EQ(rt.SessionByIp(htonl(0x64400002)), nullptr);
  EXPECT_EQ(rt.Session(3), nullptr);
}

TEST(RuntimeWriter, ManyChurnsKeepTablesConsistent) {
  Runtime rt(16, 256);
  FakeGrace gp;
  RuntimeWriter w(&rt, &gp, nullptr);
  std::mt19937 rng(3);
  std::map<uint32_t, std::pair<uint32_t, uint32_t>> live;  // slot -> key, ip
  for (int i = 0; i < 20000; ++i) {
    uint32_t slot = rng() % 256;
    if (rng() % 3) {
      uint16_t tid = uint16_t(1 + slot), sid = uint16_t(rng() % 4 + 1);
      uint32_t ip = 0x64400000 + slot * 4 + sid;
      w.ApplySession(slot, Sess(tid, sid, ip, 0));
      live[slot] = {SessionKey(tid, sid), ip};
    } else {
      shm::SessionRecord r{};
      r.state = shm::SlotState::kFree;
      w.ApplySession(slot, r);
      live.erase(slot);
    }
    gp.completed = gp.started;
    w.Reclaim();
  }
  for (uint32_t slot = 0; slot < 256; ++slot) {
    auto it = live.find(slot);
    if (it == live.end()) {
      EXPECT_EQ(rt.Session(slot), nullptr);
      continue;
    }
    const SessionRuntime* s = rt.SessionById(uint16_t(it->second.first >> 16),
                                             uint16_t(it->second.first));
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->index, slot);
    EXPECT_EQ(rt.SessionByIp(htonl(it->second.second)), s);
  }
}

TEST(RuntimeWriter, InboundSpiMustNameItsSlot) {
  Runtime rt(16, 16);
  FakeGrace gp;
  RuntimeWriter w(&rt, &gp, nullptr);
  shm::SaRecord r{};
  r.state = shm::SlotState::kActive;
  r.dir = shm::SaDir::kInbound;
  r.spi = shm::MakeSpi(5, 0xABC);
  EXPECT_FALSE(w.ApplySa(4, r));
  EXPECT_TRUE(w.ApplySa(5, r));
  EXPECT_NE(rt.InboundSaBySpi(r.spi), nullptr);
  EXPECT_EQ(rt.InboundSaBySpi(shm::MakeSpi(5, 0xABD)), nullptr);  // check part
  r.state = shm::SlotState::kFreePending;
  EXPECT_TRUE(w.ApplySa(5, r));
  EXPECT_EQ(rt.InboundSaBySpi(r.spi), nullptr);
}

// The SA -> session hint (SaRuntime::session_hint) follows the sessions
// whichever record comes first, moves on rekey and is cleared on delete.
TEST(RuntimeWriter, SessionHintFollowsSessionsAndSas) {
  Runtime rt(16, 16);
  FakeGrace gp;
  RuntimeWriter w(&rt, &gp, nullptr);
  auto sa = [](uint32_t slot) {
    auto* r = new shm::SaRecord{};
    r->state = shm::SlotState::kActive;
    r->dir = shm::SaDir::kInbound;
    r->spi = shm::MakeSpi(slot, 0x123);
    return std::unique_ptr<shm::SaRecord>(r);
  };
  auto hint = [&](uint32_t slot) {
    const SaRuntime* r = rt.Sa(slot);
    return r ? r->session_hint.load() : 0xDEADu;
  };
  ASSERT_TRUE(w.ApplySa(5, *sa(5)));
  EXPECT_EQ(hint(5), shm::kInvalidIndex);
  ASSERT_TRUE(w.ApplySession(3, Sess(10, 20, 0x64400001, 5)));
  EXPECT_EQ(hint(5), 3u);
  // Session before SA: the SA published later starts with the hint.
  ASSERT_TRUE(w.ApplySession(4, Sess(11, 21, 0x64400002, 7)));
  ASSERT_TRUE(w.ApplySa(7, *sa(7)));
  EXPECT_EQ(hint(7), 4u);
  // Phase 2 rekey overlap: both SAs carry the session; then the old one
  // goes and only the new one does.
  Sess overlap(10, 20, 0x64400001, 6);
  overlap.r.inbound_sa_alt = 5;
  ASSERT_TRUE(w.ApplySa(6, *sa(6)));
  ASSERT_TRUE(w.ApplySession(3, overlap));
  EXPECT_EQ(hint(5), 3u);
  EXPECT_EQ(hint(6), 3u);
  ASSERT_TRUE(w.ApplySession(3, Sess(10, 20, 0x64400001, 6)));
  EXPECT_EQ(hint(5), shm::kInvalidIndex);
  EXPECT_EQ(hint(6), 3u);
  // A session deleted: its SA's hint is cleared, another session's kept.
  shm::SessionRecord gone{};
  gone.state = shm::SlotState::kFree;
  ASSERT_TRUE(w.ApplySession(3, gone));
  EXPECT_EQ(hint(6), shm::kInvalidIndex);
  EXPECT_EQ(hint(7), 4u);
  // A stale hint never yields a session the SA does not carry: the reader
  // re-checks ids and SessionAcceptsSa (l2tp_input.cc).
  const SessionRuntime* s = rt.Session(hint(7));
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(Runtime::SessionAcceptsSa(s, 7));
}

// A session's outbound hint (SessionRuntime::out_sa_hint) names the
// published record of its outbound SA whichever comes first, follows the
// SA's republication (a NAT rebinding) and the session's move to another
// SA (rekey), and is cleared when the SA goes.
TEST(RuntimeWriter, OutboundHintsFollowTheSessionsSa) {
  Runtime rt(16, 16);
  FakeGrace gp;
  RuntimeWriter w(&rt, &gp, nullptr);
  auto out_sa = [](uint16_t peer_port) {
    auto r = std::make_unique<shm::SaRecord>();
    r->state = shm::SlotState::kActive;
    r->dir = shm::SaDir::kOutbound;
    r->spi = 0x1000;
    r->peer_port = peer_port;
    return r;
  };
  auto sess = [](uint32_t out) {
    auto s = std::make_unique<Sess>(10, 20, 0x64400001, shm::kInvalidIndex);
    s->r.outbound_sa = out;
    return s;
  };
  auto hint = [&]() {
    const SessionRuntime* s = rt.Session(3);
    return s ? s->out_sa_hint.load() : nullptr;
  };
  // Session first, SA later: the SA's publication fills the hint.
  ASSERT_TRUE(w.ApplySession(3, *sess(8)));
  EXPECT_EQ(hint(), nullptr);
  ASSERT_TRUE(w.ApplySa(8, *out_sa(4500)));
  EXPECT_EQ(hint(), rt.Sa(8));
  // The SA republished (peer port changed): the hint follows.
  const SaRuntime* before = rt.Sa(8);
  ASSERT_TRUE(w.ApplySa(8, *out_sa(4501)));
  ASSERT_NE(rt.Sa(8), before);
  EXPECT_EQ(hint(), rt.Sa(8));
  // Rekey: the session moves to SA 9 (published first); SA 8's later
  // republication or removal no longer touches the session.
  ASSERT_TRUE(w.ApplySa(9, *out_sa(4501)));
  ASSERT_TRUE(w.ApplySession(3, *sess(9)));
  EXPECT_EQ(hint(), rt.Sa(9));
  ASSERT_TRUE(w.ApplySa(8, *out_sa(4502)));
  EXPECT_EQ(hint(), rt.Sa(9));
  shm::SaRecord gone{};
  gone.state = shm::SlotState::kFree;
  ASSERT_TRUE(w.ApplySa(8, gone));
  EXPECT_EQ(hint(), rt.Sa(9));
  // The session's own SA goes: cleared.
  ASSERT_TRUE(w.ApplySa(9, gone));
  EXPECT_EQ(hint(), nullptr);
}

// Runtime objects come from the huge-page arena: 64-byte aligned, distinct,
// reused after free.
TEST(HugeArena, AlignedDistinctAndReused) {
  const std::size_t before = HugeArenaBytesInUse();
  std::vector<SessionRuntime*> v;
  for (int i = 0; i < 1000; ++i) {
    v.push_back(new SessionRuntime);
    v.back()->index = uint32_t(i);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(v.back()) % 64, 0u);
  }
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(v[i]->index, uint32_t(i));
  std::vector<SessionRuntime*> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
  EXPECT_GE(HugeArenaBytesInUse(), before + 1000 * sizeof(SessionRuntime));
  SessionRuntime* last = v.back();
  delete last;
  v.pop_back();
  auto* again = new SessionRuntime;
  EXPECT_EQ(again, last);  // the free list hands the block back
  delete again;
  for (SessionRuntime* s : v) delete s;
  EXPECT_EQ(HugeArenaBytesInUse(), before);
  auto* sa = new SaRuntime;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(sa) % 64, 0u);
  delete sa;
}

// Issue 3: 100k concurrent sessions. 131071 sessions (slot 0 is never
// used) with one inbound SA each, installed through the writer as the
// housekeeping lcore would, then every one found by (tunnel, session), by
// pool address and by SPI. L2TP tunnel ids are 16-bit, so beyond 65535
// sessions the pairs share tunnel ids (several sessions per tunnel id).
long RssKiB() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, rss = 0;
  if (f) {
    if (std::fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    std::fclose(f);
  }
  return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

TEST(RuntimeWriter, Installs131071SessionsAndFindsEachInO1) {
  constexpr uint32_t kSessions = 131072, kSas = 262144;
  const long rss0 = RssKiB();
  Runtime rt(kSas, kSessions);
  FakeGrace gp;
  RuntimeWriter w(&rt, &gp, nullptr);
  auto tid_of = [](uint32_t i) { return uint16_t(i % 65535 + 1); };
  auto sid_of = [](uint32_t i) { return uint16_t(i / 65535 + 1); };
  auto ip_of = [](uint32_t i) { return 0x64400000u + i; };  // 100.64.0.0/10
  auto spi_of = [](uint32_t i) { return shm::MakeSpi(2 * i, 0x100 + (i & 0xFFF)); };
  const auto t0 = std::chrono::steady_clock::now();
  for (uint32_t i = 1; i < kSessions; ++i) {
    shm::SaRecord sa{};
    sa.state = shm::SlotState::kActive;
    sa.dir = shm::SaDir::kInbound;
    sa.spi = spi_of(i);
    ASSERT_TRUE(w.ApplySa(2 * i, sa)) << i;
    ASSERT_TRUE(w.ApplySession(i, Sess(tid_of(i), sid_of(i), ip_of(i), 2 * i))) << i;
  }
  const auto t1 = std::chrono::steady_clock::now();
  // Random order, so the tables' caches do not flatter the figure.
  std::vector<uint32_t> order(kSessions - 1);
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i + 1;
  std::shuffle(order.begin(), order.end(), std::mt19937(5));
  uint32_t found = 0;
  for (uint32_t i : order) {
    const SessionRuntime* s = rt.SessionById(tid_of(i), sid_of(i));
    ASSERT_NE(s, nullptr) << i;
    ASSERT_EQ(s->index, i);
    ASSERT_EQ(rt.SessionByIp(htonl(ip_of(i))), s);
    const SaRuntime* sa = rt.InboundSaBySpi(spi_of(i));
    ASSERT_NE(sa, nullptr);
    ASSERT_TRUE(Runtime::SessionAcceptsSa(s, sa->index));
    ++found;
  }
  const auto t2 = std::chrono::steady_clock::now();
  EXPECT_EQ(found, kSessions - 1);
  // Absent keys end their probe (one empty slot at least).
  EXPECT_EQ(rt.SessionByIp(htonl(0x64400000u + kSessions + 5)), nullptr);
  EXPECT_EQ(rt.SessionById(0, 0), nullptr);
  const double ins_us = std::chrono::duration<double, std::micro>(t1 - t0).count();
  const double look_ns = std::chrono::duration<double, std::nano>(t2 - t1).count();
  std::printf("131071 sessions + SAs: install %.2f us each, lookup (id + ip + spi) %.0f ns "
              "each, RSS +%ld MiB\n",
              ins_us / (kSessions - 1), look_ns / (kSessions - 1), (RssKiB() - rss0) / 1024);
}

}  // namespace
}  // namespace vpn::dp

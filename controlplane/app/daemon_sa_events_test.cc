// The daemon's phase 2 SA events (OnChildSaInbound / Installed / Aborted /
// Deleted) on a real Daemon with clients brought up through the LNS
// (daemon_test_rig.h). The events find sessions and tunnels through indexes
// by SA (SaBindings, Lns::tunnels_by_sa_); after every step the tests check
// the indexes against scans (Daemon::CheckSaIndexes) and the dataplane
// session records and tunnels against what the scanning code produced.
#include <map>
#include <optional>
#include <random>

#include "daemon_rig_test.h"

namespace vpn::cp {
namespace {

constexpr uint32_t kNone = shm::kInvalidIndex;

struct Sas {
  uint32_t in, alt, out;
  bool operator==(const Sas&) const = default;
};
std::ostream& operator<<(std::ostream& o, const Sas& s) {
  return o << "{in " << s.in << " alt " << s.alt << " out " << s.out << "}";
}
struct TunnelSas {
  uint32_t bound, previous, pending;
  bool operator==(const TunnelSas&) const = default;
};
std::ostream& operator<<(std::ostream& o, const TunnelSas& s) {
  return o << "{bound " << s.bound << " previous " << s.previous << " pending " << s.pending
           << "}";
}

class DaemonSaEventsTest : public DaemonRigTest {
 protected:
  DaemonProbe::Client& Connect(bool network_up = true) {
    auto [ip, port] = DaemonProbe::AddressOf(next_++);
    absl::StatusOr<DaemonProbe::Client*> c = p_->Connect(ip, port, network_up);
    EXPECT_TRUE(c.ok()) << c.status();
    return **c;
  }
  ::testing::AssertionResult IndexOk() const {
    absl::Status s = d_->CheckSaIndexes();
    if (s.ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << s;
  }
  bool HasSession(const DaemonProbe::Client& c) const {
    auto it = p_->records().find(c.id);
    return it != p_->records().end() && it->second.dp_session != 0;
  }
  Sas SessionSas(const DaemonProbe::Client& c) const {
    if (!HasSession(c)) {
      ADD_FAILURE() << "client " << c.id << " has no dataplane session";
      return {};
    }
    const shm::SessionRecord& r = p_->tables().session(p_->records().at(c.id).dp_session);
    return {r.inbound_sa, r.inbound_sa_alt, r.outbound_sa};
  }
  std::optional<TunnelSas> Tunnel(const DaemonProbe::Client& c) const {
    for (const l2tp::TunnelView& v : p_->lns().Tunnels())
      if (v.binding.peer_ip == c.ip && v.binding.peer_port == c.port)
        return TunnelSas{v.binding.sa_index, v.previous_sa, v.pending_sa};
    return std::nullopt;
  }

  uint32_t next_ = 0;
};

TEST_F(DaemonSaEventsTest, RekeyOverlapThenRebindThenDeleteOfTheOldPair) {
  DaemonProbe::Client& a = Connect();
  DaemonProbe::Client& b = Connect();
  DaemonProbe::Client& c = Connect();
  ASSERT_TRUE(IndexOk());
  const ChildSaHandle old = b.sa;
  const Sas a_sas = SessionSas(a), c_sas = SessionSas(c);
  EXPECT_EQ(SessionSas(b), (Sas{old.inbound_index, kNone, old.outbound_index}));

  // Quick Mode 2: the client may send on the new inbound SA; we still send
  // on the old pair.
  absl::StatusOr<uint32_t> in = p_->QuickMode2(b);
  ASSERT_TRUE(in.ok()) << in.status();
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(SessionSas(b), (Sas{old.inbound_index, *in, old.outbound_index}));
  EXPECT_EQ(Tunnel(b), (TunnelSas{old.inbound_index, kNone, *in}));

  // Quick Mode 3: the session and the tunnel move; the old SA stays accepted.
  absl::StatusOr<ChildSaHandle> h = p_->QuickMode3(b, *in);
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(SessionSas(b), (Sas{h->inbound_index, old.inbound_index, h->outbound_index}));
  EXPECT_EQ(Tunnel(b), (TunnelSas{h->inbound_index, old.inbound_index, kNone}));
  EXPECT_EQ(p_->bindings().CurrentInboundSa(old.inbound_index), h->inbound_index);

  // The client deletes the old pair.
  b.sends_on.sa_index = h->inbound_index;
  p_->DeleteChild(old);
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(SessionSas(b), (Sas{h->inbound_index, kNone, h->outbound_index}));
  EXPECT_EQ(Tunnel(b), (TunnelSas{h->inbound_index, kNone, kNone}));
  EXPECT_EQ(p_->bindings().CurrentInboundSa(old.inbound_index), old.inbound_index);
  // Nobody else moved.
  EXPECT_EQ(SessionSas(a), a_sas);
  EXPECT_EQ(SessionSas(c), c_sas);

  // Again, for every client, twice: the old pair's slot is reused by then.
  for (int round = 0; round < 2; ++round) {
    for (DaemonProbe::Client* x : {&a, &b, &c}) {
      ASSERT_TRUE(p_->Rekey(*x).ok());
      ASSERT_TRUE(IndexOk());
      EXPECT_EQ(SessionSas(*x), (Sas{x->sa.inbound_index, kNone, x->sa.outbound_index}));
      EXPECT_EQ(Tunnel(*x), (TunnelSas{x->sa.inbound_index, kNone, kNone}));
    }
  }
  EXPECT_EQ(p_->records().size(), 3u);
}

TEST_F(DaemonSaEventsTest, AbortedRekeyForgetsThePendingSa) {
  DaemonProbe::Client& a = Connect();
  DaemonProbe::Client& b = Connect();
  const Sas before = SessionSas(b);
  absl::StatusOr<uint32_t> in = p_->QuickMode2(b);
  ASSERT_TRUE(in.ok());
  ASSERT_TRUE(IndexOk());
  p_->AbortQuickMode(*in);  // message 3 never came
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(SessionSas(b), before);
  EXPECT_EQ(Tunnel(b), (TunnelSas{b.sa.inbound_index, kNone, kNone}));
  // The freed slot goes to another client's rekey: b is not affected.
  ASSERT_TRUE(p_->Rekey(a).ok());
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(SessionSas(b), before);
  // b rekeys normally afterwards.
  ASSERT_TRUE(p_->Rekey(b).ok());
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(SessionSas(b), (Sas{b.sa.inbound_index, kNone, b.sa.outbound_index}));
}

TEST_F(DaemonSaEventsTest, TunnelTeardownWhileAnSaIsPending) {
  DaemonProbe::Client& a = Connect();
  DaemonProbe::Client& b = Connect();
  DaemonProbe::Client& c = Connect();
  // a: the client closes its tunnel between Quick Mode 2 and 3.
  absl::StatusOr<uint32_t> pa = p_->QuickMode2(a);
  ASSERT_TRUE(pa.ok());
  a.lac->CloseTunnel("user quit");
  p_->Pump();
  ASSERT_TRUE(IndexOk());
  EXPECT_FALSE(HasSession(a));
  EXPECT_EQ(Tunnel(a), (TunnelSas{a.sa.inbound_index, kNone, *pa}));  // closing, lingers
  p_->AbortQuickMode(*pa);
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(Tunnel(a), (TunnelSas{a.sa.inbound_index, kNone, kNone}));
  p_->DeleteChild(a.sa);  // then its IKE SA goes, and the closing tunnel with it
  ASSERT_TRUE(IndexOk());
  EXPECT_FALSE(Tunnel(a).has_value());

  // b: its current pair is deleted while a rekey is pending: tunnel and
  // session die; the pending SA names nothing any more.
  absl::StatusOr<uint32_t> pb = p_->QuickMode2(b);
  ASSERT_TRUE(pb.ok());
  p_->DeleteChild(b.sa);
  ASSERT_TRUE(IndexOk());
  EXPECT_FALSE(HasSession(b));
  EXPECT_FALSE(Tunnel(b).has_value());
  absl::StatusOr<ChildSaHandle> hb = p_->QuickMode3(b, *pb);  // late message 3
  ASSERT_TRUE(hb.ok());
  ASSERT_TRUE(IndexOk());
  p_->DeleteChild(*hb);
  ASSERT_TRUE(IndexOk());

  // c never noticed.
  EXPECT_EQ(SessionSas(c), (Sas{c.sa.inbound_index, kNone, c.sa.outbound_index}));
  ASSERT_TRUE(p_->Rekey(c).ok());
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(p_->records().size(), 1u);
}

TEST_F(DaemonSaEventsTest, ClientDisconnectDuringAndAfterARekey) {
  DaemonProbe::Client& a = Connect();
  DaemonProbe::Client& b = Connect();
  // a hangs up its call (CDN) after Quick Mode 3, before deleting the old pair.
  const ChildSaHandle old = a.sa;
  absl::StatusOr<uint32_t> in = p_->QuickMode2(a);
  ASSERT_TRUE(in.ok());
  ASSERT_TRUE(p_->QuickMode3(a, *in).ok());
  a.sends_on.sa_index = a.sa.inbound_index;
  ASSERT_TRUE(a.lac->CloseSession(a.lac_session, "user hung up").ok());
  p_->Pump();
  ASSERT_TRUE(IndexOk());
  EXPECT_FALSE(HasSession(a));
  EXPECT_EQ(Tunnel(a), (TunnelSas{a.sa.inbound_index, old.inbound_index, kNone}));
  p_->DeleteChild(old);
  ASSERT_TRUE(IndexOk());
  // b disconnects altogether (StopCCN), then its SAs go.
  b.lac->CloseTunnel("bye");
  p_->Pump();
  ASSERT_TRUE(IndexOk());
  EXPECT_FALSE(HasSession(b));
  p_->DeleteChild(b.sa);
  ASSERT_TRUE(IndexOk());
  EXPECT_TRUE(p_->records().empty());
  // A new client reuses the freed slots.
  DaemonProbe::Client& n = Connect();
  ASSERT_TRUE(IndexOk());
  ASSERT_TRUE(p_->Rekey(n).ok());
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(SessionSas(n), (Sas{n.sa.inbound_index, kNone, n.sa.outbound_index}));
}

TEST_F(DaemonSaEventsTest, SessionUpAfterARekeyUsesTheReplacementSa) {
  // PPP is still negotiating while the client rekeys: the L2TP session was
  // set up on the old SA, the dataplane session must use the new one.
  DaemonProbe::Client& a = Connect(/*network_up=*/false);
  const ChildSaHandle old = a.sa;
  absl::StatusOr<uint32_t> in = p_->QuickMode2(a);
  ASSERT_TRUE(in.ok());
  ASSERT_TRUE(p_->QuickMode3(a, *in).ok());
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(p_->records().at(a.id).l2tp.inbound_sa, old.inbound_index);
  ASSERT_TRUE(p_->NetworkUp(a).ok());
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(SessionSas(a), (Sas{a.sa.inbound_index, kNone, a.sa.outbound_index}));
  p_->DeleteChild(old);
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(SessionSas(a), (Sas{a.sa.inbound_index, kNone, a.sa.outbound_index}));
}

// Random phase 2 events, hang-ups and new clients, against a model of what
// the scanning code did: every session record and every tunnel compared
// with the model after every step, and the indexes with scans.
class DaemonSaEventsRandomTest : public DaemonSaEventsTest,
                                 public ::testing::WithParamInterface<uint32_t> {};

TEST_P(DaemonSaEventsRandomTest, EventsMatchTheScanningBehaviour) {
  std::mt19937 rng(GetParam());
  struct M {
    DaemonProbe::Client* c;
    bool session = true, tunnel = true;
    Sas rec;
    TunnelSas tun;
    std::optional<uint32_t> pending;     // Quick Mode 2 done, 3 not yet
    std::vector<ChildSaHandle> old;      // replaced pairs not deleted yet
  };
  std::vector<M> m;
  std::map<size_t, ChildSaHandle> child;  // the daemon's current pair per client
  std::map<uint32_t, uint32_t> rebound;
  auto add = [&] {
    DaemonProbe::Client& c = Connect();
    m.push_back(M{&c, true, true, {c.sa.inbound_index, kNone, c.sa.outbound_index},
                  {c.sa.inbound_index, kNone, kNone}, std::nullopt, {}});
    child[m.size() - 1] = c.sa;
  };
  // What the old Daemon::ForgetSaInSessions + Lns::OnSaDeleted did.
  auto forget = [&](uint32_t sa) {
    for (M& x : m)
      if (x.session && x.rec.alt == sa) x.rec.alt = kNone;
    rebound.erase(sa);
    for (auto it = rebound.begin(); it != rebound.end();)
      it = it->second == sa ? rebound.erase(it) : std::next(it);
    for (M& x : m) {
      if (!x.tunnel) continue;
      if (x.tun.bound == sa) {
        x.tunnel = x.session = false;
        continue;
      }
      if (x.tun.previous == sa) x.tun.previous = kNone;
      if (x.tun.pending == sa) x.tun.pending = kNone;
    }
  };
  for (int i = 0; i < 6; ++i) add();
  int overlaps = 0, deaths = 0;  // steps with a session mid-rekey; sessions ended
  for (int step = 0; step < 200; ++step) {
    SCOPED_TRACE(step);
    if (std::count_if(m.begin(), m.end(), [](const M& x) { return x.session; }) < 4) add();
    const size_t i = rng() % m.size();
    M& x = m[i];
    DaemonProbe::Client& c = *x.c;
    const uint32_t r = rng() % 16;
    if (r < 5 && !x.pending) {  // Quick Mode 2
      absl::StatusOr<uint32_t> in = p_->QuickMode2(c);
      ASSERT_TRUE(in.ok());
      x.pending = *in;
      if (child.contains(i) && child[i].inbound_index != *in) {
        const uint32_t cur = child[i].inbound_index;
        for (M& y : m)
          if (y.session && y.rec.in == cur) y.rec.alt = *in;
        for (M& y : m)
          if (y.tunnel && y.tun.bound == cur) y.tun.pending = *in;
      }
    } else if (r < 9 && x.pending) {  // Quick Mode 3
      absl::StatusOr<ChildSaHandle> h = p_->QuickMode3(c, *x.pending);
      ASSERT_TRUE(h.ok());
      x.pending.reset();
      c.sends_on.sa_index = h->inbound_index;
      if (child.contains(i) && !(child[i] == *h)) {
        const ChildSaHandle o = child[i];
        x.old.push_back(o);
        for (M& y : m)
          if (y.tunnel && y.tun.bound == o.inbound_index) {
            y.tun.previous = o.inbound_index;
            y.tun.bound = h->inbound_index;
            if (y.tun.pending == h->inbound_index) y.tun.pending = kNone;
          }
        rebound[o.inbound_index] = h->inbound_index;
        for (M& y : m)
          if (y.session && y.rec.in == o.inbound_index)
            y.rec = {h->inbound_index, o.inbound_index, h->outbound_index};
      }
      child[i] = *h;
    } else if (r < 10 && x.pending) {  // Quick Mode 3 never comes
      p_->AbortQuickMode(*x.pending);
      forget(*x.pending);
      x.pending.reset();
    } else if (r < 13 && !x.old.empty()) {  // the client deletes the old pair
      const ChildSaHandle o = x.old.front();
      x.old.erase(x.old.begin());
      p_->DeleteChild(o);
      for (auto it = child.begin(); it != child.end();)
        it = it->second == o ? child.erase(it) : std::next(it);
      forget(o.inbound_index);
    } else if (r == 13 && child.contains(i)) {  // its current pair goes (DPD, expiry)
      const ChildSaHandle o = child[i];
      p_->DeleteChild(o);
      for (auto it = child.begin(); it != child.end();)
        it = it->second == o ? child.erase(it) : std::next(it);
      forget(o.inbound_index);
    } else if (r == 14 && x.session) {  // hang-up (CDN)
      ASSERT_TRUE(c.lac->CloseSession(c.lac_session, "hang up").ok());
      p_->Pump();
      x.session = false;
    } else if (r == 15 && x.tunnel && c.lac->tunnel_state() == l2tp::LacTunnelState::kEstablished) {
      c.lac->CloseTunnel("quit");  // StopCCN: the tunnel lingers, closing
      p_->Pump();
      x.session = false;
    }
    p_->Pump();
    ASSERT_TRUE(IndexOk());
    overlaps += std::any_of(m.begin(), m.end(), [](const M& y) {
      return y.session && y.rec.alt != kNone;
    });
    for (const M& y : m) {
      EXPECT_EQ(HasSession(*y.c), y.session) << "client " << y.c->id;
      if (y.session && HasSession(*y.c)) {
        EXPECT_EQ(SessionSas(*y.c), y.rec) << "client " << y.c->id;
      }
      const std::optional<TunnelSas> t = Tunnel(*y.c);
      EXPECT_EQ(t.has_value(), y.tunnel) << "client " << y.c->id;
      if (y.tunnel && t) {
        EXPECT_EQ(*t, y.tun) << "client " << y.c->id;
      }
    }
    for (const auto& [sa, to] : rebound) {
      uint32_t want = sa;
      for (int hops = 0; hops < 16 && rebound.contains(want); ++hops) want = rebound.at(want);
      EXPECT_EQ(p_->bindings().CurrentInboundSa(sa), want);
    }
  }
  for (const M& y : m) deaths += !y.session;
  // The sequence did exercise overlaps and teardowns.
  EXPECT_GT(overlaps, 30);
  EXPECT_GT(deaths, 3);
}

INSTANTIATE_TEST_SUITE_P(Seeds, DaemonSaEventsRandomTest, ::testing::Range(1u, 9u));

}  // namespace
}  // namespace vpn::cp

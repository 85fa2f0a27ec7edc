// The LNS's index of tunnels by IPsec SA (Lns::tunnels_by_sa_): phase 2 SA
// events look tunnels up in it instead of scanning every tunnel, so it must
// follow every change of a tunnel's bound, previous and pending SA and every
// tunnel's end. Each test checks it against a scan (Lns::CheckSaIndex) after
// every step, and the tunnels' SAs against what the scanning code did.
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "exchange_harness.h"
#include "lns_internal.h"

namespace vpn::l2tp::testing {
// Named so that the unity build (test_unity in meson.build) keeps this
// file's helpers apart from its neighbours'.
namespace exchange_sa_index_test {
namespace {

const Bytes kFrame = {0xC0, 0x21, 0x09, 0x01, 0x00, 0x08, 0, 0, 0, 0};

class SaIndexTest : public ExchangeTest {
 protected:
  ::testing::AssertionResult IndexOk() const {
    absl::Status s = lns->CheckSaIndex();
    if (s.ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << s;
  }
  // bound / previous / pending SA of client c's tunnel.
  std::tuple<uint32_t, uint32_t, uint32_t> SasOf(int c) const {
    const TunnelView v = TunnelOf(c);
    return {v.binding.sa_index, v.previous_sa, v.pending_sa};
  }
};

TEST_F(SaIndexTest, RekeyOverlapThenRebindThenDeleteOfTheOldSa) {
  StartLns();
  const int c = AddClient(), other = AddClient();
  ASSERT_TRUE(BringUp(c));
  ASSERT_TRUE(BringUp(other));
  std::shared_ptr<EndpointLog> log;
  OpenCall(c, &log);
  ASSERT_TRUE(IndexOk());
  const uint32_t old_sa = ClientBinding(c).sa_index;
  const uint32_t other_sa = ClientBinding(other).sa_index;

  lns->AcceptAlsoOn(old_sa, 555);  // Quick Mode 2 sent
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(SasOf(c), std::make_tuple(old_sa, kNoSa, 555u));
  EXPECT_EQ(SasOf(other), std::make_tuple(other_sa, kNoSa, kNoSa));
  net.clients[c].seen_by_lns.sa_index = 555;  // the client sends on the new pair
  net.clients[c].also_receives_on = old_sa;
  log->link->SendPppFrame(kFrame);
  Run(absl::Seconds(1));
  EXPECT_EQ(lns_eps[0]->frames.size(), 1u);

  lns->RebindSa(old_sa, 555);  // Quick Mode 3
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(SasOf(c), std::make_tuple(555u, old_sa, kNoSa));

  lns->OnSaDeleted(old_sa);  // the client deletes the old pair
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(SasOf(c), std::make_tuple(555u, kNoSa, kNoSa));
  EXPECT_EQ(lns->tunnel_count(), 2u);
  EXPECT_EQ(LnsCounter("sa_rebinds"), 1u);
  EXPECT_EQ(LnsCounter("sa_teardowns"), 0u);
  log->link->SendPppFrame(kFrame);
  Run(absl::Seconds(1));
  EXPECT_EQ(lns_eps[0]->frames.size(), 2u);

  // A second rekey of the same tunnel, then the SA it is bound to goes.
  lns->AcceptAlsoOn(555, 556);
  lns->RebindSa(555, 556);
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(SasOf(c), std::make_tuple(556u, 555u, kNoSa));
  lns->OnSaDeleted(556);
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(lns->tunnel_count(), 1u);
  ASSERT_EQ(lns_eps[0]->link_down.size(), 1u);
  EXPECT_EQ(lns_eps[0]->link_down[0], "IPsec SA deleted");
  // Nothing of the dead tunnel is left under the SA it still named.
  lns->OnSaDeleted(555);
  lns->AcceptAlsoOn(555, 557);
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(lns->tunnel_count(), 1u);
  EXPECT_EQ(SasOf(other), std::make_tuple(other_sa, kNoSa, kNoSa));
}

TEST_F(SaIndexTest, AbortedRekeyForgetsThePendingSa) {
  StartLns();
  const int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  OpenCall(c, nullptr);
  const uint32_t old_sa = ClientBinding(c).sa_index;
  lns->AcceptAlsoOn(old_sa, 556);
  ASSERT_TRUE(IndexOk());
  lns->OnSaDeleted(556);  // Quick Mode 3 never came
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(SasOf(c), std::make_tuple(old_sa, kNoSa, kNoSa));
  EXPECT_EQ(lns->tunnel_count(), 1u);
  EXPECT_EQ(LnsCounter("sa_teardowns"), 0u);
  // The slot is reused for another client's SA: this tunnel has nothing to
  // do with it any more.
  lns->RebindSa(556, 600);
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(SasOf(c), std::make_tuple(old_sa, kNoSa, kNoSa));
  EXPECT_EQ(LnsCounter("sa_rebinds"), 0u);
}

TEST_F(SaIndexTest, TunnelTeardownWhileAnSaIsPending) {
  StartLns();
  const int a = AddClient(), b = AddClient();
  ASSERT_TRUE(BringUp(a));
  ASSERT_TRUE(BringUp(b));
  const uint32_t sa_a = ClientBinding(a).sa_index, sa_b = ClientBinding(b).sa_index;
  lns->AcceptAlsoOn(sa_a, 700);
  lns->AcceptAlsoOn(sa_b, 701);
  ASSERT_TRUE(IndexOk());

  // a: the client closes its tunnel in the middle of the rekey. Closing, it
  // still acknowledges retransmissions, so it keeps its SAs until the linger
  // ends; then nothing of it is left under either.
  lacs[a]->CloseTunnel("user quit");
  Run(absl::Seconds(1));
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(lns->tunnel_count(), 1u);
  lns->OnSaDeleted(700);  // its Quick Mode 3 never comes
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(std::get<2>(SasOf(a)), kNoSa);
  Run(LingerTime(cfg) + absl::Seconds(1));
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(lns->Tunnels().size(), 1u);

  // b: its current SA is deleted while the rekey's is pending; the tunnel
  // dies, and the pending SA no longer names it.
  lns->OnSaDeleted(sa_b);
  ASSERT_TRUE(IndexOk());
  EXPECT_TRUE(lns->Tunnels().empty());
  EXPECT_EQ(LnsCounter("sa_teardowns"), 1u);
  lns->RebindSa(701, 702);
  lns->OnSaDeleted(701);
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(LnsCounter("sa_rebinds"), 0u);
}

TEST_F(SaIndexTest, ClientDisconnectAndReconnectOnAReusedSlot) {
  StartLns();
  const int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  const uint16_t sid = OpenCall(c, nullptr);
  const uint32_t sa = ClientBinding(c).sa_index;
  lns->AcceptAlsoOn(sa, 800);
  lns->RebindSa(sa, 800);
  net.clients[c].seen_by_lns.sa_index = 800;
  ASSERT_TRUE(IndexOk());
  ASSERT_TRUE(lacs[c]->CloseSession(sid, "user hung up").ok());  // CDN
  Run(absl::Seconds(1));
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(lns->session_count(), 0u);
  lacs[c]->CloseTunnel("bye");  // StopCCN
  Run(absl::Seconds(1));
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(lns->tunnel_count(), 0u);  // closing, lingering
  Run(LingerTime(cfg) + absl::Seconds(1));
  ASSERT_TRUE(IndexOk());
  EXPECT_TRUE(lns->Tunnels().empty());
  // A new client gets the old client's SA slot: only its own tunnel is
  // affected by events on it.
  PeerBinding nb = ClientBinding(5);
  nb.sa_index = sa;
  config::L2tp lc = cfg;
  lc.hostname = "lac-new";
  const int n = AddClient(nb, lc);
  ASSERT_TRUE(BringUp(n));
  ASSERT_TRUE(IndexOk());
  lns->OnSaDeleted(800);  // the old client's rebound SA, long gone
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(lns->tunnel_count(), 1u);
  lns->OnSaDeleted(sa);
  ASSERT_TRUE(IndexOk());
  EXPECT_EQ(lns->tunnel_count(), 0u);
}

// Random SA events against a model of what the scanning code did (every
// tunnel visited, in tunnels_ order), with tunnels sharing SAs (one client,
// several tunnels) and client-side closes mixed in: after every step the
// tunnels' SAs match the model and the index matches a scan.
class SaIndexRandomTest : public SaIndexTest, public ::testing::WithParamInterface<uint32_t> {};

TEST_P(SaIndexRandomTest, EventsMatchTheScanningBehaviour) {
  {
    StartLns();
    std::mt19937 rng(GetParam());
    const uint32_t kBase = 100, kSas = 8;
    // 6 clients; clients 4 and 5 are second tunnels of clients 0 and 1.
    for (int i = 0; i < 6; ++i) {
      PeerBinding b = ClientBinding(i < 4 ? i : i - 4);
      config::L2tp lc = cfg;
      lc.hostname = "lac" + std::to_string(i);
      AddClient(b, lc);
      ASSERT_TRUE(BringUp(i));
    }
    struct Model {
      uint32_t bound, previous = kNoSa, pending = kNoSa;
      bool closing = false;
    };
    std::map<std::tuple<uint16_t, uint32_t, uint16_t>, Model> model;
    auto key_of = [](const TunnelView& v) {
      return std::make_tuple(v.local_id, v.binding.peer_ip, v.binding.peer_port);
    };
    for (const TunnelView& v : lns->Tunnels()) model[key_of(v)] = Model{v.binding.sa_index};
    ASSERT_EQ(model.size(), 6u);
    uint64_t rebinds = 0, teardowns = 0;
    int busy_steps = 0;  // steps with a tunnel holding a rekey's second SA
    for (int step = 0; step < 150; ++step) {
      if (model.size() < 3) {
        // Keep tunnels coming: a new client on one of the SAs in play (up to
        // max_tunnels_per_client on one SA; a refused SCCRQ adds nothing).
        PeerBinding b = ClientBinding(int(lacs.size()));
        b.sa_index = kBase + rng() % kSas;
        config::L2tp lc = cfg;
        lc.hostname = "lac" + std::to_string(lacs.size());
        const int c = AddClient(b, lc);
        if (BringUp(c))
          for (const TunnelView& v : lns->Tunnels())
            if (!model.contains(key_of(v))) model[key_of(v)] = Model{v.binding.sa_index};
      }
      const uint32_t x = kBase + rng() % kSas, y = kBase + rng() % kSas;
      switch (rng() % 7) {
        case 0:
        case 1:
          lns->AcceptAlsoOn(x, y);
          if (x != y)
            for (auto& [k, m] : model)
              if (m.bound == x) m.pending = y;
          break;
        case 2:
        case 3:
          lns->RebindSa(x, y);
          if (x != y)
            for (auto& [k, m] : model)
              if (m.bound == x) {
                m.previous = x;
                m.bound = y;
                if (m.pending == y) m.pending = kNoSa;
                ++rebinds;
              }
          break;
        case 4:
        case 5:
          lns->OnSaDeleted(x);
          for (auto it = model.begin(); it != model.end();) {
            Model& m = it->second;
            if (m.bound == x) {
              it = model.erase(it);
              ++teardowns;
              continue;
            }
            if (m.previous == x) m.previous = kNoSa;
            if (m.pending == x) m.pending = kNoSa;
            ++it;
          }
          break;
        case 6: {
          // A client whose tunnel the LNS still has closes it (StopCCN).
          const int c = int(rng() % 6);
          if (lacs[c]->tunnel_state() != LacTunnelState::kEstablished) break;
          for (const TunnelView& v : lns->Tunnels())
            if (v.local_id == lacs[c]->peer_tunnel_id() &&
                v.peer_id == lacs[c]->local_tunnel_id() &&
                v.binding.peer_ip == net.clients[c].seen_by_lns.peer_ip) {
              lacs[c]->CloseTunnel("random close");
              model[key_of(v)].closing = true;
            }
          break;
        }
      }
      Run(absl::Milliseconds(50));
      ASSERT_TRUE(IndexOk()) << "step " << step;
      std::set<std::tuple<uint16_t, uint32_t, uint16_t>> seen;
      for (const TunnelView& v : lns->Tunnels()) {
        auto it = model.find(key_of(v));
        ASSERT_NE(it, model.end()) << "step " << step << ": tunnel " << v.local_id;
        EXPECT_EQ(v.binding.sa_index, it->second.bound) << "step " << step;
        EXPECT_EQ(v.previous_sa, it->second.previous) << "step " << step;
        EXPECT_EQ(v.pending_sa, it->second.pending) << "step " << step;
        seen.insert(key_of(v));
        if (v.previous_sa != kNoSa || v.pending_sa != kNoSa) ++busy_steps;
      }
      for (auto it = model.begin(); it != model.end();) {
        // Only a closing tunnel may end on its own (its linger ran out).
        if (!seen.contains(it->first)) {
          EXPECT_TRUE(it->second.closing) << "step " << step;
          it = model.erase(it);
        } else {
          ++it;
        }
      }
    }
    EXPECT_GT(busy_steps, 100);  // the events did meet tunnels mid-rekey
    EXPECT_EQ(LnsCounter("sa_rebinds"), rebinds);
    EXPECT_EQ(LnsCounter("sa_teardowns"), teardowns);
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, SaIndexRandomTest, ::testing::Range(1u, 13u));

}  // namespace
}  // namespace exchange_sa_index_test
}  // namespace vpn::l2tp::testing

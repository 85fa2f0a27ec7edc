// Robustness: random, truncated and mutated input into every parser and into
// live LNS/LAC objects. Nothing may crash, and every message the parser
// rejects must show up as exactly one counted drop.
#include <random>

#include "avp.h"
#include "data_message.h"
#include "exchange_harness.h"

namespace vpn::l2tp::testing {
namespace {

uint64_t Seed() {
  const char* s = std::getenv("L2TP_FUZZ_SEED");
  return s ? std::strtoull(s, nullptr, 10) : 20240601;
}

Bytes Mutate(const Bytes& in, std::mt19937& rng) {
  Bytes m = in;
  auto rnd = [&](size_t n) { return n == 0 ? size_t(0) : size_t(rng() % n); };
  const int ops = 1 + int(rnd(3));
  for (int k = 0; k < ops; ++k) {
    switch (rnd(8)) {
      case 0:
        if (!m.empty()) m[rnd(m.size())] ^= uint8_t(1u << rnd(8));
        break;
      case 1:
        if (!m.empty()) m[rnd(m.size())] = uint8_t(rng());
        break;
      case 2:
        m.resize(rnd(m.size() + 1));
        break;
      case 3:
        for (size_t n = 1 + rnd(16); n > 0; --n) m.push_back(uint8_t(rng()));
        break;
      case 4:  // the L2TP Length field
        if (m.size() >= 4) {
          uint16_t v = rnd(2) ? uint16_t(rng()) : uint16_t(m.size() + rnd(5) - 2);
          Set16(&m[2], v);
        }
        break;
      case 5:  // something that may be an AVP length word
        if (m.size() >= 14) {
          size_t at = 12 + 2 * rnd((m.size() - 12) / 2);
          uint16_t choices[] = {0, 0xFFFF, 0x8006, uint16_t(rng())};
          Set16(&m[at], choices[rnd(4)]);
        }
        break;
      case 6:
        if (!m.empty()) {
          size_t a = rnd(m.size()), b = a + rnd(m.size() - a + 1);
          m.erase(m.begin() + a, m.begin() + b);
        }
        break;
      case 7:
        if (!m.empty()) {
          size_t a = rnd(m.size()), n = rnd(std::min<size_t>(32, m.size() - a) + 1);
          Bytes chunk(m.begin() + a, m.begin() + a + n);
          m.insert(m.begin() + rnd(m.size() + 1), chunk.begin(), chunk.end());
        }
        break;
    }
  }
  return m;
}

void Exercise(const ControlMessage& m) {
  (void)ValidateControlMessage(m);
  for (const AvpSpec& s : AllAvpSpecs()) {
    (void)m.U16(s.type);
    (void)m.U32(s.type);
    (void)m.Str(s.type);
  }
}

TEST(ParserRobustnessTest, RandomBuffers) {
  std::mt19937 rng(Seed());
  int ok = 0;
  for (int i = 0; i < 30000; ++i) {
    Bytes b(rng() % 300);
    for (auto& x : b) x = uint8_t(rng());
    if (b.size() >= 4 && rng() % 2) {  // look like a control header
      b[0] = 0xC8;
      b[1] = 0x02;
      Set16(&b[2], uint16_t(b.size() - rng() % 3));
    }
    for (std::string_view secret : {"", "fuzz"}) {
      ControlMessage m;
      if (ParseControlMessage(b, secret, &m) == ParseStatus::kOk) {
        ++ok;
        Exercise(m);
      }
    }
    std::vector<Avp> avps;
    (void)ParseAvps(b, "fuzz", &avps);
    Bytes frame;
    (void)NormalizePppFrame(b, &frame);
    (void)UnhideAvpValue(9, "fuzz", Bytes{1}, b);
  }
  EXPECT_GT(ok, 0);  // the loop did reach past the header checks
}

class RobustnessTest : public ExchangeTest {
 protected:
  static constexpr std::array<std::string_view, 3> kControlDrops = {
      "drop_bad_header", "drop_bad_avp_framing", "drop_no_message_type"};
  uint64_t ControlDrops(const Counters& c) const {
    uint64_t n = 0;
    for (auto name : kControlDrops) n += c.Get(name);
    return n;
  }
};

TEST_F(RobustnessTest, MutatedValidMessagesIntoTheParser) {
  cfg.tunnel_secret = "fuzz";
  LnsOptions lo;
  lo.hide_avps = true;
  StartLns(lo);
  LacOptions o;
  o.hide_avps = true;
  int c = AddClient(o);
  ASSERT_TRUE(BringUp(c));
  OpenCall(c, nullptr);
  std::mt19937 rng(Seed() + 1);
  for (int i = 0; i < 30000; ++i) {
    const Wire& w = net.log[rng() % net.log.size()];
    Bytes m = Mutate(w.bytes, rng);
    ControlMessage cm;
    if (ParseControlMessage(m, "fuzz", &cm) == ParseStatus::kOk) Exercise(cm);
  }
}

TEST_F(RobustnessTest, LnsAndLacSurviveMutatedTrafficAndCountEveryDrop) {
  cfg.tunnel_secret = "fuzz";
  cfg.max_sessions_per_tunnel = 3;
  LnsOptions lo;
  lo.hide_avps = true;
  StartLns(lo);
  std::mt19937 rng(Seed() + 2);
  int rejected = 0, delivered = 0;
  for (int round = 0; round < 40; ++round) {
    LacOptions o;
    o.hide_avps = round % 2 == 0;
    PeerBinding b = ClientBinding(round);
    int c = AddClient(b, cfg, o);
    if (!BringUp(c)) continue;  // an earlier round may have broken nothing here
    std::shared_ptr<EndpointLog> log;
    OpenCall(c, &log);
    if (log->link) log->link->SendPppFrame(Bytes{0xC0, 0x21, 9, 1, 0, 8, 0, 0, 0, 0});
    Run(absl::Seconds(1));
    std::vector<Bytes> to_lns, to_lac;
    for (const Wire& w : net.log)
      (w.dir == Dir::kToLns ? to_lns : to_lac).push_back(w.bytes);
    for (int i = 0; i < 500; ++i) {
      Bytes m = Mutate(to_lns[rng() % to_lns.size()], rng);
      PeerBinding via = b;
      if (rng() % 5 == 0) via = ClientBinding(int(rng() % 50));
      Header h;
      const bool data = ParseHeader(m, &h) == HeaderError::kOk && !h.control;
      if (data && rng() % 2) {
        lns->OnDataMessage(via, m);
      } else if (rng() % 4 == 0) {
        lns->DeliverPppFrame(via, uint16_t(rng()), uint16_t(rng()), m);
        if (!lns->Tunnels().empty()) {
          TunnelView t = lns->Tunnels()[rng() % lns->Tunnels().size()];
          lns->DeliverPppFrame(t.binding, t.local_id, uint16_t(rng() % 4), m);
        }
      } else {
        ControlMessage oracle;
        const bool bad = ParseControlMessage(m, "fuzz", &oracle) != ParseStatus::kOk;
        const uint64_t before = ControlDrops(lns->counters());
        lns->OnControlMessage(via, m);
        const uint64_t after = ControlDrops(lns->counters());
        if (bad) {
          ++rejected;
          ASSERT_EQ(after, before + 1) << "round " << round << " message " << i;
        } else {
          ++delivered;
          ASSERT_EQ(after, before);
        }
      }
      // The LAC gets garbage too.
      lacs[c]->OnControlMessage(Mutate(to_lac[rng() % to_lac.size()], rng));
      lacs[c]->OnDataMessage(Mutate(to_lac[rng() % to_lac.size()], rng));
      if (i % 50 == 0) Run(absl::Milliseconds(rng() % 3000));
    }
    // Operator actions in the middle of it all.
    if (round % 7 == 3 && !lns->Tunnels().empty())
      (void)lns->CloseTunnel({.local_id = lns->Tunnels()[0].local_id}, "fuzz");
    if (round % 5 == 4) lns->OnSaDeleted(b.sa_index);
    Run(absl::Seconds(rng() % 40));
  }
  EXPECT_GT(rejected, 1000);
  EXPECT_GT(delivered, 1000);
  // Everything winds down: LACs stop answering, the LNS gives up on them.
  for (auto& l : lacs) l->CloseTunnel("done");
  Run(absl::Minutes(5));
  for (const TunnelView& t : lns->Tunnels())
    EXPECT_EQ(t.state, TunnelState::kEstablished) << "only live pairs remain";
  DropLacs();
  Run(absl::Minutes(10));  // HELLOs unanswered: everything times out
  EXPECT_TRUE(lns->Tunnels().empty());
  EXPECT_EQ(lns->session_count(), 0u);
  for (const auto& ep : lns_eps) EXPECT_EQ(ep->link_down.size(), 1u);
}

}  // namespace
}  // namespace vpn::l2tp::testing

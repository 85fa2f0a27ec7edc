// IKE fragment codec and reassembler (fragments.h): round trips in any
// order, duplicates, inconsistent and over-limit input, timeouts, and a
// fuzz-style loop of random / mutated fragments against the reassembler
// and a live responder.
#include <algorithm>
#include <random>

#include "fragments.h"
#include "gtest/gtest.h"
#include "test_net.h"

namespace vpn::ike::testing {
namespace {

const Endpoint kPeer{0x0A0012C6, 4500};  // 198.18.0.10
const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

Bytes SampleMessage(size_t size, uint64_t icookie = 0x1111, uint64_t rcookie = 0x2222) {
  Header h;
  h.icookie = icookie;
  h.rcookie = rcookie;
  h.next = PayloadType::kId;
  h.exchange = ExchangeType::kIdentityProtection;
  h.flags = flags::kEncryption;
  h.length = static_cast<uint32_t>(size);
  Bytes m;
  EncodeHeader(h, m);
  while (m.size() < size) m.push_back(static_cast<uint8_t>(m.size() * 7));
  return m;
}

std::vector<Fragment> Parsed(const std::vector<Bytes>& dgrams) {
  std::vector<Fragment> out;
  for (const Bytes& d : dgrams) {
    auto f = ParseFragment(d);
    EXPECT_TRUE(f.ok()) << f.status();
    if (f.ok()) out.push_back(*f);
  }
  return out;
}

TEST(Fragments, RoundTripInAnyOrderWithDuplicates) {
  std::mt19937 rng(7);
  for (size_t size : {29u, 500u, 1300u, 5000u}) {
    Bytes msg = SampleMessage(size);
    std::vector<Bytes> dgrams = FragmentMessage(msg, 300, 42);
    ASSERT_EQ(dgrams.size(), (size + 263) / 264);  // 300 - 28 - 8 data bytes each
    for (const Bytes& d : dgrams) {
      EXPECT_LE(d.size(), 300u);
      auto h = ParseHeader(d);
      ASSERT_TRUE(h.ok());
      EXPECT_EQ(h->next, PayloadType::kFragment);
      EXPECT_EQ(h->icookie, 0x1111u);
    }
    std::vector<Fragment> frags = Parsed(dgrams);
    EXPECT_TRUE(frags.back().last);
    EXPECT_EQ(frags.front().number, 1);
    std::shuffle(frags.begin(), frags.end(), rng);
    const bool with_dup = frags.size() > 1;
    if (with_dup) frags.insert(frags.begin() + 1, frags[0]);  // a retransmitted fragment
    Reassembler r;
    Bytes out;
    int complete = 0, dup = 0;
    for (const Fragment& f : frags) {
      auto o = r.Add(kPeer, f, kT0, &out);
      complete += o == Reassembler::Outcome::kComplete;
      dup += o == Reassembler::Outcome::kDuplicate;
    }
    EXPECT_EQ(complete, 1);
    EXPECT_EQ(out, msg);
    EXPECT_EQ(r.pending(), 0u);
    EXPECT_EQ(r.pending_bytes(), 0u);
    EXPECT_EQ(dup, with_dup ? 1 : 0);
  }
}

TEST(Fragments, InconsistentAndOverLimitInputIsDropped) {
  Bytes msg = SampleMessage(1000);
  std::vector<Fragment> f = Parsed(FragmentMessage(msg, 300, 1));
  ASSERT_EQ(f.size(), 4u);
  Bytes out;
  {  // two different "last" fragments
    Reassembler r;
    Fragment fake_last = f[1];
    fake_last.last = true;
    EXPECT_EQ(r.Add(kPeer, f[3], kT0, &out), Reassembler::Outcome::kIncomplete);
    EXPECT_EQ(r.Add(kPeer, fake_last, kT0, &out), Reassembler::Outcome::kDropped);
    EXPECT_EQ(r.pending(), 0u);
  }
  {  // beyond the last
    Reassembler r;
    Fragment beyond = f[0];
    beyond.number = 9;
    EXPECT_EQ(r.Add(kPeer, f[3], kT0, &out), Reassembler::Outcome::kIncomplete);
    EXPECT_EQ(r.Add(kPeer, beyond, kT0, &out), Reassembler::Outcome::kDropped);
  }
  {  // limits: fragment count, message size, per-source and global pending
    Reassembler::Limits l;
    l.max_fragments = 3;
    l.max_message = 700;
    l.max_pending = 3;
    l.max_pending_per_ip = 2;
    Reassembler r(l);
    EXPECT_EQ(r.Add(kPeer, f[3], kT0, &out), Reassembler::Outcome::kDropped);  // number 4 > 3
    EXPECT_EQ(r.Add(kPeer, f[0], kT0, &out), Reassembler::Outcome::kIncomplete);
    EXPECT_EQ(r.Add(kPeer, f[1], kT0, &out), Reassembler::Outcome::kIncomplete);
    EXPECT_EQ(r.Add(kPeer, f[2], kT0, &out), Reassembler::Outcome::kDropped);  // > 700 bytes
    for (uint16_t id = 10; id < 14; ++id) {
      Fragment g = f[0];
      g.id = id;
      Endpoint src = kPeer;
      src.ip += id % 2 ? 0 : 0x01000000;  // two sources
      r.Add(src, g, kT0, &out);
    }
    EXPECT_LE(r.pending(), 3u);
    // Timeout: everything incomplete goes after 5 s.
    const size_t before = r.pending();
    EXPECT_GT(before, 0u);
    EXPECT_EQ(r.Expire(kT0 + absl::Seconds(5)), before);
    EXPECT_EQ(r.pending(), 0u);
    EXPECT_EQ(r.pending_bytes(), 0u);
  }
  // Codec refusals.
  Bytes d = FragmentMessage(msg, 300, 1)[0];
  d[28 + 6] = 0;  // fragment number 0
  EXPECT_FALSE(ParseFragment(d).ok());
  EXPECT_TRUE(FragmentMessage(msg, 36, 1).empty());           // no room for data
  EXPECT_TRUE(FragmentMessage(SampleMessage(20000), 40, 1).empty());  // > 255 fragments
}

TEST(Fragments, FuzzStyleRandomAndMutatedFragments) {
  std::mt19937 rng(12345);
  Reassembler::Limits l;
  Reassembler r(l);
  Bytes out;
  absl::Time now = kT0;
  std::vector<Bytes> good = FragmentMessage(SampleMessage(3000), 400, 5);
  size_t completed = 0;
  for (int i = 0; i < 20000; ++i) {
    Bytes d;
    switch (rng() % 4) {
      case 0:  // random bytes with a valid-looking header
        d = SampleMessage(28 + rng() % 64);
        d[16] = 132;
        for (size_t k = 28; k < d.size(); ++k) d[k] = static_cast<uint8_t>(rng());
        break;
      case 1:  // a good fragment, mutated
        d = good[rng() % good.size()];
        for (int k = 0; k < 3; ++k) d[rng() % d.size()] ^= static_cast<uint8_t>(1 << (rng() % 8));
        break;
      case 2:  // a good fragment, truncated
        d = good[rng() % good.size()];
        d.resize(rng() % d.size());
        break;
      default:  // a good fragment from a random source
        d = good[rng() % good.size()];
        break;
    }
    auto f = ParseFragment(d);
    if (!f.ok()) continue;
    Endpoint src{static_cast<uint32_t>(rng() % 8), static_cast<uint16_t>(rng() % 3)};
    if (r.Add(src, *f, now, &out) == Reassembler::Outcome::kComplete) {
      ++completed;
      EXPECT_LE(out.size(), l.max_message);
    }
    EXPECT_LE(r.pending(), l.max_pending);
    EXPECT_LE(r.pending_bytes(), l.max_bytes);
    if (i % 1000 == 0) now += absl::Seconds(2);
  }
  EXPECT_GT(completed, 0u);
  r.Expire(now + absl::Seconds(10));
  EXPECT_EQ(r.pending(), 0u);
}

TEST(Fragments, ResponderSurvivesFragmentFloods) {
  cp::ManualTimerQueue timers;
  config::Ike cfg;
  cfg.psk = "secret123";
  cfg.proposals = {"aes256-sha1-modp2048"};
  cfg.esp_proposals = {"aes128-sha1"};
  Net net(timers, cfg, false);
  std::mt19937 rng(99);
  // Fragments of a genuine message 1 reassemble into a working exchange.
  Net::Client& c = net.AddClient(cfg);
  auto id = c.ike->Connect(c.local, net.server_ep);
  ASSERT_TRUE(id.ok());
  // Capture the client's message 1, deliver it to the server in fragments.
  std::vector<Packet> captured;
  net.drop = [&](const Packet& p) {
    captured.push_back(p);
    return true;
  };
  net.Pump();
  net.drop = nullptr;
  ASSERT_EQ(captured.size(), 1u);
  std::vector<Bytes> pieces = FragmentMessage(captured[0].data, 100, 3);
  ASSERT_GT(pieces.size(), 2u);
  for (const Bytes& f : pieces) net.InjectToServer(captured[0].src, f);
  EXPECT_EQ(net.server->counters().fragments_reassembled, 1u);
  EXPECT_EQ(net.server->ike_sa_count(), 1u);
  // Random fragment datagrams from many sources: bounded, no crash.
  for (int i = 0; i < 5000; ++i) {
    Bytes d = SampleMessage(28 + 8 + rng() % 200, rng(), rng() % 2 ? 0 : rng());
    d[16] = 132;
    size_t len = d.size() - 28;
    d[28] = 0;
    d[30] = static_cast<uint8_t>(len >> 8);
    d[31] = static_cast<uint8_t>(len);
    d[34] = static_cast<uint8_t>(1 + rng() % 40);
    d[35] = rng() % 4 ? 0 : kFragmentLast;
    net.InjectToServer({static_cast<uint32_t>(rng()), static_cast<uint16_t>(rng())}, d);
  }
  EXPECT_GT(net.server->counters().fragments_dropped, 0u);
  EXPECT_EQ(net.server->counters().fragments_received, 5000u + pieces.size());
}

}  // namespace
}  // namespace vpn::ike::testing

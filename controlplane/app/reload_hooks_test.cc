// The engines' reload hooks the daemon's Reload() relies on: they apply
// everything or nothing, and never disturb what is running.
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "l2tp/lns.h"
#include "ppp/address_pool.h"
#include "timer_queue.h"
#include "vpn/config.h"

namespace vpn::cp {
// Named so that the unity build (test_unity in meson.build) keeps this
// file's helpers apart from its neighbours'.
namespace reload_hooks_test {
namespace {

config::Config Parse(const std::string& text) {
  auto c = config::ParseConfigString(text, "h.toml");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

const std::string kBase = config::kDefaultConfig;
const std::string kExtra = "\n[[pool]]\nname = \"extra\"\nrange = \"100.64.1.1-100.64.1.2\"\n";

TEST(ReloadHooks, AddPoolsKeepsLeasesAndServesTheNewPool) {
  auto reg = ppp::PoolRegistry::Create(Parse(kBase));
  ASSERT_TRUE(reg.ok());
  auto lease = (*reg)->AllocateFromPool("default");
  ASSERT_TRUE(lease.ok());
  const uint32_t held = lease->address();
  EXPECT_FALSE((*reg)->AllocateFromPool("extra").ok());
  ASSERT_TRUE((*reg)->AddPools(Parse(kBase + kExtra)).ok());
  EXPECT_TRUE((*reg)->InUse(held));
  auto a = (*reg)->AllocateFromPool("extra");
  auto b = (*reg)->AllocateFromPool("extra");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->address(), 0x64400101u);
  EXPECT_FALSE((*reg)->AllocateFromPool("extra").ok());  // two addresses only
  // Adding the same pools again changes nothing.
  EXPECT_TRUE((*reg)->AddPools(Parse(kBase + kExtra)).ok());
  EXPECT_TRUE((*reg)->InUse(held));
}

TEST(ReloadHooks, AddPoolsRefusesOverlapOrChangedRangeAndAddsNothing) {
  auto reg = ppp::PoolRegistry::Create(Parse(kBase));
  ASSERT_TRUE(reg.ok());
  // The validator already refuses overlapping pools in one file; AddPools
  // must still refuse them when handed such a config directly.
  config::Config overlap = Parse(kBase + kExtra);
  overlap.pools.push_back({"clash", 0x64400096u, 0x644000a0u, 0});  // .150-.160
  EXPECT_FALSE((*reg)->AddPools(overlap).ok());
  EXPECT_FALSE((*reg)->AllocateFromPool("extra").ok()) << "half-applied";
  const std::string changed =
      absl::StrReplaceAll(kBase, {{"100.64.0.100-100.64.0.199", "100.64.0.100-100.64.0.120"}});
  ASSERT_NE(changed, kBase);
  EXPECT_FALSE((*reg)->AddPools(Parse(changed + kExtra)).ok());
  EXPECT_FALSE((*reg)->AllocateFromPool("extra").ok()) << "half-applied";
}

class NullTransport : public l2tp::Transport {
 public:
  void SendL2tp(const l2tp::PeerBinding&, std::span<const uint8_t>) override {}
};

TEST(ReloadHooks, LnsTakesNewTimersButNotANewSecret) {
  ManualTimerQueue timers;
  NullTransport tx;
  config::L2tp cfg;
  l2tp::Lns lns(cfg, timers, tx, [](PppLink&, const L2tpSessionInfo&) {
    return std::unique_ptr<PppEndpoint>();
  });
  config::L2tp next = cfg;
  next.hello_interval_s = 5;
  next.retransmit_count = 9;
  EXPECT_TRUE(lns.Reconfigure(next).ok());
  next.tunnel_secret = "changed";
  absl::Status s = lns.Reconfigure(next);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(std::string(s.message()).find("tunnel_secret"), std::string::npos);
}

}  // namespace
}  // namespace reload_hooks_test
}  // namespace vpn::cp

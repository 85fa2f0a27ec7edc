// Which edits `vpnctl reload` applies and which it refuses (config_reload.h).
#include "config_reload.h"

#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vpn::cp {
namespace {

using ::testing::HasSubstr;

config::Config Parse(const std::string& text) {
  auto c = config::ParseConfigString(text, "r.toml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : config::Config{};
}

std::string Edit(std::initializer_list<std::pair<absl::string_view, absl::string_view>> r) {
  std::string base = config::kDefaultConfig;
  std::string out = absl::StrReplaceAll(base, r);
  EXPECT_NE(out, base) << "edit did not apply";
  return out;
}

const std::string kBase = config::kDefaultConfig;

TEST(ConfigReload, SameFileIsAcceptedWithNoChanges) {
  ReloadPlan p = PlanReload(Parse(kBase), Parse(kBase));
  EXPECT_TRUE(p.ok());
  EXPECT_TRUE(p.changes.empty()) << absl::StrJoin(p.changes, "; ");
}

struct Case {
  const char* name;
  std::string text;
  const char* expect;  // substring of the one change or refusal
};

TEST(ConfigReload, AppliedWithoutRestart) {
  const Case cases[] = {
      {"log level", Edit({{"l2tp = \"info\"", "l2tp = \"event\""}}), "log levels"},
      {"new user", kBase + "\n[[user]]\nname = \"bob\"\npassword = \"bob-password\"\n", "users"},
      {"password", Edit({{"demo-password", "other-password"}}), "users"},
      {"pool added", kBase + "\n[[pool]]\nname = \"extra\"\nrange = \"100.64.1.1-100.64.1.50\"\n",
       "pools added: extra"},
      {"ike dpd", Edit({{"lifetime = 28800", "lifetime = 28800\ndpd_interval = 10"}}), "[ike]"},
      {"ike psk", Edit({{"psk = \"secret123\"", "psk = \"secret456\""}}), "[ike]"},
      {"esp lifetime", Edit({{"esp_lifetime = 3600", "esp_lifetime = 1800"}}), "[ike]"},
      {"l2tp hello", Edit({{"hello_interval = 60", "hello_interval = 30"}}), "[l2tp]"},
      {"ppp mtu", Edit({{"mtu = 1400", "mtu = 1300"}}), "[ppp]"},
      {"group dns", Edit({{"dns = [\"100.64.0.254\"]", "dns = [\"100.64.0.253\"]"}}), "groups"},
  };
  for (const Case& c : cases) {
    ReloadPlan p = PlanReload(Parse(kBase), Parse(c.text));
    EXPECT_TRUE(p.ok()) << c.name << ": " << absl::StrJoin(p.refused, "; ");
    ASSERT_EQ(p.changes.size(), 1u) << c.name << ": " << absl::StrJoin(p.changes, "; ");
    EXPECT_THAT(p.changes[0], HasSubstr(c.expect)) << c.name;
  }
}

TEST(ConfigReload, RestartOnlyChangesAreRefusedNamingWhatToRestart) {
  const Case cases[] = {
      {"port address", Edit({{"198.18.0.1/24", "198.18.0.9/24"}}), "[[port]] changed: needs a restart of both"},
      {"port device", Edit({{"iface=dp-lan", "iface=dp-lan2"}}), "[[port]]"},
      {"workers", Edit({{"workers = 1", "workers = 2"}}), "[dataplane] changed: needs a restart of both"},
      {"max_sessions", Edit({{"max_sessions = 2048", "max_sessions = 4096"}}), "[dataplane]"},
      {"require_ipsec", Edit({{"require_ipsec = true", "require_ipsec = false"}}), "[dataplane]"},
      {"shm", Edit({{"shm_name = \"vpnconc\"", "shm_name = \"other\""}}), "shm_name"},
      {"socket", Edit({{"control.sock", "ctl.sock"}}), "control_socket changed: needs a restart of vpn-controlplane"},
      {"metrics", "metrics_listen = \"127.0.0.1:9469\"\n" + kBase, "metrics_listen"},
      {"pool range", Edit({{"100.64.0.1-100.64.0.200", "100.64.0.1-100.64.0.100"}}), "[[pool]] default range"},
      {"pool removed", Edit({{"name = \"default\"\nrange = \"100.64.0.1-100.64.0.200\"",
                              "name = \"other\"\nrange = \"100.64.0.1-100.64.0.200\""},
                             {"pool = \"default\"", "pool = \"other\""}}),
       "[[pool]] default removed"},
      {"tunnel secret", Edit({{"hello_interval = 60", "hello_interval = 60\ntunnel_secret = \"s3cret\""}}),
       "tunnel_secret"},
      {"route", kBase + "\n[[route]]\nprefix = \"10.0.0.0/8\"\nvia = \"100.64.0.1\"\n", "[[route]]"},
  };
  for (const Case& c : cases) {
    auto next = config::ParseConfigString(c.text, "r.toml");
    ASSERT_TRUE(next.ok()) << c.name << ": " << next.status();
    ReloadPlan p = PlanReload(Parse(kBase), *next);
    ASSERT_FALSE(p.ok()) << c.name;
    EXPECT_THAT(absl::StrJoin(p.refused, "; "), HasSubstr(c.expect)) << c.name;
  }
}

}  // namespace
}  // namespace vpn::cp

// The [radius] section of the configuration file.
#include <gtest/gtest.h>

#include "vpn/config.h"

namespace vpn::config {
namespace {

absl::StatusOr<Config> WithRadius(const std::string& radius) {
  return ParseConfigString(std::string(kDefaultConfig) + "\n" + radius, "test.toml");
}

TEST(RadiusConfig, DefaultHasNoRadius) {
  auto c = ParseConfigString(kDefaultConfig, "test.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->radius.enabled());
}

TEST(RadiusConfig, FullSection) {
  auto c = WithRadius(R"(
[radius]
nas_identifier = "conc-1"
nas_ip = "198.18.0.1"
timeout_ms = 500
retries = 3
dead_time = 10
interim_interval = 300
acct_max_age = 7200
acct_queue_max = 1000
dae_port = 13799
dae_address = "127.0.0.1"
require_message_authenticator = true
accounting = false

[[radius.server]]
address = "127.0.0.1"
secret = "one"

[[radius.server]]
address = "127.0.0.2"
secret = "two"
auth_port = 11812
acct_port = 0
)");
  ASSERT_TRUE(c.ok()) << c.status();
  const Radius& r = c->radius;
  EXPECT_TRUE(r.enabled());
  EXPECT_EQ(r.nas_identifier, "conc-1");
  EXPECT_EQ(r.nas_ip, 0xc6120001u);
  EXPECT_EQ(r.timeout_ms, 500u);
  EXPECT_EQ(r.retries, 3u);
  EXPECT_EQ(r.dead_time_s, 10u);
  EXPECT_EQ(r.interim_interval_s, 300u);
  EXPECT_EQ(r.acct_max_age_s, 7200u);
  EXPECT_EQ(r.acct_queue_max, 1000u);
  EXPECT_EQ(r.dae_port, 13799);
  EXPECT_EQ(r.dae_address, 0x7f000001u);
  EXPECT_TRUE(r.require_message_authenticator);
  EXPECT_TRUE(r.authentication);
  EXPECT_FALSE(r.accounting);
  ASSERT_EQ(r.servers.size(), 2u);
  EXPECT_EQ(r.servers[0].auth_port, 1812);
  EXPECT_EQ(r.servers[0].acct_port, 1813);
  EXPECT_EQ(r.servers[0].secret, "one");
  EXPECT_EQ(r.servers[1].address, 0x7f000002u);
  EXPECT_EQ(r.servers[1].auth_port, 11812);
  EXPECT_EQ(r.servers[1].acct_port, 0);
}

TEST(RadiusConfig, ErrorsNameFileAndLine) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"[radius]\n", "at least one"},
      {"[radius]\n[[radius.server]]\naddress = \"127.0.0.1\"\n", "secret"},
      {"[radius]\n[[radius.server]]\naddress = \"nope\"\nsecret = \"s\"\n", "IPv4"},
      {"[radius]\n[[radius.server]]\naddress = \"127.0.0.1\"\nsecret = \"\"\n", "empty"},
      {"[radius]\n[[radius.server]]\naddress = \"127.0.0.1\"\nsecret = \"s\"\nauth_port = 0\n"
       "acct_port = 0\n", "auth_port or an acct_port"},
      {"[radius]\ninterim_interval = 5\n[[radius.server]]\naddress = \"127.0.0.1\"\n"
       "secret = \"s\"\n", "interim_interval"},
      {"[radius]\nbogus = 1\n[[radius.server]]\naddress = \"127.0.0.1\"\nsecret = \"s\"\n",
       "bogus"},
  };
  for (const Case& k : cases) {
    auto c = WithRadius(k.text);
    ASSERT_FALSE(c.ok()) << k.text;
    EXPECT_NE(c.status().message().find(k.want), std::string::npos)
        << k.text << " -> " << c.status().message();
    EXPECT_NE(c.status().message().find("test.toml:"), std::string::npos) << c.status().message();
  }
}

TEST(RadiusConfig, RadiusMustBeATable) {
  auto c = ParseConfigString("radius = 3\n" + std::string(kDefaultConfig), "test.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("test.toml:1: radius must be a table"), std::string::npos)
      << c.status().message();
}

}  // namespace
}  // namespace vpn::config

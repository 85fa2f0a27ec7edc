// Shared by the PPP exchange tests (exchange_test.cc, exchange_lifetime_test.cc):
// the configuration with every group/user case, a client factory and a log
// capture sink.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "exchange_harness.h"
#include "vpn/log.h"

namespace vpn::ppp::testing {

using config::AuthMethod;

// RFC 2759 9.2: NtPasswordHash("clientPass"), stored as seed 002's "mschap".
inline constexpr char kClientPassNtHash[] = "44EBBA8D5312B8D611474411F56989AE";

inline config::Config BaseConfig() {
  config::Config c;
  c.ppp.local_ip = Ip(100, 64, 0, 1);
  c.ppp.auth_failure_delay_ms = 1000;
  c.pools.push_back({"main", Ip(100, 64, 0, 10), Ip(100, 64, 0, 40), 1});
  c.pools.push_back({"sales", Ip(100, 64, 1, 1), Ip(100, 64, 1, 3), 2});
  config::Group def;
  def.pool = "main";
  def.dns = {Ip(10, 0, 0, 53), Ip(10, 0, 0, 54)};
  c.groups.push_back(def);
  config::Group sales;
  sales.name = "sales";
  sales.pool = "sales";
  sales.wins = {Ip(10, 0, 0, 137)};
  sales.auth = {AuthMethod::kMschapV2, AuthMethod::kPap};
  sales.max_sessions_per_user = 1;
  c.groups.push_back(sales);
  config::Group eng;  // keeps "@eng" in the name used for lookup
  eng.name = "eng";
  eng.pool = "main";
  eng.strip_group = false;
  c.groups.push_back(eng);
  auto user = [&](std::string name, std::string pw, std::string nt = "",
                  std::string group = "", uint32_t ip = 0) {
    config::User u;
    u.name = std::move(name);
    u.password = std::move(pw);
    u.nt_hash = std::move(nt);
    u.group = std::move(group);
    u.static_ip = ip;
    c.users.push_back(u);
  };
  user("alice", "alice-pw");
  user("User", "", kClientPassNtHash);  // NT hash only
  user("carol", "carol-pw", "", "", Ip(100, 64, 9, 9));
  user("dave", "dave-pw", "", "sales");
  user("erin@eng", "erin-pw");
  return c;
}

inline ClientSettings Client(std::string user, std::string pw,
                      std::vector<AuthMethod> methods = {AuthMethod::kMschapV2}) {
  ClientSettings s;
  s.user = std::move(user);
  s.password = std::move(pw);
  s.methods = std::move(methods);
  return s;
}

// Captured log lines (VPN_LOG sinks are plain function pointers).
inline std::vector<std::string>& Lines() {
  static std::vector<std::string> lines;
  return lines;
}
inline void CaptureSink(log::Subsystem, log::Level, std::string_view line) {
  Lines().emplace_back(line);
}


}  // namespace vpn::ppp::testing

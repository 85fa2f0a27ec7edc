// The PPP world of the ppp_session fuzz target, shared with its seed
// generator (seedgen_ppp.cc) so that every seed is a valid run of the target:
// the harness's SmallWorldConfig plus WINS, an MS-CHAPv2 fallback, timeouts
// and a per-user session limit, so those paths are reachable too.
#pragma once

// By path: controlplane/l2tp has an exchange_harness.h too.
#include "../../controlplane/ppp/exchange_harness.h"

namespace vpn::ppp::testing {

inline config::Config PppSessionFuzzConfig(config::AuthMethod m) {
  config::Config c = SmallWorldConfig(m);
  config::Group& g = c.groups.front();
  g.wins = {Ip(10, 0, 0, 54)};
  g.auth = {m, config::AuthMethod::kMschapV2};
  g.idle_timeout_s = 600;
  g.session_timeout_s = 3600;
  g.max_sessions_per_user = 2;
  return c;
}

inline ClientSettings PppSessionFuzzClient(config::AuthMethod m) {
  ClientSettings s = SmallWorldClient(m);
  s.send_ccp = true;
  s.echo_interval_s = 10;
  return s;
}

}  // namespace vpn::ppp::testing

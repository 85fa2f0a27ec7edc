// What `vpnctl reload` may change in a running control plane, as a pure
// comparison of the running and the newly read configuration.
//
// Applied without touching established sessions:
//   [log] levels                        at once (unlisted subsystems: info)
//   [[user]], [[group]], [ppp] options  new logins / new PPP sessions
//   [[pool]] added                      new sessions may draw from them
//   [ike] PSKs, proposals, lifetimes, DPD, half-open limits
//                                       negotiations started from now on
//   [l2tp] timers, window, hostname     tunnels set up from now on
// Refused, naming what needs a restart (the running config stays):
//   shm_name, control_socket, metrics_listen     control plane restart
//   [dataplane], [[port]], [[route]], source_nat  both processes (sizing,
//                                                 EAL, ports live in the
//                                                 dataplane)
//   [[pool]] removed or range changed, [ppp] local_ip, [l2tp] tunnel_secret,
//   [ike] certificate files                       control plane restart
#pragma once

#include <string>
#include <vector>

#include "vpn/config.h"

namespace vpn::cp {

struct ReloadPlan {
  std::vector<std::string> refused;  // each: what changed and what to restart
  std::vector<std::string> changes;  // each: what will be applied
  bool ok() const { return refused.empty(); }
};

ReloadPlan PlanReload(const config::Config& running, const config::Config& next);

}  // namespace vpn::cp

// Ethernet port bring-up: one RX queue per worker where the device has them
// (RSS on IPv4 addresses), else one; one TX queue per worker plus one for
// housekeeping where possible (threads without a queue send via a ring).
#pragma once

#include <string>

#include <rte_mempool.h>

#include "eal_args.h"
#include "runtime.h"
#include "worker.h"

namespace vpn::dp {

// Configures and starts every config port; fills rt->ports and the queue
// counts in sh. Returns false with *error set.
bool StartPorts(const config::Config& cfg, const EalPlan& plan, rte_mempool* pool,
                Runtime* rt, DataplaneShared* sh, std::string* error);
void StopPorts(const Runtime& rt);

}  // namespace vpn::dp

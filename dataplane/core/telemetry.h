// The dataplane's counters through DPDK's telemetry socket
// (/var/run/dpdk/<file-prefix>/dpdk_telemetry.v2, read with dpdk-telemetry.py
// or any SOCK_SEQPACKET client):
//
//   /vpn/info               ABI, pids, workers, heartbeats, shm name
//   /vpn/counters           every named reason summed over all counter blocks
//   /vpn/workers[,ID]       per worker totals; with ID that worker's reasons
//   /vpn/ports[,NAME|IDX]   per port packets/bytes/drops and link state
//   /vpn/sas                SA table summary (by direction, cipher, totals)
//   /vpn/sa,IDX             one SA: spi, peer, counters summed over workers
//   /vpn/sessions           session table summary
//
// The callbacks run on DPDK's telemetry thread. They read only the shared
// segment (plain counters, seqlocked records) and copies of the start-up
// facts kept here, never the workers' runtime tables, so they need no RCU
// registration and add nothing to the packet path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vpn/shm_segment.h"

namespace vpn::dp {

struct TelemetryPort {
  std::string name;     // config name, e.g. "wan"
  std::string role;     // "wan" / "lan"
  uint16_t port_id = 0; // DPDK ethdev id
};

struct TelemetryFacts {
  const shm::Segment* seg = nullptr;  // must outlive UnregisterTelemetry()
  std::string shm_name;
  std::vector<TelemetryPort> ports;
  std::vector<unsigned> worker_lcores;  // worker w runs on worker_lcores[w]
  unsigned main_lcore = 0;
};

// Registers the /vpn/* commands (once per process) and publishes `facts`.
// Returns false if DPDK refused a registration (telemetry disabled).
bool RegisterTelemetry(TelemetryFacts facts);
// Stops answering (commands then return an error) and waits for a callback
// in flight to finish, so the segment may be unmapped afterwards.
void UnregisterTelemetry();

}  // namespace vpn::dp

// Packet capture for `vpnctl capture` without touching the pipeline: ethdev
// RX/TX callbacks (the hooks DPDK's own pdump uses) on every queue of every
// port copy matching frames into the punt ring of the thread that owns the
// queue (queue q is polled / transmitted by worker q; the housekeeping lcore
// owns the last TX queue), as PuntKind::kCapture. The control plane writes
// the pcapng file.
//
// Costs when no capture runs: one relaxed load per burst per queue. While
// one runs, per frame: a filter test, a token bucket (max_pps per queue
// thread), and a copy of at most snaplen bytes. Frames are never held or
// changed. A capture never fills more than half of a punt ring, so IKE/L2TP
// control punts keep their room; what it skips is counted (capture_skipped).
// Session captures see a session's decrypted inner traffic where it crosses a
// LAN port (IPv4 to or from the session's address); client-to-client
// hairpinned traffic does not cross a port and is not seen.
#pragma once

#include <cstdint>

#include "runtime.h"
#include "vpn/shm_abi.h"
#include "worker.h"

namespace vpn::dp {

// Installs the callbacks on every RX and TX queue of the started ports.
// Returns false (and logs) if DPDK refused one; captures are then
// unavailable but forwarding is unaffected.
bool InstallCaptureTaps(DataplaneShared* sh);
// Removes them (ports stopped, workers joined) and frees their state.
void RemoveCaptureTaps();

// Housekeeping: applies a CaptureRequest from the inject ring. Returns
// inject_sent for a valid request, inject_bad otherwise.
Reason ApplyCaptureRequest(const shm::PacketMeta& meta, const uint8_t* data, uint32_t n_ports);
// Housekeeping: ends a capture whose deadline passed.
void ExpireCapture(uint64_t now_tsc);

// --- For tests -------------------------------------------------------------

// The filter decision for one frame of port `port` (direction kCaptureRx or
// kCaptureTx), given the current capture.
bool CaptureMatches(const uint8_t* frame, uint32_t len, uint8_t port, uint8_t direction);
// The id of the running capture, 0 when none.
uint32_t ActiveCaptureId();

}  // namespace vpn::dp

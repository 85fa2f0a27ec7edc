// The limit: intel-ipsec-mb's chained AES-128-CBC + HMAC-SHA1-96 cost on the
// same buffers the pipeline sees (the ESP part of the precomputed frames,
// copied into mbufs from the same pool, in bursts of 32), with the same SA
// key schedules and the worker's own IMB_MGR, and nothing else: no ESP
// header/trailer logic, no ICV compare, no replay, no L2TP/IP.
#pragma once

#include <cstdint>
#include <vector>

#include "frame_file.h"

struct IMB_MGR;
struct rte_mempool;

namespace vpn::esp {
struct SaContext;
}

namespace vpn::perf {

// kJob / kBurst: every burst of 32 is flushed before the next (the engine's
// contract: a burst's packets are done when the call returns).
// kStream: job API without the per-burst flush; jobs stay in the
// multi-buffer lanes across bursts and only the last burst of a run
// flushes (what DPDK's crypto_aesni_mb PMD does, flushing only when a
// submit round completed nothing): the library's best throughput.
enum class RawApi { kJob, kBurst, kStream };

struct RawRun {
  uint64_t packets = 0;
  uint64_t cycles = 0;  // TSC inside the intel-ipsec-mb calls and job fills
  bool ok = true;       // every job completed
};

// frames[k]: an inbound frame (Eth / IPv4 / UDP 4500 / ESP); sas[k]: the SA
// whose keys to use for it (inbound SA to decrypt+verify, outbound SA to
// encrypt+hash: outbound ESP packets have the same geometry, since both
// directions carry UDP / L2TP / PPP / inner of the same size).
// last: with kStream, flush and free everything still in flight at the end.
RawRun RawCryptoBursts(IMB_MGR* mgr, rte_mempool* pool, const Frames& frames,
                       const std::vector<const esp::SaContext*>& sas, bool decrypt, RawApi api,
                       uint32_t bursts, bool last = true);

}  // namespace vpn::perf

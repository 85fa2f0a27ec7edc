// The engine's use of one intel-ipsec-mb manager's job queue: submitting a
// filled burst, completing the oldest jobs, and keeping the queue from
// wrapping (the intel-ipsec-mb 1.3 queue-size bug described at MakeRoom).
// Inline: these run once per chunk on the ESP hot path (engine.cc).
#pragma once

#include <intel-ipsec-mb.h>

#include <cstdint>
#include <cstring>

#include "esp.h"

namespace vpn::esp::detail {

// Submits jobs[0..n) (taken with IMB_GET_NEXT_BURST and filled) and puts
// every job that completed (these or older ones still in flight) into out[],
// in submission order; returns how many. out: room for n + jobs in flight.
//
// By default the burst goes in unchecked (IMB_SUBMIT_BURST_NOCHECK): the
// engine's prechecks validate every length and the SA fixed the keys, IV and tag
// lengths, which is all intel-ipsec-mb would check, and its check costs ~30
// cycles per job. Engine::Init(/*validate_jobs=*/true) turns its validation
// back on (the tests run both ways).
inline uint32_t SubmitImb(IMB_MGR* m, bool validate, IMB_JOB** jobs, uint32_t n, IMB_JOB** out) {
  if (n == 0) return 0;
  std::memcpy(out, jobs, n * sizeof(IMB_JOB*));
  const uint32_t completed = validate ? IMB_SUBMIT_BURST(m, n, out)
                                      : IMB_SUBMIT_BURST_NOCHECK(m, n, out);
  if (validate && completed == 0 && imb_get_errno(m) != 0) {
    // A job failed validation and nothing was submitted. Submit one by one:
    // the valid jobs still run, the invalid one completes as INVALID_ARGS;
    // then everything in flight is completed (a debugging path).
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; ++i) {
      for (IMB_JOB* j = IMB_SUBMIT_JOB(m); j != nullptr; j = IMB_GET_COMPLETED_JOB(m)) {
        out[k++] = j;
      }
    }
    for (IMB_JOB* j = IMB_FLUSH_JOB(m); j != nullptr; j = IMB_FLUSH_JOB(m)) out[k++] = j;
    return k;
  }
  return completed;
}

// Completes up to max of the oldest jobs in flight (all of them with max =
// in flight), into out[].
inline uint32_t FlushImb(IMB_MGR* m, uint32_t max, IMB_JOB** out) {
  uint32_t k = 0;
  while (k < max) {
    const uint32_t f = IMB_FLUSH_BURST(m, max - k, out + k);
    if (f == 0) break;
    k += f;
  }
  return k;
}

// Before submitting n more jobs: completes the oldest ones so that at most
// Engine::kMaxInFlight stay in flight, and all of them when the n jobs would
// wrap around the end of intel-ipsec-mb's job queue. intel-ipsec-mb 1.3
// computes the queue size as (next - earliest) / sizeof(IMB_JOB) with an
// unsigned divisor, which is wrong once the queue has wrapped (later
// versions cast it to int): IMB_GET_NEXT_BURST would then hand out fewer
// jobs and IMB_FLUSH_BURST could return stale entries. "Wrapped" includes
// next_job landing exactly on the end (it becomes 0 while older jobs are in
// flight). An empty queue restarts at index 0, so never wrapping costs one
// full flush per ~256 jobs.
inline uint32_t MakeRoom(IMB_MGR* m, uint32_t in_flight, uint32_t n, IMB_JOB** out) {
  if (in_flight == 0) {
    // Empty (the job API's flush leaves next_job where it was): restart at
    // index 0 as the burst API itself does when its queue empties.
    if (m->earliest_job < 0) m->next_job = 0;
    return 0;
  }
  const uint32_t next = uint32_t(m->next_job) / uint32_t(sizeof(IMB_JOB));
  if (next + n >= IMB_MAX_JOBS) return FlushImb(m, in_flight, out);
  if (in_flight + n > Engine::kMaxInFlight) {
    return FlushImb(m, in_flight + n - Engine::kMaxInFlight, out);
  }
  return 0;
}

// Whether every job of a submission hashes the same length. Streaming pays
// off when lanes hold jobs of different lengths (a flush then runs the long
// ones with most lanes idle); with equal lengths a flush costs nothing extra,
// and an emptied queue restarts at its first (cache-hot) entries instead of
// walking all 256 IMB_JOBs. So a uniform submission is flushed at once.
inline bool Uniform(IMB_JOB* const* jobs, uint32_t n) {
  const uint64_t len = jobs[0]->msg_len_to_hash_in_bytes;
  for (uint32_t i = 1; i < n; ++i) {
    if (jobs[i]->msg_len_to_hash_in_bytes != len) return false;
  }
  return true;
}

}  // namespace vpn::esp::detail

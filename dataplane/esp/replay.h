// Inbound anti-replay window (RFC 4303 section 3.4.3 and Appendix A).
//
// The bitmap is a ring of 64-bit words indexed by seq / 64 (the layout of
// RFC 6479): sliding the window by a large jump clears at most the whole
// ring, never shifts bits. The ring has at least ceil(W/64) + 1 words, so
// every sequence number inside (top - W, top] has its own bit.
//
// Check() runs before decryption and again after the ICV verified (two
// packets of one burst may carry the same number); Accept() runs only after
// the ICV verified (RFC 4303 3.4.3: "the receive window is updated only if
// the integrity verification succeeds").
#pragma once

#include <cstdint>

#include "esp.h"

namespace vpn::esp::detail {

// top: the highest authenticated sequence number (SaCounters::replay_top).
inline Reason ReplayCheck(const SaParams& p, uint64_t top, const ReplayState& r,
                          uint32_t seq) {
  if (p.replay_window == 0) return kOk;
  // RFC 4303 3.3.3: the first packet sent on an SA has sequence number 1,
  // so 0 never belongs to a valid packet.
  if (seq == 0) return Reason::k_esp_too_old;
  if (seq > top) return kOk;
  if (top - seq >= p.replay_window) return Reason::k_esp_too_old;
  const uint64_t word = r.bitmap[(seq >> 6) & p.replay_word_mask];
  return ((word >> (seq & 63)) & 1) != 0 ? Reason::k_esp_replayed : kOk;
}

inline void ReplayAccept(const SaParams& p, uint64_t& top, ReplayState& r, uint32_t seq) {
  if (p.replay_window == 0) return;
  const uint64_t index = seq >> 6;
  if (seq > top) {
    const uint64_t top_index = top >> 6;
    uint64_t stale = index - top_index;  // words that now enter the window
    if (stale > p.replay_word_mask + 1ull) stale = p.replay_word_mask + 1ull;
    for (uint64_t i = 1; i <= stale; ++i) {
      r.bitmap[(top_index + i) & p.replay_word_mask] = 0;
    }
    top = seq;
  }
  r.bitmap[index & p.replay_word_mask] |= uint64_t{1} << (seq & 63);
}

}  // namespace vpn::esp::detail

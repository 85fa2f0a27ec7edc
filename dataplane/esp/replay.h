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

// The window's right edge lives in the SA's counter line (SaCounters): top
// = replay_top, the highest authenticated sequence number, and its word
// replay_top_word. The ring slot of top's word is stale while top is in it;
// the word goes back to its slot when top moves to a later word. In-order
// traffic thus reads and writes the counter line only, 63 packets in 64.

inline Reason ReplayCheck(const SaParams& p, const SaCounters& c, const ReplayState& r,
                          uint32_t seq) {
  if (p.replay_window == 0) return kOk;
  // RFC 4303 3.3.3: the first packet sent on an SA has sequence number 1,
  // so 0 never belongs to a valid packet.
  if (seq == 0) return Reason::k_esp_too_old;
  const uint64_t top = c.replay_top;
  if (seq > top) return kOk;
  if (top - seq >= p.replay_window) return Reason::k_esp_too_old;
  const uint64_t word = (seq >> 6) == (top >> 6) ? c.replay_top_word
                                                 : r.bitmap[(seq >> 6) & p.replay_word_mask];
  return ((word >> (seq & 63)) & 1) != 0 ? Reason::k_esp_replayed : kOk;
}

// Whether ReplayAccept(seq) touches the ring (for prefetching its slot).
inline bool ReplayTouchesRing(const SaCounters& c, uint32_t seq) {
  return (seq >> 6) != (c.replay_top >> 6);
}

inline void ReplayAccept(const SaParams& p, SaCounters& c, ReplayState& r, uint32_t seq) {
  if (p.replay_window == 0) return;
  const uint64_t bit = uint64_t{1} << (seq & 63);
  const uint64_t index = seq >> 6;
  const uint64_t top_index = c.replay_top >> 6;
  if (index == top_index) {
    c.replay_top_word |= bit;
    if (seq > c.replay_top) c.replay_top = seq;
    return;
  }
  if (seq < c.replay_top) {  // an earlier word, inside the window (checked)
    r.bitmap[index & p.replay_word_mask] |= bit;
    return;
  }
  // top moves to a later word: its word goes back to the ring, the words
  // between (now entering the window) are cleared, at most the whole ring
  // (which also clears the old top word's slot when the jump leaves it
  // out of the window).
  r.bitmap[top_index & p.replay_word_mask] = c.replay_top_word;
  uint64_t between = index - top_index - 1;
  if (between > p.replay_word_mask + 1ull) between = p.replay_word_mask + 1ull;
  for (uint64_t i = 1; i <= between; ++i) r.bitmap[(top_index + i) & p.replay_word_mask] = 0;
  c.replay_top_word = bit;
  c.replay_top = seq;
}

}  // namespace vpn::esp::detail

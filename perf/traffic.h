// The bench topology and its precomputed traffic.
//
// WAN 198.18.0.1/24 (gateway .254), clients at 198.18.1.0 + i behind it,
// LAN 10.10.0.1/24 with one host 10.10.0.2, pool 100.64.0.1 + i. Session i
// (0-based) lives in session slot i + 1; its SAs (slot 0 is never used,
// brief.md) are AES-128-CBC + HMAC-SHA1-96 transport mode in UDP 4500
// (seed 004) with per-SA keys, in one of two slot layouts:
//   split:        inbound 1 + i, outbound 1 + S + i (inbound owners, index %
//                 workers, alternate between workers);
//   interleaved:  inbound 2i + 1, outbound 2i + 2, the order the control plane
//                 allocates in today (inbound SPI at negotiation, outbound at
//                 install), which gives every inbound SA the same parity.
//
// Client to network ("inbound"): Eth / IPv4 / UDP 4500 / ESP( UDP 1701 /
//   L2TP data (RFC 2661 3.1, no length, no sequence) / PPP FF03 0021 /
//   inner IPv4 of inner_bytes ), sequence numbers 1, 2, ... per SA in frame
//   order.
// Network to client ("outbound"): Eth / inner IPv4 of inner_bytes from the
//   LAN host to the session's pool address.
// Frame k belongs to session k % S, so one pass over the frames touches
// every session. The frames are fed in FeedOrder: round after round, each
// round visiting its sessions in one fixed random order.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <string>
#include <vector>

#include "frame_file.h"
#include "vpn/shm_abi.h"

namespace vpn::perf {

inline constexpr uint8_t kWanMac[6] = {2, 0, 0, 0, 0, 1};
inline constexpr uint8_t kLanMac[6] = {2, 0, 0, 0, 0, 2};
inline constexpr uint8_t kGwMac[6] = {2, 0, 0, 0, 0, 0xFE};
inline constexpr uint8_t kHostMac[6] = {2, 0, 0, 0, 0, 0x10};
inline constexpr uint32_t kWanIpH = 0xC6120001;   // 198.18.0.1
inline constexpr uint32_t kGwIpH = 0xC61200FE;    // 198.18.0.254
inline constexpr uint32_t kLanIpH = 0x0A0A0001;   // 10.10.0.1
inline constexpr uint32_t kHostIpH = 0x0A0A0002;  // 10.10.0.2
inline constexpr uint32_t kPoolFirstH = 0x64400001;  // 100.64.0.1
inline constexpr uint32_t kMaxSessions = 131000;  // clients stay in 198.18/15

struct Plan {
  uint32_t sessions = 1;
  bool interleaved = false;

  static uint32_t ClientIpH(uint32_t i) { return 0xC6120100 + i; }
  static uint32_t AssignedIpH(uint32_t i) { return kPoolFirstH + i; }
  static uint32_t SessionSlot(uint32_t i) { return i + 1; }
  static uint16_t TunnelId(uint32_t i) { return uint16_t(1 + i % 65000); }
  static uint16_t SessionId(uint32_t i) { return uint16_t(1 + i / 65000); }
  uint32_t InSa(uint32_t i) const { return interleaved ? 2 * i + 1 : 1 + i; }
  uint32_t OutSa(uint32_t i) const { return interleaved ? 2 * i + 2 : 1 + sessions + i; }
  // Below 2^31: ipsec-secgw reads SPIs with atoi().
  uint32_t InSpi(uint32_t i) const { return shm::MakeSpi(InSa(i), 0x100 + i % 0x600); }
  static uint32_t OutSpi(uint32_t i) { return 0x10000000 + i; }
  uint32_t max_sas() const { return 2 * sessions + 2; }
  uint32_t max_sessions() const { return sessions + 2; }

  // Inbound: what the client encrypts with (its outbound SA) uses the same
  // keys and SPI as our inbound record; replay_window is ours (0 = off).
  // (Out parameters: the records hold an atomic and cannot be copied.)
  void SaRec(uint32_t i, shm::SaDir dir, uint32_t replay_window, shm::SaRecord* r) const;
  void SessionRec(uint32_t i, shm::SessionRecord* s) const;
};

// A frame count >= max(sessions, min_frames), a multiple of 32 (one burst).
uint32_t FrameCount(uint32_t sessions, uint32_t min_frames);

// The order a pass feeds frames 0..n_frames-1 in: round r holds frames
// r*S .. r*S + S-1 (one per session, the last round possibly partial),
// visited in one fixed pseudo-random permutation of the sessions (seed 1,
// the same every run), rounds in order, so each SA's sequence numbers still
// arrive in order. Consecutive packets belong to sessions whose slots,
// records and SA contexts are unrelated in memory, as with real clients:
// in index order (k % S) the hardware's stride prefetchers learned the
// next session's lines and hid most misses at 100k sessions (docs/perf.md
// "Session 10").
std::vector<uint32_t> FeedOrder(uint32_t n_frames, uint32_t sessions);

// Inner IPv4/UDP packet of exactly `bytes` (>= 28) with a checksum.
Frame InnerIpv4(uint32_t src_h, uint32_t dst_h, uint32_t bytes, uint32_t seed);

// UDP 1701 / L2TP data / PPP / inner (the ESP payload).
Frame L2tpPayload(uint32_t session, const Frame& inner);

// Eth / IPv4 / l4 with a valid header checksum.
Frame EthIpv4(const uint8_t* dst_mac, const uint8_t* src_mac, uint32_t src_h, uint32_t dst_h,
              uint8_t proto, const uint8_t* l4, size_t l4_len);

// The traffic of one run: `sizes` gives each frame's inner bytes.
// Inbound frames are encrypted with our ESP engine (keys of Plan::SaRec).
bool BuildInbound(const Plan& plan, const std::vector<uint32_t>& sizes, Frames* out);
Frames BuildOutbound(const Plan& plan, const std::vector<uint32_t>& sizes);

// ESP-only peer (ipsec-secgw) equivalents with the same ESP payload:
// inbound: our inbound frames as raw ESP (IP protocol 50, the same ESP
// bytes without the UDP 4500 header); outbound: Eth / IPv4 (wan -> client) /
// UDP 1701 / L2TP / PPP / inner, i.e. what secgw must put in ESP transport.
Frames SecgwInbound(const Frames& ours);
Frames SecgwOutbound(const Plan& plan, const std::vector<uint32_t>& sizes);
// An ipsec-secgw config (sa/sp/rt) for session 0 of `plan`.
std::string SecgwConfig(const Plan& plan);

}  // namespace vpn::perf

// IPv4 reassembly of fragments addressed to the WAN port (RFC 791 section
// 3.2, RFC 815): raw ESP (protocol 50) and UDP (4500 NAT-T, but also 500 and
// clear 1701: the port is only known once the first fragment is there).
// Clients behind links with an MTU below 1500 (PPPoE, mobile) send ESP that
// the path fragments.
//
// DPDK's librte_ip_frag does the bookkeeping: one table and one death row
// per worker, created at start-up, so the packet path never allocates. The
// table is bounded (DataplaneShared::frag_entries) and every datagram must
// complete within frag_timeout_ms. RSS hashes on the IPv4 addresses only
// (ports.cc: RTE_ETH_RSS_IP), so every fragment of a datagram reaches the
// same queue and so the same worker; the reassembled packet then takes the
// ordinary path, including the hand-off to its SA's owner worker.
//
// The library says nothing about why it dropped something; what it put on
// the death row during one call tells us (see CountFragmentDrops' callers).
// We validate what it does not (zero length, unaligned middle fragments,
// datagrams over 64 KiB or over fragment_max_datagram), so its failures are
// limited to a full table, expiry and inconsistent (overlapping/duplicate)
// fragments.
//
// Size: a datagram that fits one ordinary buffer (2048 bytes from the
// Ethernet header: any ESP of a 1400-byte PPP MTU, 1488 to about 1510 bytes) is
// linearised into its first fragment's buffer; a larger one (jumbo, up to
// fragment_max_datagram = 9216) arrives from the library as a chain of
// fragment buffers and is copied once into a buffer of the jumbo pool, since
// the ESP and L2TP paths work on contiguous data.

// rte_ip_frag_table_del_expired_entries is experimental in DPDK 22.11.
#define ALLOW_EXPERIMENTAL_API 1

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_ip_frag.h>
#include <rte_mbuf.h>

#include <cstring>

#include "net_headers.h"
#include "worker.h"

namespace vpn::dp {
namespace {

// librte_ip_frag's default associativity is 16 in its examples; 8 ways in
// each of two buckets is plenty at the load we allow (max_entries is a
// quarter of the slots).
constexpr uint32_t kBucketEntries = 8;
// The most one reassembly call can put on the death row: an expired entry
// it recycles and an erroneous one it frees, each up to MAX_FRAG mbufs,
// plus the fragment itself.
constexpr uint32_t kDeathRowPerCall = 2 * (RTE_LIBRTE_IP_FRAG_MAX_FRAG + 1);

// Fragments (mbufs) in a death-row entry: a chain when the library had
// started linking the datagram before it found a hole.
uint32_t Segments(rte_mbuf* const* row, uint32_t from, uint32_t to, const rte_mbuf* find,
                  bool* found) {
  uint32_t n = 0;
  for (uint32_t i = from; i < to; ++i) {
    for (const rte_mbuf* s = row[i]; s; s = s->next) {
      ++n;
      if (s == find) *found = true;
    }
  }
  return n;
}

}  // namespace

void Worker::InitReassembly() {
  frag_max_frame_ = sh_->pool ? rte_pktmbuf_data_room_size(sh_->pool) - RTE_PKTMBUF_HEADROOM : 0;
  // Housekeeping (id n_workers) never receives from a port.
  if (!sh_->reassemble || id_ >= sh_->n_workers) return;
  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t timeout = hz * sh_->frag_timeout_ms / 1000;
  // Expiry is checked eight times per timeout: a datagram is dropped at most
  // 1/8 of the timeout late.
  frag_scan_cycles_ = timeout / 8;
  const uint32_t entries = sh_->frag_entries < 16 ? 16 : sh_->frag_entries;
  const uint32_t buckets = rte_align32pow2((entries + kBucketEntries - 1) / kBucketEntries * 2);
  frag_tbl_ = rte_ip_frag_table_create(buckets, kBucketEntries, entries, timeout,
                                       int(rte_socket_id()));
}

Worker::~Worker() {
  if (frag_dr_.cnt) rte_ip_frag_free_death_row(&frag_dr_, 0);
  // Frees the fragments still waiting, back to their pool.
  if (frag_tbl_) rte_ip_frag_table_destroy(frag_tbl_);
}

void Worker::CountFragmentDrops(uint32_t from, Reason r) {
  bool unused = false;
  const uint32_t n = Segments(frag_dr_.row, from, frag_dr_.cnt, nullptr, &unused);
  ctr_->reason[static_cast<uint32_t>(r)] += n;
}

rte_mbuf* Worker::Reassemble(rte_mbuf* m, Ipv4Hdr* ip, uint32_t ihl, uint32_t total) {
  if (!frag_tbl_) {
    Drop(m, Reason::k_rx_ip_fragment);
    return nullptr;
  }
  const uint16_t fo = Be16(ip->frag);
  const uint32_t ofs = uint32_t(fo & kIpOffsetMask) * 8u;
  const uint32_t len = total - ihl;
  const bool more = fo & kIpMf;
  // RFC 791: every fragment but the last carries a multiple of 8 bytes; the
  // datagram cannot exceed 65535 bytes (a "ping of death" would).
  if (len == 0 || (more && len % 8 != 0) || ofs + len + ihl > 0xFFFF) {
    Drop(m, Reason::k_rx_ip_fragment_bad);
    return nullptr;
  }
  // Config fragment_max_datagram bounds the datagram (header included).
  if (ihl + ofs + len > sh_->frag_max_datagram) {
    Drop(m, Reason::k_rx_ip_fragment_too_large);
    return nullptr;
  }
  if (frag_dr_.cnt + kDeathRowPerCall > RTE_IP_FRAG_DEATH_ROW_MBUF_LEN)
    rte_ip_frag_free_death_row(&frag_dr_, 0);
  m->l2_len = sizeof(EthHdr);
  m->l3_len = ihl;
  const uint32_t before = frag_dr_.cnt;
  rte_mbuf* out = rte_ipv4_frag_reassemble_packet(frag_tbl_, &frag_dr_, m, tsc_now_,
                                                  reinterpret_cast<rte_ipv4_hdr*>(ip));
  if (frag_dr_.cnt != before) {
    bool mine = false;
    const uint32_t n = Segments(frag_dr_.row, before, frag_dr_.cnt, m, &mine);
    Reason r;
    if (out || !mine)
      r = Reason::k_rx_ip_fragment_timeout;  // an expired entry was recycled
    else if (n == 1)
      r = Reason::k_rx_ip_fragment_table_full;  // only this fragment: no entry
    else
      r = Reason::k_rx_ip_fragment_bad;  // the datagram and this fragment
    ctr_->reason[static_cast<uint32_t>(r)] += n;
  }
  if (!out) return nullptr;
  if (out->nb_segs != 1) {
    // The whole datagram in one buffer: the first fragment's when it fits,
    // else a copy in a jumbo buffer (the pipeline needs contiguous data).
    if (rte_pktmbuf_pkt_len(out) <= frag_max_frame_) {
      if (rte_pktmbuf_linearize(out) != 0) {
        Drop(out, Reason::k_rx_ip_fragment_too_large);
        return nullptr;
      }
    } else {
      out = CopyToJumbo(out);
      if (!out) return nullptr;
    }
  }
  // The library leaves the header checksum zero.
  auto* rip = rte_pktmbuf_mtod_offset(out, Ipv4Hdr*, sizeof(EthHdr));
  rip->csum = 0;
  rip->csum = Ipv4HeaderCsum(rip);
  Count(Reason::k_rx_ip_fragment_reassembled);
  return out;
}

rte_mbuf* Worker::CopyToJumbo(rte_mbuf* chain) {
  rte_mbuf* j = sh_->jumbo_pool ? rte_pktmbuf_alloc(sh_->jumbo_pool) : nullptr;
  const uint32_t len = rte_pktmbuf_pkt_len(chain);
  if (!j || len + kJumboTailroom > rte_pktmbuf_tailroom(j)) {
    if (j) rte_pktmbuf_free(j);
    Drop(chain, sh_->jumbo_pool ? Reason::k_rx_ip_fragment_no_jumbo_buffer
                                : Reason::k_rx_ip_fragment_too_large);
    return nullptr;
  }
  auto* dst = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(j, uint16_t(len)));
  const void* src = rte_pktmbuf_read(chain, 0, len, dst);
  if (src != dst) std::memcpy(dst, src, len);  // contiguous: read gave a pointer
  j->port = chain->port;
  j->hash = chain->hash;
  j->l2_len = chain->l2_len;
  j->l3_len = chain->l3_len;
  rte_pktmbuf_free(chain);
  return j;
}

void Worker::FragmentTick(uint64_t now) {
  if (!frag_tbl_) return;
  if (now >= frag_next_expiry_) {
    frag_next_expiry_ = now + frag_scan_cycles_;
    const uint32_t before = frag_dr_.cnt;
    rte_ip_frag_table_del_expired_entries(frag_tbl_, &frag_dr_, now);
    if (frag_dr_.cnt != before) CountFragmentDrops(before, Reason::k_rx_ip_fragment_timeout);
  }
  if (frag_dr_.cnt) rte_ip_frag_free_death_row(&frag_dr_, 3);
}

}  // namespace vpn::dp

// The shared-memory contract between vpn-dataplane and vpn-controlplane.
//
// One POSIX shared-memory segment holds every record both processes see.
// Everything here is plain data: fixed-size, indexed, no pointers, so the two
// processes may map it at different addresses and either may be restarted
// while the other keeps running. docs/shm-abi.md describes the rules; the
// static_asserts at the bottom pin the layout so that a change that alters it
// without bumping kAbiVersion fails to compile.
//
// Ownership (one writer per region):
//   header.cp_*            control plane
//   header.dp_*            dataplane housekeeping lcore
//   sa table, session table, update rings, inject ring   control plane writes
//   punt rings, counter blocks                          dataplane writes
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace vpn::shm {

inline constexpr uint64_t kMagic = 0x314e505650543256ULL;  // "V2TPVPN1"
// Bump on any change to a record below. A process of another version refuses
// to attach (see SharedSegment::Attach).
#ifdef VPN_SHM_ABI_VERSION_OVERRIDE  // only for the ABI-mismatch test binary
inline constexpr uint32_t kAbiVersion = VPN_SHM_ABI_VERSION_OVERRIDE;
#else
inline constexpr uint32_t kAbiVersion = 2;
#endif

inline constexpr uint32_t kMaxWorkers = 16;
inline constexpr uint32_t kInvalidIndex = 0xFFFFFFFFu;

// Inbound SPIs carry the SA table index in their low bits and a random check
// part above it, so the dataplane finds the SA in O(1) and rejects guesses.
inline constexpr uint32_t kSpiIndexBits = 20;
inline constexpr uint32_t kSpiIndexMask = (1u << kSpiIndexBits) - 1;
inline constexpr uint32_t SpiIndex(uint32_t spi) { return spi & kSpiIndexMask; }
inline constexpr uint32_t MakeSpi(uint32_t index, uint32_t check) {
  // check must be non-zero in the top 12 bits, so SPI > 255 (RFC 4303 2.1).
  return (check << kSpiIndexBits) | (index & kSpiIndexMask);
}

// --- Algorithms ------------------------------------------------------------

enum class Cipher : uint8_t {
  kNull = 0,
  kAesCbc = 1,     // RFC 3602, key 16/24/32
  kDes3Cbc = 2,    // RFC 2451, key 24
  kDesCbc = 3,     // RFC 2405, key 8
  kAesGcm16 = 4,   // RFC 4106, key 16/32 + 4-byte salt, 16-byte ICV
};

enum class Integ : uint8_t {
  kNone = 0,             // only valid with AES-GCM
  kHmacSha1_96 = 1,      // RFC 2404, key 20
  kHmacSha256_128 = 2,   // RFC 4868, key 32
  kHmacSha384_192 = 3,   // RFC 4868, key 48
  kHmacSha512_256 = 4,   // RFC 4868, key 64
  kHmacSha256_96 = 5,    // draft-ietf-ipsec-ciph-sha-256-00, old Linux/Android
};

enum class Encap : uint8_t {
  kNone = 0,  // raw ESP, IP protocol 50
  kUdp = 1,   // RFC 3948 UDP-encapsulated ESP (NAT-T)
};

enum class SaDir : uint8_t { kInbound = 0, kOutbound = 1 };

enum class SlotState : uint8_t {
  kFree = 0,
  kActive = 1,
  // Deleted by the control plane; the slot may be reused only once
  // header.dp_quiesced_epoch >= free_epoch (every worker passed a quiescent
  // point after it noticed the deletion).
  kFreePending = 2,
};

// --- Records ---------------------------------------------------------------

// One ESP SA. Written by the control plane under a seqlock: `seq` is odd while
// the record is being written. Readers copy the record and retry if seq was
// odd or changed (see ReadSaConsistent in shm_segment.h).
struct alignas(64) SaRecord {
  std::atomic<uint32_t> seq;
  SlotState state;
  SaDir dir;
  Cipher cipher;
  Integ integ;

  uint32_t spi;             // host order
  uint8_t cipher_key_len;   // bytes, excluding the GCM salt
  uint8_t integ_key_len;    // bytes
  Encap encap;
  uint8_t flags;            // kSaFlag*

  uint32_t local_ip;        // network order, outer addresses
  uint32_t peer_ip;         // network order
  uint16_t local_port;      // network order; UDP ports when encap == kUdp
  uint16_t peer_port;       // network order
  uint32_t replay_window;   // inbound: bits, 0 disables anti-replay

  uint32_t paired_index;    // the other direction of the same CHILD/QM SA
  uint32_t free_epoch;      // with kFreePending
  uint64_t owner_cookie;    // opaque to the dataplane: control-plane IKE SA id

  uint64_t soft_bytes;      // 0 = unlimited
  uint64_t hard_bytes;
  uint64_t soft_packets;
  uint64_t hard_packets;

  uint8_t cipher_key[32];
  uint8_t salt[4];          // AES-GCM nonce salt (RFC 4106 section 4)
  // Which occupant of the slot this is: the control plane makes it differ
  // from the slot's previous record on every install (never on updates of
  // the same SA). Counter rows carry the generation they count for; see
  // CountersFor below. 0 = not tracked (rows are never reset).
  uint32_t generation;
  uint8_t reserved0[8];
  uint8_t integ_key[64];
  uint8_t reserved1[32];
};

inline constexpr uint8_t kSaFlagEsn = 0x01;        // not negotiated by IKEv1
inline constexpr uint8_t kSaFlagAllowWeak = 0x02;  // DES/3DES permitted

// One L2TP session in the dataplane. Control-plane written, seqlocked like
// SaRecord. The dataplane indexes it by (local tunnel id, local session id)
// for client-to-network traffic and by assigned_ip for network-to-client.
struct alignas(64) SessionRecord {
  std::atomic<uint32_t> seq;
  SlotState state;
  uint8_t flags;            // kSessionFlag*
  uint16_t mru;             // PPP MRU negotiated, e.g. 1400 (seed 004)

  uint16_t local_tunnel_id;   // ours, what the client puts in its headers
  uint16_t local_session_id;
  uint16_t peer_tunnel_id;    // the client's, what we put in ours
  uint16_t peer_session_id;

  uint32_t inbound_sa;      // SA index the client's packets must arrive on
  uint32_t outbound_sa;     // SA index we encrypt with; kInvalidIndex = clear
  uint32_t assigned_ip;     // network order, from IPCP
  uint32_t peer_ip;         // outer (public) address of the client, network order

  uint16_t peer_port;       // outer L2TP UDP source port of the client (n.o.)
  uint16_t reserved0;
  uint32_t free_epoch;
  uint64_t owner_cookie;    // control-plane session id

  uint16_t ns_next;         // unused unless kSessionFlagSequencing
  uint16_t reserved1;
  // During a phase 2 rekey the client may use the old or the new inbound SA
  // until the old one is deleted: L2TP data arriving through either belongs
  // to this session. kInvalidIndex (or 0) when there is no rekey in flight.
  uint32_t inbound_sa_alt;
  uint32_t generation;      // as SaRecord::generation
};

inline constexpr uint8_t kSessionFlagSequencing = 0x01;  // L2TP S bit on data
inline constexpr uint8_t kSessionFlagAcfc = 0x02;  // peer accepts no FF03
inline constexpr uint8_t kSessionFlagPfc = 0x04;   // peer accepts 1-byte proto
inline constexpr uint8_t kSessionFlagClamp = 0x08; // clamp TCP MSS on SYN

// --- Counters --------------------------------------------------------------

// Per slot, per worker: one row per worker, written only by that worker.
// A row belongs to one generation of its slot (SaRecord/SessionRecord::
// generation): the first time a worker counts for a newer generation it
// zeroes its own row and then publishes the generation (CountersFor), so a
// reused slot starts from zero without a second writer. Readers sum only the
// rows whose generation equals the record's (CountersBelong): a worker that
// has not counted for the new occupant yet still holds the old one's counts.
struct alignas(64) SaCounters {
  uint64_t packets;
  uint64_t bytes;
  uint64_t drops;
  uint64_t last_seen_tsc;
  uint64_t generation;  // published last (release) by the row's writer
  uint64_t reserved[3];
};

struct alignas(64) SessionCounters {
  uint64_t rx_packets;  // client to network
  uint64_t rx_bytes;
  uint64_t tx_packets;  // network to client
  uint64_t tx_bytes;
  uint64_t generation;
  uint64_t reserved[3];
};

// Writer side (the row's own worker), before counting for a record of
// generation `gen`. Off the fast path after the first packet of a generation.
// A row only moves forward (wrap-around compare): a worker still finishing a
// burst with an older occupant (impossible after quiescence, but cheap to
// guard) counts into the row rather than resetting it back.
template <class Row>
inline Row& CountersFor(Row& row, uint32_t gen) {
  const uint64_t have = row.generation;
  if (__builtin_expect(have != gen, 0) && int32_t(gen - uint32_t(have)) > 0) {
    const uint64_t keep = gen;
    static_assert(offsetof(Row, generation) == 32);
    std::memset(static_cast<void*>(&row), 0, offsetof(Row, generation));
    // Zeros before the generation: a reader that sees `gen` sees them.
    __atomic_store_n(&row.generation, keep, __ATOMIC_RELEASE);
  }
  return row;
}

// Reader side: whether a row counts for the record of generation `gen`
// (every row when the record does not track generations).
template <class Row>
inline bool CountersBelong(const Row& row, uint32_t gen) {
  return gen == 0 || __atomic_load_n(&row.generation, __ATOMIC_ACQUIRE) == gen;
}

struct PortCounters {
  uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes, tx_dropped;
  uint64_t reserved[3];
};

inline constexpr uint32_t kMaxPorts = 4;
// Counter slots reserved for the X-macro list in drop_reasons.def; a static
// assert in counters.h checks the list fits.
inline constexpr uint32_t kMaxCounterReasons = 128;

// Written only by its worker, without atomics (aligned 64-bit stores are
// single-copy atomic on x86-64); readers sum over workers.
struct alignas(64) WorkerCounters {
  uint64_t loops;
  uint64_t rx_packets;
  uint64_t tx_packets;
  uint64_t reserved[5];
  uint64_t reason[kMaxCounterReasons];
  PortCounters ports[kMaxPorts];
};

// --- Rings -----------------------------------------------------------------

// Single-producer single-consumer ring of fixed-size slots. head is written by
// the producer only, tail by the consumer only, each on its own cache line.
struct alignas(64) RingHeader {
  uint32_t slot_size;   // bytes per slot including RingSlotHeader
  uint32_t slot_count;  // power of two
  uint8_t pad0[56];
  alignas(64) std::atomic<uint64_t> head;  // next slot the producer fills
  uint8_t pad1[56];
  alignas(64) std::atomic<uint64_t> tail;  // next slot the consumer reads
  uint8_t pad2[56];
  alignas(64) std::atomic<uint64_t> dropped;  // producer: ring full
  uint8_t pad3[56];
};

// What a punted packet is (dataplane to control plane).
enum class PuntKind : uint16_t {
  kIke = 1,          // data = IKE message (non-ESP marker removed)
  kL2tpControl = 2,  // data = L2TP message from its header
  kPppControl = 3,   // data = PPP frame from the protocol field (FF03 gone,
                     // protocol decompressed to two bytes)
  kSaSoftLifetime = 4,  // no data; sa_index reached its soft limit
  kSaHardLifetime = 5,  // no data; sa_index expired and now drops
  kSaSeqOverflow = 6,   // no data; outbound sequence space exhausted
  // data = a frame copied by a running capture (CaptureRequest), from its
  // Ethernet header, cut at the capture's snaplen. meta.port = port index,
  // meta.flags has kMetaCaptureTx when the frame was being transmitted,
  // meta.session_index = the capture id, meta.sa_index = the frame's full
  // length, meta.tsc = when the worker saw it (header.dp_tsc_hz).
  kCapture = 7,
};

// What an injected packet is (control plane to dataplane).
enum class InjectKind : uint16_t {
  // data = UDP payload; sent from local_ip:local_port to peer_ip:peer_port on
  // the WAN port. With local_port 4500 the dataplane prepends the non-ESP
  // marker (RFC 3948 section 2.2).
  kUdpRaw = 1,
  // data = L2TP control message; sent as UDP 1701 inside ESP with sa_index
  // (outbound), or in clear if sa_index is kInvalidIndex.
  kL2tpViaSa = 2,
  // data = PPP frame from the protocol field; encapsulated into session
  // session_index (L2TP data header, UDP, ESP with the session's SA).
  kPppViaSession = 3,
  // 4 = kInjectCaptureControl below: consumed by the dataplane's housekeeping
  // before the pipeline, so kept out of this enum's exhaustive switches.
};
// data = CaptureRequest: start or stop copying frames (PuntKind::kCapture).
// Nothing is sent.
inline constexpr uint16_t kInjectCaptureControl = 4;

// A capture the control plane asks for (vpnctl capture). The dataplane runs
// at most one; a start replaces a running one, a stop ends it. It also ends
// by itself at its deadline, so a capture cannot outlive a dead control
// plane by more than duration_ms.
struct CaptureRequest {
  uint32_t id;            // non-zero; echoed in every punted frame
  uint8_t op;             // kCaptureStart / kCaptureStop
  uint8_t directions;     // kCaptureRx | kCaptureTx
  uint16_t snaplen;       // bytes per frame, <= kMaxPacketData
  uint32_t port_mask;     // bit i = port index i
  uint32_t ip;            // network order; non-zero: only IPv4 frames with
                          // this source or destination address
  uint32_t max_pps;       // per worker; frames beyond are skipped (counted)
  uint32_t duration_ms;   // the dataplane stops by itself after this
  uint8_t reserved[40];
};
inline constexpr uint8_t kCaptureStart = 1;
inline constexpr uint8_t kCaptureStop = 2;
inline constexpr uint8_t kCaptureRx = 0x01;
inline constexpr uint8_t kCaptureTx = 0x02;

// Precedes every punt/inject payload inside a slot.
struct alignas(64) PacketMeta {
  uint16_t kind;          // PuntKind or InjectKind
  uint8_t port;           // port index the packet arrived on
  uint8_t worker;         // worker that punted it
  uint16_t length;        // bytes of data following this header
  uint16_t flags;         // kMeta*
  uint32_t sa_index;      // inbound SA it was decrypted with / outbound SA
  uint32_t session_index; // dataplane session slot, or kInvalidIndex
  uint32_t outer_src_ip;  // network order: outer IPv4 header of the packet
  uint32_t outer_dst_ip;
  uint16_t outer_src_port;  // network order, 0 if not UDP
  uint16_t outer_dst_port;
  uint16_t tunnel_id;     // L2TP header values, host order
  uint16_t l2tp_session_id;
  uint32_t inner_src_ip;  // network order: the IPv4 header inside ESP
  uint32_t inner_dst_ip;
  uint16_t inner_src_port;  // network order
  uint16_t inner_dst_port;
  uint64_t tsc;
  uint8_t reserved[8];
};

inline constexpr uint16_t kMetaNatT = 0x0001;       // arrived in UDP 4500
inline constexpr uint16_t kMetaViaEsp = 0x0002;     // was inside ESP
inline constexpr uint16_t kMetaClearText = 0x0004;  // L2TP without IPsec
inline constexpr uint16_t kMetaCaptureTx = 0x0008;  // kCapture: transmitted

inline constexpr uint32_t kPuntSlotSize = 8192;
inline constexpr uint32_t kPuntSlots = 512;   // per worker
inline constexpr uint32_t kInjectSlotSize = 8192;
inline constexpr uint32_t kInjectSlots = 1024;
inline constexpr uint32_t kUpdateSlots = 4096;  // SA/session change notices
inline constexpr uint32_t kMaxPacketData = kPuntSlotSize - sizeof(PacketMeta);

// A change notice: "record `index` of `table` changed". The dataplane's
// housekeeping lcore consumes these and rebuilds its lookup structures.
enum class UpdateTable : uint32_t { kSa = 1, kSession = 2 };
struct UpdateNotice {
  UpdateTable table;
  uint32_t index;
};

// --- Header ----------------------------------------------------------------

struct alignas(64) Header {
  uint64_t magic;            // written last by the creator
  uint32_t abi_version;
  uint32_t header_size;
  uint64_t segment_size;
  uint32_t max_sas;
  uint32_t max_sessions;
  uint32_t n_workers;        // worker counter blocks / punt rings in use
  uint32_t reserved0;

  // Byte offsets from the start of the segment.
  uint64_t sa_table_offset;
  uint64_t session_table_offset;
  uint64_t worker_counters_offset;   // kMaxWorkers x WorkerCounters
  uint64_t sa_counters_offset;       // kMaxWorkers x max_sas x SaCounters
  uint64_t session_counters_offset;  // kMaxWorkers x max_sessions x ...
  uint64_t punt_rings_offset;        // kMaxWorkers rings
  uint64_t punt_ring_stride;
  uint64_t inject_ring_offset;
  uint64_t update_ring_offset;
  uint64_t reserved1[5];

  // Control-plane region.
  alignas(64) std::atomic<uint64_t> cp_pid;
  std::atomic<uint64_t> cp_heartbeat;     // bumped every second
  std::atomic<uint32_t> cp_epoch;         // bumped after every deletion
  std::atomic<uint32_t> cp_update_overflow;  // set when the update ring filled

  // Dataplane region.
  alignas(64) std::atomic<uint64_t> dp_pid;
  std::atomic<uint64_t> dp_heartbeat;
  std::atomic<uint32_t> dp_quiesced_epoch;  // every worker passed cp_epoch
  std::atomic<uint32_t> dp_ready;           // ports up, workers polling
  std::atomic<uint64_t> dp_tsc_hz;
  uint8_t pad[24];
};

static_assert(std::is_standard_layout_v<SaRecord>);
static_assert(sizeof(std::atomic<uint32_t>) == 4);
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(sizeof(SaRecord) == 256, "bump kAbiVersion when changing");
static_assert(offsetof(SaRecord, cipher_key) == 80);
static_assert(sizeof(SessionRecord) == 64, "bump kAbiVersion when changing");
static_assert(sizeof(PacketMeta) == 64);
static_assert(sizeof(RingHeader) == 256);
static_assert(sizeof(WorkerCounters) == 64 + 8 * kMaxCounterReasons + 64 * kMaxPorts);
static_assert(sizeof(Header) == 320, "bump kAbiVersion when changing");
static_assert(sizeof(UpdateNotice) == 8);
static_assert(sizeof(SaCounters) == 64 && sizeof(SessionCounters) == 64);
static_assert(offsetof(SaRecord, generation) == 116);
static_assert(sizeof(CaptureRequest) == 64);

}  // namespace vpn::shm

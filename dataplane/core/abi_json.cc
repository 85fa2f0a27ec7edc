#include "abi_json.h"

#include <cstddef>
#include <sstream>

#include "vpn/reasons.h"
#include "vpn/shm_abi.h"

namespace vpn::dp {
namespace {

using namespace vpn::shm;

struct FieldOut {
  std::ostringstream& os;
  bool first = true;
  void Add(const char* name, size_t off, size_t size) {
    os << (first ? "" : ",") << "\n      \"" << name << "\": {\"offset\": " << off
       << ", \"size\": " << size << "}";
    first = false;
  }
};

#define VPN_FIELD(T, f) fo.Add(#f, offsetof(T, f), sizeof(T::f))

void Record(std::ostringstream& os, bool& first, const char* name, size_t size,
            size_t align, void (*fields)(FieldOut&)) {
  os << (first ? "" : ",") << "\n    \"" << name << "\": {\"size\": " << size
     << ", \"align\": " << align << ", \"fields\": {";
  FieldOut fo{os};
  fields(fo);
  os << "}}";
  first = false;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
void SaFields(FieldOut& fo) {
  VPN_FIELD(SaRecord, seq); VPN_FIELD(SaRecord, state); VPN_FIELD(SaRecord, dir);
  VPN_FIELD(SaRecord, cipher); VPN_FIELD(SaRecord, integ); VPN_FIELD(SaRecord, spi);
  VPN_FIELD(SaRecord, cipher_key_len); VPN_FIELD(SaRecord, integ_key_len);
  VPN_FIELD(SaRecord, encap); VPN_FIELD(SaRecord, flags); VPN_FIELD(SaRecord, local_ip);
  VPN_FIELD(SaRecord, peer_ip); VPN_FIELD(SaRecord, local_port);
  VPN_FIELD(SaRecord, peer_port); VPN_FIELD(SaRecord, replay_window);
  VPN_FIELD(SaRecord, paired_index); VPN_FIELD(SaRecord, free_epoch);
  VPN_FIELD(SaRecord, owner_cookie); VPN_FIELD(SaRecord, soft_bytes);
  VPN_FIELD(SaRecord, hard_bytes); VPN_FIELD(SaRecord, soft_packets);
  VPN_FIELD(SaRecord, hard_packets); VPN_FIELD(SaRecord, cipher_key);
  VPN_FIELD(SaRecord, salt); VPN_FIELD(SaRecord, generation);
  VPN_FIELD(SaRecord, reserved0);
  VPN_FIELD(SaRecord, integ_key); VPN_FIELD(SaRecord, reserved1);
}
void SessionFields(FieldOut& fo) {
  VPN_FIELD(SessionRecord, seq); VPN_FIELD(SessionRecord, state);
  VPN_FIELD(SessionRecord, flags); VPN_FIELD(SessionRecord, mru);
  VPN_FIELD(SessionRecord, local_tunnel_id); VPN_FIELD(SessionRecord, local_session_id);
  VPN_FIELD(SessionRecord, peer_tunnel_id); VPN_FIELD(SessionRecord, peer_session_id);
  VPN_FIELD(SessionRecord, inbound_sa); VPN_FIELD(SessionRecord, outbound_sa);
  VPN_FIELD(SessionRecord, assigned_ip); VPN_FIELD(SessionRecord, peer_ip);
  VPN_FIELD(SessionRecord, peer_port); VPN_FIELD(SessionRecord, reserved0);
  VPN_FIELD(SessionRecord, free_epoch); VPN_FIELD(SessionRecord, owner_cookie);
  VPN_FIELD(SessionRecord, ns_next); VPN_FIELD(SessionRecord, reserved1);
  VPN_FIELD(SessionRecord, inbound_sa_alt); VPN_FIELD(SessionRecord, generation);
}
void SaCounterFields(FieldOut& fo) {
  VPN_FIELD(SaCounters, packets); VPN_FIELD(SaCounters, bytes);
  VPN_FIELD(SaCounters, drops); VPN_FIELD(SaCounters, last_seen_tsc);
  VPN_FIELD(SaCounters, generation); VPN_FIELD(SaCounters, reserved);
}
void SessionCounterFields(FieldOut& fo) {
  VPN_FIELD(SessionCounters, rx_packets); VPN_FIELD(SessionCounters, rx_bytes);
  VPN_FIELD(SessionCounters, tx_packets); VPN_FIELD(SessionCounters, tx_bytes);
  VPN_FIELD(SessionCounters, generation); VPN_FIELD(SessionCounters, reserved);
}
void PortCounterFields(FieldOut& fo) {
  VPN_FIELD(PortCounters, rx_packets); VPN_FIELD(PortCounters, rx_bytes);
  VPN_FIELD(PortCounters, tx_packets); VPN_FIELD(PortCounters, tx_bytes);
  VPN_FIELD(PortCounters, tx_dropped); VPN_FIELD(PortCounters, reserved);
}
void WorkerCounterFields(FieldOut& fo) {
  VPN_FIELD(WorkerCounters, loops); VPN_FIELD(WorkerCounters, rx_packets);
  VPN_FIELD(WorkerCounters, tx_packets); VPN_FIELD(WorkerCounters, reserved);
  VPN_FIELD(WorkerCounters, reason); VPN_FIELD(WorkerCounters, ports);
}
void RingFields(FieldOut& fo) {
  VPN_FIELD(RingHeader, slot_size); VPN_FIELD(RingHeader, slot_count);
  VPN_FIELD(RingHeader, pad0); VPN_FIELD(RingHeader, head); VPN_FIELD(RingHeader, pad1);
  VPN_FIELD(RingHeader, tail); VPN_FIELD(RingHeader, pad2);
  VPN_FIELD(RingHeader, dropped); VPN_FIELD(RingHeader, pad3);
}
void MetaFields(FieldOut& fo) {
  VPN_FIELD(PacketMeta, kind); VPN_FIELD(PacketMeta, port); VPN_FIELD(PacketMeta, worker);
  VPN_FIELD(PacketMeta, length); VPN_FIELD(PacketMeta, flags);
  VPN_FIELD(PacketMeta, sa_index); VPN_FIELD(PacketMeta, session_index);
  VPN_FIELD(PacketMeta, outer_src_ip); VPN_FIELD(PacketMeta, outer_dst_ip);
  VPN_FIELD(PacketMeta, outer_src_port); VPN_FIELD(PacketMeta, outer_dst_port);
  VPN_FIELD(PacketMeta, tunnel_id); VPN_FIELD(PacketMeta, l2tp_session_id);
  VPN_FIELD(PacketMeta, inner_src_ip); VPN_FIELD(PacketMeta, inner_dst_ip);
  VPN_FIELD(PacketMeta, inner_src_port); VPN_FIELD(PacketMeta, inner_dst_port);
  VPN_FIELD(PacketMeta, tsc); VPN_FIELD(PacketMeta, reserved);
}
void UpdateFields(FieldOut& fo) {
  VPN_FIELD(UpdateNotice, table); VPN_FIELD(UpdateNotice, index);
}
void HeaderFields(FieldOut& fo) {
  VPN_FIELD(Header, magic); VPN_FIELD(Header, abi_version); VPN_FIELD(Header, header_size);
  VPN_FIELD(Header, segment_size); VPN_FIELD(Header, max_sas); VPN_FIELD(Header, max_sessions);
  VPN_FIELD(Header, n_workers); VPN_FIELD(Header, reserved0);
  VPN_FIELD(Header, sa_table_offset); VPN_FIELD(Header, session_table_offset);
  VPN_FIELD(Header, worker_counters_offset); VPN_FIELD(Header, sa_counters_offset);
  VPN_FIELD(Header, session_counters_offset); VPN_FIELD(Header, punt_rings_offset);
  VPN_FIELD(Header, punt_ring_stride); VPN_FIELD(Header, inject_ring_offset);
  VPN_FIELD(Header, update_ring_offset); VPN_FIELD(Header, reserved1);
  VPN_FIELD(Header, cp_pid); VPN_FIELD(Header, cp_heartbeat); VPN_FIELD(Header, cp_epoch);
  VPN_FIELD(Header, cp_update_overflow); VPN_FIELD(Header, dp_pid);
  VPN_FIELD(Header, dp_heartbeat); VPN_FIELD(Header, dp_quiesced_epoch);
  VPN_FIELD(Header, dp_ready); VPN_FIELD(Header, dp_tsc_hz); VPN_FIELD(Header, pad);
}
#pragma GCC diagnostic pop

}  // namespace

std::string AbiJson() {
  std::ostringstream os;
  os << "{\n  \"abi_version\": " << kAbiVersion << ",\n  \"magic\": " << kMagic
     << ",\n  \"records\": {";
  bool first = true;
  Record(os, first, "SaRecord", sizeof(SaRecord), alignof(SaRecord), SaFields);
  Record(os, first, "SessionRecord", sizeof(SessionRecord), alignof(SessionRecord), SessionFields);
  Record(os, first, "SaCounters", sizeof(SaCounters), alignof(SaCounters), SaCounterFields);
  Record(os, first, "SessionCounters", sizeof(SessionCounters), alignof(SessionCounters),
         SessionCounterFields);
  Record(os, first, "PortCounters", sizeof(PortCounters), alignof(PortCounters), PortCounterFields);
  Record(os, first, "WorkerCounters", sizeof(WorkerCounters), alignof(WorkerCounters),
         WorkerCounterFields);
  Record(os, first, "RingHeader", sizeof(RingHeader), alignof(RingHeader), RingFields);
  Record(os, first, "PacketMeta", sizeof(PacketMeta), alignof(PacketMeta), MetaFields);
  Record(os, first, "UpdateNotice", sizeof(UpdateNotice), alignof(UpdateNotice), UpdateFields);
  Record(os, first, "Header", sizeof(Header), alignof(Header), HeaderFields);
  os << "\n  },\n  \"constants\": {"
     << "\"kMaxWorkers\": " << kMaxWorkers << ", \"kInvalidIndex\": " << kInvalidIndex
     << ", \"kSpiIndexBits\": " << kSpiIndexBits << ", \"kMaxPorts\": " << kMaxPorts
     << ", \"kMaxCounterReasons\": " << kMaxCounterReasons
     << ", \"kPuntSlotSize\": " << kPuntSlotSize << ", \"kPuntSlots\": " << kPuntSlots
     << ", \"kInjectSlotSize\": " << kInjectSlotSize << ", \"kInjectSlots\": " << kInjectSlots
     << ", \"kUpdateSlots\": " << kUpdateSlots << ", \"kMaxPacketData\": " << kMaxPacketData
     << ", \"kSaFlagEsn\": " << int(kSaFlagEsn) << ", \"kSaFlagAllowWeak\": " << int(kSaFlagAllowWeak)
     << ", \"kSessionFlagSequencing\": " << int(kSessionFlagSequencing)
     << ", \"kSessionFlagAcfc\": " << int(kSessionFlagAcfc)
     << ", \"kSessionFlagPfc\": " << int(kSessionFlagPfc)
     << ", \"kSessionFlagClamp\": " << int(kSessionFlagClamp)
     << ", \"kMetaNatT\": " << kMetaNatT << ", \"kMetaViaEsp\": " << kMetaViaEsp
     << ", \"kMetaClearText\": " << kMetaClearText << "},\n";
  os << "  \"enums\": {"
     << "\"SlotState\": {\"kFree\": 0, \"kActive\": 1, \"kFreePending\": 2}, "
     << "\"SaDir\": {\"kInbound\": 0, \"kOutbound\": 1}, "
     << "\"Encap\": {\"kNone\": 0, \"kUdp\": 1}, "
     << "\"Cipher\": {\"kNull\": 0, \"kAesCbc\": 1, \"kDes3Cbc\": 2, \"kDesCbc\": 3, \"kAesGcm16\": 4}, "
     << "\"Integ\": {\"kNone\": 0, \"kHmacSha1_96\": 1, \"kHmacSha256_128\": 2, "
        "\"kHmacSha384_192\": 3, \"kHmacSha512_256\": 4, \"kHmacSha256_96\": 5}, "
     << "\"PuntKind\": {\"kIke\": 1, \"kL2tpControl\": 2, \"kPppControl\": 3, "
        "\"kSaSoftLifetime\": 4, \"kSaHardLifetime\": 5, \"kSaSeqOverflow\": 6}, "
     << "\"InjectKind\": {\"kUdpRaw\": 1, \"kL2tpViaSa\": 2, \"kPppViaSession\": 3}, "
     << "\"UpdateTable\": {\"kSa\": 1, \"kSession\": 2}},\n";
  static_assert(static_cast<int>(PuntKind::kSaSeqOverflow) == 6);
  static_assert(static_cast<int>(InjectKind::kPppViaSession) == 3);
  static_assert(static_cast<int>(Cipher::kAesGcm16) == 4);
  static_assert(static_cast<int>(Integ::kHmacSha256_96) == 5);
  os << "  \"reasons\": [";
  for (uint32_t i = 0; i < kReasonCount; ++i)
    os << (i ? ", " : "") << "\"" << kReasonInfo[i].name << "\"";
  os << "]\n}\n";
  return os.str();
}

}  // namespace vpn::dp

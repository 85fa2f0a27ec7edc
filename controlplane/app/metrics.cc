#include "metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "vpn/reasons.h"

namespace vpn::metrics {

std::string Writer::EscapeLabel(std::string_view v) {
  std::string o;
  o.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      o += "\\\\";
    } else if (c == '"') {
      o += "\\\"";
    } else if (c == '\n') {
      o += "\\n";
    } else {
      o += c;
    }
  }
  return o;
}

std::string Writer::EscapeHelp(std::string_view v) {
  std::string o;
  for (char c : v) {
    if (c == '\\') {
      o += "\\\\";
    } else if (c == '\n') {
      o += "\\n";
    } else {
      o += c;
    }
  }
  return o;
}

void Writer::Family(std::string_view name, Type type, std::string_view help) {
  family_ = std::string(name);
  absl::StrAppend(&out_, "# HELP ", family_, " ", EscapeHelp(help), "\n# TYPE ", family_,
                  type == Type::kCounter ? " counter\n" : " gauge\n");
}

void Writer::Line(const Labels& labels, const std::string& value) {
  out_ += family_;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      absl::StrAppend(&out_, i ? "," : "", labels[i].first, "=\"", EscapeLabel(labels[i].second),
                      "\"");
    }
    out_ += '}';
  }
  absl::StrAppend(&out_, " ", value, "\n");
}

void Writer::Sample(const Labels& labels, uint64_t value) { Line(labels, absl::StrCat(value)); }

void Writer::Sample(const Labels& labels, double value) {
  Line(labels, absl::StrFormat("%.17g", value));
}

namespace {

uint64_t Load(const uint64_t& v) { return __atomic_load_n(&v, __ATOMIC_RELAXED); }

const char* SevName(Severity s) {
  switch (s) {
    case Severity::k_info: return "info";
    case Severity::k_drop: return "drop";
    default: return "error";
  }
}

const char* CipherName(shm::Cipher c) {
  switch (c) {
    case shm::Cipher::kAesCbc: return "aes-cbc";
    case shm::Cipher::kDes3Cbc: return "3des-cbc";
    case shm::Cipher::kDesCbc: return "des-cbc";
    case shm::Cipher::kAesGcm16: return "aes-gcm16";
    default: return "null";
  }
}

}  // namespace

void AppendDataplane(const shm::Segment& seg, const std::vector<std::string>& port_names,
                     Writer* w) {
  const shm::Header& h = seg.header();
  const uint32_t blocks = std::min(h.n_workers, shm::kMaxWorkers);
  using T = Writer::Type;
  auto worker_label = [&](uint32_t i) {
    // The last block is the housekeeping lcore's (injected packets, ARP).
    return i + 1 == blocks ? std::string("housekeeping") : absl::StrCat(i);
  };

  w->Family("vpn_dataplane_up", T::kGauge,
            "1 when a dataplane process is attached and ready (ports up, workers polling)");
  w->Sample({}, uint64_t(h.dp_pid.load() != 0 && h.dp_ready.load() != 0));
  w->Family("vpn_dataplane_heartbeat_total", T::kCounter,
            "Dataplane housekeeping heartbeats (one per second while it runs)");
  w->Sample({}, h.dp_heartbeat.load());
  w->Family("vpn_shm_abi_version", T::kGauge, "Shared-memory ABI version of the segment");
  w->Sample({}, uint64_t(h.abi_version));

  struct WorkerField {
    const char* name;
    const char* help;
    uint64_t shm::WorkerCounters::*field;
  };
  const WorkerField wf[] = {
      {"vpn_worker_rx_packets_total", "Packets received from the ports by a worker",
       &shm::WorkerCounters::rx_packets},
      {"vpn_worker_tx_packets_total", "Packets queued for transmission by a worker",
       &shm::WorkerCounters::tx_packets},
      {"vpn_worker_loops_total", "Poll-loop iterations of a worker",
       &shm::WorkerCounters::loops},
  };
  for (const WorkerField& f : wf) {
    w->Family(f.name, T::kCounter, f.help);
    for (uint32_t i = 0; i < blocks; ++i)
      w->Sample({{"worker", worker_label(i)}}, Load(seg.worker_counters(i).*f.field));
  }

  w->Family("vpn_dataplane_reason_total", T::kCounter,
            "Dataplane events and drops by reason (drop_reasons.def) and worker; severity "
            "drop/error means the packet was discarded");
  for (uint32_t r = 0; r < kReasonCount; ++r) {
    const ReasonInfo& ri = kReasonInfo[r];
    for (uint32_t i = 0; i < blocks; ++i) {
      w->Sample({{"reason", std::string(ri.name)},
                 {"severity", SevName(ri.severity)},
                 {"worker", worker_label(i)}},
                Load(seg.worker_counters(i).reason[r]));
    }
  }

  struct PortField {
    const char* name;
    const char* help;
    uint64_t shm::PortCounters::*field;
  };
  const PortField pf[] = {
      {"vpn_port_rx_packets_total", "Packets received on a port", &shm::PortCounters::rx_packets},
      {"vpn_port_rx_bytes_total", "Bytes received on a port", &shm::PortCounters::rx_bytes},
      {"vpn_port_tx_packets_total", "Packets sent on a port", &shm::PortCounters::tx_packets},
      {"vpn_port_tx_bytes_total", "Bytes sent on a port", &shm::PortCounters::tx_bytes},
      {"vpn_port_tx_dropped_total", "Packets the port's transmit queue refused",
       &shm::PortCounters::tx_dropped},
  };
  const uint32_t n_ports =
      std::min<uint32_t>(port_names.empty() ? shm::kMaxPorts : uint32_t(port_names.size()),
                         shm::kMaxPorts);
  for (const PortField& f : pf) {
    w->Family(f.name, T::kCounter, f.help);
    for (uint32_t p = 0; p < n_ports; ++p) {
      uint64_t sum = 0;
      for (uint32_t i = 0; i < blocks; ++i) sum += Load(seg.worker_counters(i).ports[p].*f.field);
      w->Sample({{"port", p < port_names.size() ? port_names[p] : absl::StrCat(p)}}, sum);
    }
  }

  // SA table: gauges by direction and cipher; packets/bytes of live SAs.
  uint64_t sas[2][5] = {}, pending = 0;
  uint64_t sa_packets[2] = {}, sa_bytes[2] = {}, sa_drops[2] = {};
  for (uint32_t i = 1; i < h.max_sas; ++i) {
    const shm::SaRecord& r = seg.sa(i);
    const shm::SlotState st = r.state;
    if (st == shm::SlotState::kFreePending) ++pending;
    if (st != shm::SlotState::kActive) continue;
    const int d = r.dir == shm::SaDir::kInbound ? 0 : 1;
    const uint8_t c = static_cast<uint8_t>(r.cipher);
    ++sas[d][c < 5 ? c : 0];
    for (uint32_t k = 0; k < blocks; ++k) {
      const shm::SaCounters& sc = seg.sa_counters(k)[i];
      if (!shm::CountersBelong(sc, r.generation)) continue;  // an earlier SA's
      sa_packets[d] += Load(sc.packets);
      sa_bytes[d] += Load(sc.bytes);
      sa_drops[d] += Load(sc.drops);
    }
  }
  w->Family("vpn_esp_sas", T::kGauge, "Active ESP SAs in the dataplane by direction and cipher");
  for (int d = 0; d < 2; ++d)
    for (uint8_t c = 0; c < 5; ++c)
      w->Sample({{"direction", d ? "out" : "in"}, {"cipher", CipherName(shm::Cipher(c))}},
                sas[d][c]);
  w->Family("vpn_esp_sa_slots", T::kGauge, "ESP SA table slots by state");
  w->Sample({{"state", "free_pending"}}, pending);
  w->Sample({{"state", "capacity"}}, uint64_t(h.max_sas));
  struct SaSum {
    const char* name;
    const char* help;
    uint64_t* v;
  };
  const SaSum ss[] = {
      {"vpn_esp_live_sa_packets", "Packets through the currently active ESP SAs (gauge: drops "
                                  "when SAs are deleted)", sa_packets},
      {"vpn_esp_live_sa_bytes", "Bytes through the currently active ESP SAs", sa_bytes},
      {"vpn_esp_live_sa_drops", "Drops charged to the currently active ESP SAs", sa_drops},
  };
  for (const SaSum& s : ss) {
    w->Family(s.name, T::kGauge, s.help);
    w->Sample({{"direction", "in"}}, s.v[0]);
    w->Sample({{"direction", "out"}}, s.v[1]);
  }

  uint64_t sessions = 0;
  for (uint32_t i = 1; i < h.max_sessions; ++i)
    sessions += seg.session(i).state == shm::SlotState::kActive;
  w->Family("vpn_dataplane_sessions", T::kGauge, "Sessions installed in the dataplane");
  w->Sample({}, sessions);
  w->Family("vpn_dataplane_session_capacity", T::kGauge, "Dataplane session table slots");
  w->Sample({}, uint64_t(h.max_sessions));
}

}  // namespace vpn::metrics

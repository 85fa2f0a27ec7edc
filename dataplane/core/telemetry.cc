#include "telemetry.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <rte_ethdev.h>
#include <rte_telemetry.h>

#include "vpn/reasons.h"

namespace vpn::dp {
namespace {

// The facts the callbacks read. Swapped only by Register/Unregister; a
// callback holds g_inflight while it uses them.
std::atomic<const TelemetryFacts*> g_facts{nullptr};
std::atomic<int> g_inflight{0};
bool g_registered = false;

class Use {
 public:
  Use() {
    g_inflight.fetch_add(1);  // seq_cst: pairs with the exchange below
    f_ = g_facts.load();
  }
  ~Use() { g_inflight.fetch_sub(1); }
  const TelemetryFacts* get() const { return f_; }

 private:
  const TelemetryFacts* f_;
};

uint32_t Blocks(const shm::Segment& s) {
  return std::min(s.header().n_workers, shm::kMaxWorkers);
}

// Worker counter blocks are written without atomics by their one writer;
// aligned 64-bit loads see a value it stored (shm_abi.h).
uint64_t Load(const uint64_t& v) { return __atomic_load_n(&v, __ATOMIC_RELAXED); }

const char* CipherName(shm::Cipher c) {
  switch (c) {
    case shm::Cipher::kAesCbc: return "aes_cbc";
    case shm::Cipher::kDes3Cbc: return "3des_cbc";
    case shm::Cipher::kDesCbc: return "des_cbc";
    case shm::Cipher::kAesGcm16: return "aes_gcm16";
    default: return "null";
  }
}

bool ParseIndex(const char* params, uint32_t* out) {
  if (!params || !*params) return false;
  char* end = nullptr;
  unsigned long v = std::strtoul(params, &end, 10);
  if (*end != '\0' || v > 0xFFFFFFFFul) return false;
  *out = uint32_t(v);
  return true;
}

int Info(const char*, const char*, rte_tel_data* d) {
  Use u;
  if (!u.get()) return -EAGAIN;
  const shm::Header& h = u.get()->seg->header();
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_string(d, "shm_name", u.get()->shm_name.c_str());
  rte_tel_data_add_dict_u64(d, "abi_version", h.abi_version);
  rte_tel_data_add_dict_u64(d, "dataplane_pid", h.dp_pid.load());
  rte_tel_data_add_dict_u64(d, "controlplane_pid", h.cp_pid.load());
  rte_tel_data_add_dict_u64(d, "dataplane_ready", h.dp_ready.load());
  rte_tel_data_add_dict_u64(d, "dataplane_heartbeat", h.dp_heartbeat.load());
  rte_tel_data_add_dict_u64(d, "controlplane_heartbeat", h.cp_heartbeat.load());
  rte_tel_data_add_dict_u64(d, "workers", u.get()->worker_lcores.size());
  rte_tel_data_add_dict_u64(d, "counter_blocks", h.n_workers);
  rte_tel_data_add_dict_u64(d, "max_sas", h.max_sas);
  rte_tel_data_add_dict_u64(d, "max_sessions", h.max_sessions);
  rte_tel_data_add_dict_u64(d, "tsc_hz", h.dp_tsc_hz.load());
  return 0;
}

int Counters(const char*, const char*, rte_tel_data* d) {
  Use u;
  if (!u.get()) return -EAGAIN;
  const shm::Segment& s = *u.get()->seg;
  rte_tel_data_start_dict(d);
  for (uint32_t r = 0; r < kReasonCount; ++r) {
    uint64_t sum = 0;
    for (uint32_t w = 0; w < Blocks(s); ++w) sum += Load(s.worker_counters(w).reason[r]);
    rte_tel_data_add_dict_u64(d, std::string(kReasonInfo[r].name).c_str(), sum);
  }
  return 0;
}

void AddReasons(rte_tel_data* d, const shm::WorkerCounters& c) {
  for (uint32_t r = 0; r < kReasonCount; ++r)
    rte_tel_data_add_dict_u64(d, std::string(kReasonInfo[r].name).c_str(), Load(c.reason[r]));
}

int Workers(const char*, const char* params, rte_tel_data* d) {
  Use u;
  if (!u.get()) return -EAGAIN;
  const TelemetryFacts& f = *u.get();
  const shm::Segment& s = *f.seg;
  rte_tel_data_start_dict(d);
  uint32_t one;
  if (params && *params) {
    if (!ParseIndex(params, &one) || one >= Blocks(s)) return -EINVAL;
    const shm::WorkerCounters& c = s.worker_counters(one);
    rte_tel_data_add_dict_u64(d, "loops", Load(c.loops));
    rte_tel_data_add_dict_u64(d, "rx_packets", Load(c.rx_packets));
    rte_tel_data_add_dict_u64(d, "tx_packets", Load(c.tx_packets));
    AddReasons(d, c);
    return 0;
  }
  // Flattened "ID/field" keys: 22.11 containers cannot hold dictionaries.
  for (uint32_t w = 0; w < Blocks(s); ++w) {
    const shm::WorkerCounters& c = s.worker_counters(w);
    uint64_t by_sev[3] = {};
    for (uint32_t r = 0; r < kReasonCount; ++r)
      by_sev[static_cast<int>(kReasonInfo[r].severity)] += Load(c.reason[r]);
    const bool hk = w >= f.worker_lcores.size();
    const unsigned lcore = hk ? f.main_lcore : f.worker_lcores[w];
    char k[64];
    auto add = [&](const char* field, uint64_t v) {
      std::snprintf(k, sizeof k, "%u/%s", w, field);
      rte_tel_data_add_dict_u64(d, k, v);
    };
    add("lcore", lcore);
    add("housekeeping", hk);
    add("loops", Load(c.loops));
    add("rx_packets", Load(c.rx_packets));
    add("tx_packets", Load(c.tx_packets));
    add("drops", by_sev[static_cast<int>(Severity::k_drop)]);
    add("errors", by_sev[static_cast<int>(Severity::k_error)]);
  }
  return 0;
}

int Ports(const char*, const char* params, rte_tel_data* d) {
  Use u;
  if (!u.get()) return -EAGAIN;
  const TelemetryFacts& f = *u.get();
  const shm::Segment& s = *f.seg;
  size_t first = 0, last = f.ports.size();
  const bool one = params && *params;
  if (one) {
    uint32_t idx;
    bool found = false;
    for (size_t i = 0; i < f.ports.size() && !found; ++i)
      if (f.ports[i].name == params) found = (first = i, true);
    if (!found && ParseIndex(params, &idx) && idx < f.ports.size()) found = (first = idx, true);
    if (!found) return -EINVAL;
    last = first + 1;
  }
  rte_tel_data_start_dict(d);
  for (size_t i = first; i < last && i < shm::kMaxPorts; ++i) {
    shm::PortCounters sum{};
    for (uint32_t w = 0; w < Blocks(s); ++w) {
      const shm::PortCounters& c = s.worker_counters(w).ports[i];
      sum.rx_packets += Load(c.rx_packets);
      sum.rx_bytes += Load(c.rx_bytes);
      sum.tx_packets += Load(c.tx_packets);
      sum.tx_bytes += Load(c.tx_bytes);
      sum.tx_dropped += Load(c.tx_dropped);
    }
    rte_eth_link link{};
    const bool link_ok = rte_eth_link_get_nowait(f.ports[i].port_id, &link) == 0;
    rte_eth_stats st{};
    const bool st_ok = rte_eth_stats_get(f.ports[i].port_id, &st) == 0;
    char k[64];
    auto add = [&](const char* field, uint64_t v) {
      if (one) {
        rte_tel_data_add_dict_u64(d, field, v);
      } else {
        std::snprintf(k, sizeof k, "%s/%s", f.ports[i].name.c_str(), field);
        rte_tel_data_add_dict_u64(d, k, v);
      }
    };
    if (one) {
      rte_tel_data_add_dict_string(d, "name", f.ports[i].name.c_str());
      rte_tel_data_add_dict_string(d, "role", f.ports[i].role.c_str());
    }
    add("port_id", f.ports[i].port_id);
    add("rx_packets", sum.rx_packets);
    add("rx_bytes", sum.rx_bytes);
    add("tx_packets", sum.tx_packets);
    add("tx_bytes", sum.tx_bytes);
    add("tx_dropped", sum.tx_dropped);
    // What the NIC itself counted (missed = RX ring overruns).
    add("nic_rx_missed", st_ok ? st.imissed : 0);
    add("nic_rx_errors", st_ok ? st.ierrors : 0);
    add("nic_rx_nombuf", st_ok ? st.rx_nombuf : 0);
    add("link_up", link_ok && link.link_status == RTE_ETH_LINK_UP);
    add("link_speed_mbps", link_ok ? link.link_speed : 0);
  }
  return 0;
}

int Sas(const char*, const char*, rte_tel_data* d) {
  Use u;
  if (!u.get()) return -EAGAIN;
  const shm::Segment& s = *u.get()->seg;
  const shm::Header& h = s.header();
  uint64_t in = 0, out = 0, pending = 0, natt = 0, by_cipher[5] = {};
  uint64_t packets = 0, bytes = 0, drops = 0;
  for (uint32_t i = 1; i < h.max_sas; ++i) {
    const shm::SaRecord& r = s.sa(i);
    const shm::SlotState st = r.state;
    if (st == shm::SlotState::kFreePending) ++pending;
    if (st != shm::SlotState::kActive) continue;
    (r.dir == shm::SaDir::kInbound ? in : out)++;
    if (r.encap == shm::Encap::kUdp) ++natt;
    const uint8_t c = static_cast<uint8_t>(r.cipher);
    if (c < 5) ++by_cipher[c];
    for (uint32_t w = 0; w < Blocks(s); ++w) {
      const shm::SaCounters& c2 = s.sa_counters(w)[i];
      if (!shm::CountersBelong(c2, r.generation)) continue;  // an earlier SA's
      packets += Load(c2.packets);
      bytes += Load(c2.bytes);
      drops += Load(c2.drops);
    }
  }
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "max_sas", h.max_sas);
  rte_tel_data_add_dict_u64(d, "active_inbound", in);
  rte_tel_data_add_dict_u64(d, "active_outbound", out);
  rte_tel_data_add_dict_u64(d, "free_pending", pending);
  rte_tel_data_add_dict_u64(d, "udp_encap", natt);
  for (uint8_t c = 0; c < 5; ++c) {
    char k[48];
    std::snprintf(k, sizeof k, "cipher/%s", CipherName(shm::Cipher(c)));
    rte_tel_data_add_dict_u64(d, k, by_cipher[c]);
  }
  rte_tel_data_add_dict_u64(d, "packets", packets);
  rte_tel_data_add_dict_u64(d, "bytes", bytes);
  rte_tel_data_add_dict_u64(d, "drops", drops);
  return 0;
}

int OneSa(const char*, const char* params, rte_tel_data* d) {
  Use u;
  if (!u.get()) return -EAGAIN;
  const shm::Segment& s = *u.get()->seg;
  uint32_t i;
  if (!ParseIndex(params, &i) || i == 0 || i >= s.header().max_sas) return -EINVAL;
  shm::SaRecord r;
  if (!shm::ReadConsistent(s.sa(i), &r)) return -EAGAIN;
  shm::SaCounters sum{};
  for (uint32_t w = 0; w < Blocks(s); ++w) {
    const shm::SaCounters& c = s.sa_counters(w)[i];
    if (!shm::CountersBelong(c, r.generation)) continue;
    sum.packets += Load(c.packets);
    sum.bytes += Load(c.bytes);
    sum.drops += Load(c.drops);
  }
  char ip[INET_ADDRSTRLEN];
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_string(
      d, "state",
      r.state == shm::SlotState::kActive ? "active"
      : r.state == shm::SlotState::kFreePending ? "free_pending" : "free");
  rte_tel_data_add_dict_string(d, "dir", r.dir == shm::SaDir::kInbound ? "in" : "out");
  rte_tel_data_add_dict_u64(d, "spi", r.spi);
  rte_tel_data_add_dict_string(d, "cipher", CipherName(r.cipher));
  inet_ntop(AF_INET, &r.peer_ip, ip, sizeof ip);
  rte_tel_data_add_dict_string(d, "peer", ip);
  rte_tel_data_add_dict_u64(d, "peer_port", ntohs(r.peer_port));
  rte_tel_data_add_dict_u64(d, "udp_encap", r.encap == shm::Encap::kUdp);
  rte_tel_data_add_dict_u64(d, "paired_index", r.paired_index);
  rte_tel_data_add_dict_u64(d, "packets", sum.packets);
  rte_tel_data_add_dict_u64(d, "bytes", sum.bytes);
  rte_tel_data_add_dict_u64(d, "drops", sum.drops);
  return 0;
}

int Sessions(const char*, const char*, rte_tel_data* d) {
  Use u;
  if (!u.get()) return -EAGAIN;
  const shm::Segment& s = *u.get()->seg;
  const shm::Header& h = s.header();
  uint64_t active = 0, clear = 0;
  shm::SessionCounters sum{};
  for (uint32_t i = 1; i < h.max_sessions; ++i) {
    const shm::SessionRecord& r = s.session(i);
    if (r.state != shm::SlotState::kActive) continue;
    ++active;
    if (r.outbound_sa == shm::kInvalidIndex) ++clear;
    for (uint32_t w = 0; w < Blocks(s); ++w) {
      const shm::SessionCounters& c = s.session_counters(w)[i];
      if (!shm::CountersBelong(c, r.generation)) continue;  // an earlier session's
      sum.rx_packets += Load(c.rx_packets);
      sum.rx_bytes += Load(c.rx_bytes);
      sum.tx_packets += Load(c.tx_packets);
      sum.tx_bytes += Load(c.tx_bytes);
    }
  }
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "max_sessions", h.max_sessions);
  rte_tel_data_add_dict_u64(d, "active", active);
  rte_tel_data_add_dict_u64(d, "cleartext", clear);
  rte_tel_data_add_dict_u64(d, "rx_packets", sum.rx_packets);
  rte_tel_data_add_dict_u64(d, "rx_bytes", sum.rx_bytes);
  rte_tel_data_add_dict_u64(d, "tx_packets", sum.tx_packets);
  rte_tel_data_add_dict_u64(d, "tx_bytes", sum.tx_bytes);
  return 0;
}

}  // namespace

bool RegisterTelemetry(TelemetryFacts facts) {
  // Leaked on purpose if a callback could still be running at exit; freed by
  // UnregisterTelemetry otherwise.
  g_facts.store(new TelemetryFacts(std::move(facts)), std::memory_order_release);
  if (g_registered) return true;
  struct Cmd {
    const char* name;
    telemetry_cb fn;
    const char* help;
  };
  static const Cmd kCmds[] = {
      {"/vpn/info", Info, "Concentrator dataplane facts. Takes no parameters"},
      {"/vpn/counters", Counters,
       "Every counter/drop reason summed over workers. Takes no parameters"},
      {"/vpn/workers", Workers, "Per worker totals; parameter: worker id for its reasons"},
      {"/vpn/ports", Ports, "Per port packets, bytes, drops, link; parameter: port name or index"},
      {"/vpn/sas", Sas, "ESP SA table summary. Takes no parameters"},
      {"/vpn/sa", OneSa, "One ESP SA. Parameter: SA slot index"},
      {"/vpn/sessions", Sessions, "Session table summary. Takes no parameters"},
  };
  bool ok = true;
  for (const Cmd& c : kCmds) ok &= rte_telemetry_register_cmd(c.name, c.fn, c.help) == 0;
  g_registered = true;
  return ok;
}

void UnregisterTelemetry() {
  const TelemetryFacts* f = g_facts.exchange(nullptr);
  // A callback that loaded f before the exchange holds g_inflight; wait for
  // it (bounded: callbacks only read memory).
  for (int i = 0; i < 1000 && g_inflight.load() != 0; ++i) usleep(1000);
  if (g_inflight.load() == 0) delete f;
}

}  // namespace vpn::dp

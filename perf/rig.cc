#include "rig.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <rte_bus_vdev.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

namespace vpn::perf {
namespace {

class NoGrace : public dp::GracePeriods {
 public:
  uint64_t Start() override { return 0; }
  bool Done(uint64_t) override { return true; }
};

}  // namespace

bool InitEal(const EalOptions& o) {
  std::string lcores;
  for (size_t i = 0; i < o.cpus.size(); ++i) {
    // lcore i runs on cpu o.cpus[i]; lcore 0 (main) is worker 0.
    lcores += (i ? "," : "") + std::to_string(i) + "@" + std::to_string(o.cpus[i]);
  }
  std::vector<std::string> args = {"dp_bench", "--no-pci", "--lcores", lcores,
                                   "--main-lcore", "0", "--log-level=error",
                                   "--file-prefix=" + o.prefix, "--no-telemetry"};
  if (o.hugepages) {
    args.push_back("--in-memory");
  } else {
    args.insert(args.end(), {"--no-huge", "-m", "512", "--no-shconf"});
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return rte_eal_init(int(argv.size()), argv.data()) >= 0;
}

void CleanupEal(const std::string& prefix) {
  rte_eal_cleanup();
  std::error_code ec;
  std::filesystem::remove_all("/var/run/dpdk/" + prefix, ec);
}

Rig::~Rig() {
  if (ports_started_) {
    for (uint16_t p : port_ids_) {
      rte_eth_dev_stop(p);
      rte_eth_dev_close(p);
    }
  }
  workers_.clear();
  engines_.clear();
  writer_.reset();
  rt_.reset();
  if (pool_) rte_mempool_free(pool_);
  if (base_) munmap(base_, size_);
}

bool Rig::Init() {
  const Plan& plan = o_.plan;
  name_ = "perf" + std::to_string(getpid());
  // As Segment::OpenOrCreate lays it out; pages are touched only when used.
  const shm::Layout l = shm::Layout::Compute({plan.max_sas(), plan.max_sessions(), o_.workers + 1});
  void* p = mmap(nullptr, l.total_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("mmap");
    return false;
  }
  // Experiment (docs/perf.md "100k sessions"): VPN_PERF_THP_SEGMENT=1 asks
  // for transparent huge pages on this private copy of the segment, i.e.
  // what the counter rows would cost if the real segment (tmpfs, 4 KiB pages
  // here) lived on huge pages. Off by default: the default mirrors production.
  if (const char* e = std::getenv("VPN_PERF_THP_SEGMENT"); e && *e == '1') {
    if (madvise(p, l.total_size, MADV_HUGEPAGE) != 0) std::perror("madvise");
  }
  base_ = static_cast<uint8_t*>(p);
  size_ = l.total_size;
  shm::Header& h = header();
  h.abi_version = shm::kAbiVersion;
  h.header_size = sizeof(shm::Header);
  h.segment_size = l.total_size;
  h.max_sas = plan.max_sas();
  h.max_sessions = plan.max_sessions();
  h.n_workers = o_.workers + 1;
  h.sa_table_offset = l.sa_table_offset;
  h.session_table_offset = l.session_table_offset;
  h.worker_counters_offset = l.worker_counters_offset;
  h.sa_counters_offset = l.sa_counters_offset;
  h.session_counters_offset = l.session_counters_offset;
  h.punt_rings_offset = l.punt_rings_offset;
  h.punt_ring_stride = l.punt_ring_stride;
  h.inject_ring_offset = l.inject_ring_offset;
  h.update_ring_offset = l.update_ring_offset;
  for (uint32_t w = 0; w < shm::kMaxWorkers; ++w) {
    shm::InitRing(reinterpret_cast<shm::RingHeader*>(base_ + l.punt_rings_offset +
                                                     w * l.punt_ring_stride),
                  shm::kPuntSlotSize, shm::kPuntSlots);
  }

  rt_ = std::make_unique<dp::Runtime>(plan.max_sas(), plan.max_sessions());
  rt_->require_ipsec = true;
  rt_->n_ports = 2;
  rt_->wan_port = 0;
  rt_->n_workers = o_.workers;
  rt_->replay_window = o_.replay_window;
  dp::PortInfo& wan = rt_->ports[0];
  wan.role = config::PortRole::kWan;
  wan.addr = htonl(kWanIpH);
  wan.netmask = htonl(0xFFFFFF00);
  wan.gateway = htonl(kGwIpH);
  std::memcpy(wan.mac, kWanMac, 6);
  dp::PortInfo& lan = rt_->ports[1];
  lan.role = config::PortRole::kLan;
  lan.addr = htonl(kLanIpH);
  lan.netmask = htonl(0xFFFFFF00);
  lan.proxy_arp = true;
  std::memcpy(lan.mac, kLanMac, 6);
  config::Config cfg;
  cfg.pools.push_back({"bench", Plan::AssignedIpH(0), Plan::AssignedIpH(plan.sessions - 1), 0});
  dp::BuildStaticTables(cfg, rt_.get());
  rt_->neigh.Learn(rt_->neigh.FindOrCreate(htonl(kGwIpH), 0), kGwMac, 1);
  rt_->neigh.Learn(rt_->neigh.FindOrCreate(htonl(kHostIpH), 1), kHostMac, 1);

  pool_ = rte_pktmbuf_pool_create(("pool" + name_).c_str(), o_.pool_mbufs, 256, 0,
                                  RTE_MBUF_DEFAULT_BUF_SIZE, int(rte_socket_id()));
  if (!pool_) {
    std::fprintf(stderr, "mbuf pool: %s\n", rte_strerror(rte_errno));
    return false;
  }
  sh_.rt = rt_.get();
  sh_.header = &h;
  sh_.shm_base = base_;
  sh_.pool = pool_;
  sh_.n_workers = o_.workers;
  grace_ = std::make_unique<NoGrace>();
  writer_ = std::make_unique<dp::RuntimeWriter>(
      rt_.get(), grace_.get(), [](const shm::SaRecord& r, uint32_t) {
        esp::InitResult why;
        return dp::MakeCryptoSa(r, &why);
      });
  for (uint32_t i = 0; i < plan.sessions; ++i) {
    shm::SaRecord in{}, out{};
    shm::SessionRecord sess{};
    plan.SaRec(i, shm::SaDir::kInbound, o_.replay_window, &in);
    plan.SaRec(i, shm::SaDir::kOutbound, 0, &out);
    plan.SessionRec(i, &sess);
    if (!writer_->ApplySa(plan.InSa(i), in) || !writer_->ApplySa(plan.OutSa(i), out) ||
        !writer_->ApplySession(Plan::SessionSlot(i), sess)) {
      std::fprintf(stderr, "installing session %u failed\n", i);
      return false;
    }
  }
  if (o_.io_ports && !CreatePorts()) return false;
  for (uint32_t w = 0; w < o_.workers; ++w) {
    engines_.push_back(dp::MakeCryptoEngine());
    if (!engines_.back()) {
      std::fprintf(stderr, "ESP engine init failed\n");
      return false;
    }
    workers_.push_back(std::make_unique<dp::Worker>(&sh_, w, engines_.back().get()));
    workers_.back()->set_discard_tx(!o_.io_ports);
  }
  return true;
}

bool Rig::CreatePorts() {
  // net_null without RX: the memory source supplies every packet, TX frees.
  const char* names[2] = {"net_null_wan", "net_null_lan"};
  for (int p = 0; p < 2; ++p) {
    if (rte_vdev_init(names[p], "no-rx=1") != 0 ||
        rte_eth_dev_get_port_by_name(names[p], &port_ids_[p]) != 0) {
      std::fprintf(stderr, "cannot create %s\n", names[p]);
      return false;
    }
    const uint16_t id = port_ids_[p];
    rte_eth_conf conf{};
    if (rte_eth_dev_configure(id, 1, 1, &conf) != 0 ||
        rte_eth_rx_queue_setup(id, 0, 1024, rte_eth_dev_socket_id(id), nullptr, pool_) != 0 ||
        rte_eth_tx_queue_setup(id, 0, 1024, rte_eth_dev_socket_id(id), nullptr) != 0 ||
        rte_eth_dev_start(id) != 0) {
      std::fprintf(stderr, "cannot start %s\n", names[p]);
      return false;
    }
    rt_->ports[p].port_id = id;
    sh_.n_rxq[p] = 1;
    sh_.n_txq[p] = 1;
  }
  ports_started_ = true;
  return true;
}

const esp::SaContext* Rig::SaCtx(uint32_t sa_index) const {
  const dp::SaRuntime* sa = rt_->Sa(sa_index);
  return sa && sa->crypto ? &sa->crypto->ctx : nullptr;
}

void Rig::ResetInboundReplay(uint32_t w) {
  for (uint32_t i = 0; i < o_.plan.sessions; ++i) {
    if (InboundOwner(i) != w) continue;
    const dp::SaRuntime* sa = rt_->Sa(o_.plan.InSa(i));
    if (!sa || !sa->crypto) continue;
    esp::RestartReplayWindow(&sa->crypto->ctx);
  }
}

std::string Rig::ReasonSummary() {
  std::string out;
  for (uint32_t r = 0; r < uint32_t(Reason::kCount); ++r) {
    uint64_t n = 0;
    for (uint32_t w = 0; w < o_.workers; ++w) {
      const auto* wc = reinterpret_cast<const shm::WorkerCounters*>(
          base_ + header().worker_counters_offset);
      n += wc[w].reason[r];
    }
    if (n) out += std::string(InfoOf(Reason(r)).name) + "=" + std::to_string(n) + " ";
  }
  return out;
}

}  // namespace vpn::perf

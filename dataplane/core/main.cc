// vpn-dataplane --config PATH [--print-abi] [--idle-sleep-us N]
//
// DPDK primary process: builds the EAL command line from the config, maps
// the shared-memory segment, brings up the ports, starts one worker per
// worker lcore and runs housekeeping on the main lcore until SIGINT/SIGTERM.
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "abi_json.h"
#include "capture.h"
#include "crypto_adapter.h"
#include "eal_args.h"
#include "housekeeping.h"
#include "ports.h"
#include "runtime.h"
#include "telemetry.h"
#include "vpn/log.h"
#include "vpn/shm_segment.h"
#include "worker.h"

namespace vpn::dp {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

class RcuGrace : public GracePeriods {
 public:
  explicit RcuGrace(rte_rcu_qsbr* q) : q_(q) {}
  uint64_t Start() override { return rte_rcu_qsbr_start(q_); }
  bool Done(uint64_t token) override { return rte_rcu_qsbr_check(q_, token, false) == 1; }

 private:
  rte_rcu_qsbr* q_;
};

int WorkerMain(void* arg) {
  static_cast<Worker*>(arg)->Run();
  return 0;
}

struct Args {
  std::string config;
  bool print_abi = false;
  uint32_t idle_sleep_us = 0;
};

bool ParseArgs(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--print-abi") {
      a->print_abi = true;
    } else if (s == "--config" && i + 1 < argc) {
      a->config = argv[++i];
    } else if (s == "--idle-sleep-us" && i + 1 < argc) {
      a->idle_sleep_us = uint32_t(std::atoi(argv[++i]));
    } else {
      return false;
    }
  }
  return a->print_abi || !a->config.empty();
}

int Run(const Args& args) {
  absl::StatusOr<config::Config> cfg_or = config::ParseConfigFile(args.config);
  if (!cfg_or.ok()) {
    std::fprintf(stderr, "vpn-dataplane: %s\n", std::string(cfg_or.status().message()).c_str());
    return 2;
  }
  const config::Config cfg = std::move(*cfg_or);
  std::string err;
  for (const auto& [subsystem, level] : cfg.log_levels) log::SetLevel(subsystem, level);
  const config::Dataplane& dpc = cfg.dataplane;
  const uint32_t n_workers = dpc.workers;
  if (n_workers + 1 > shm::kMaxWorkers) {
    std::fprintf(stderr, "vpn-dataplane: at most %u workers\n", shm::kMaxWorkers - 1);
    return 2;
  }
  // Shared memory first: a size or ABI mismatch should stop us before EAL.
  shm::SegmentSizing sizing{dpc.max_sas, dpc.max_sessions, n_workers + 1};
  absl::StatusOr<shm::Segment> seg_or = shm::Segment::OpenOrCreate(cfg.shm_name, sizing);
  if (!seg_or.ok()) {
    std::fprintf(stderr, "vpn-dataplane: %s\n", std::string(seg_or.status().message()).c_str());
    return 2;
  }
  shm::Segment seg = std::move(*seg_or);
  shm::Header& hdr = seg.header();
  hdr.dp_ready.store(0);

  EalPlan plan = BuildEalArgs(cfg, ProbeHost());
  std::vector<char*> eal_argv;
  for (std::string& s : plan.args) eal_argv.push_back(s.data());
  {
    std::string line;
    for (auto& s : plan.args) line += s + " ";
    VPN_LOG(dataplane, kInfo, "EAL: %s", line);
  }
  if (rte_eal_init(int(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "vpn-dataplane: EAL init failed: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  int rc = 0;
  {
    auto rt = std::make_unique<Runtime>(dpc.max_sas, dpc.max_sessions);
    rt->require_ipsec = dpc.require_ipsec;
    rt->tcp_mss_clamp = dpc.tcp_mss_clamp;
    rt->n_workers = n_workers;
    rt->replay_window = dpc.replay_window;
    auto sh = std::make_unique<DataplaneShared>();
    sh->rt = rt.get();
    sh->header = &hdr;
    sh->shm_base = seg.base();
    sh->n_workers = n_workers;
    sh->idle_sleep_us = args.idle_sleep_us;
    sh->reassemble = dpc.esp_fragments == config::FragmentPolicy::kReassemble;
    // Each table entry may hold up to RTE_LIBRTE_IP_FRAG_MAX_FRAG (8)
    // buffers: a flood of incomplete datagrams pins at most about a quarter
    // of the pool, for the timeout (docs/config.md "Fragments").
    // An explicit fragment_table_size was checked against mbufs by the
    // config parser.
    sh->frag_entries = dpc.fragment_table_size
                           ? dpc.fragment_table_size
                           : std::max<uint32_t>(64, std::min<uint32_t>(
                                                        1024, dpc.mbufs / (32 * n_workers)));
    sh->frag_timeout_ms = dpc.fragment_timeout_ms;
    sh->frag_max_datagram = dpc.fragment_max_datagram;
    sh->icmp_rate = dpc.icmp_error_rate;
    sh->icmp_burst = dpc.icmp_error_burst;
    rt->ppp_local_ip = htonl(cfg.ppp.local_ip);
    sh->pool = rte_pktmbuf_pool_create("vpn_mbufs", dpc.mbufs, 256, 0,
                                       RTE_MBUF_DEFAULT_BUF_SIZE, int(rte_socket_id()));
    // Reassembled datagrams larger than one ordinary buffer (jumbo,
    // fragment_max_datagram) are copied into one of these (reassembly.cc).
    if (sh->reassemble && sh->pool &&
        14u /* Ethernet */ + sh->frag_max_datagram + kJumboTailroom >
            uint32_t(rte_pktmbuf_data_room_size(sh->pool) - RTE_PKTMBUF_HEADROOM)) {
      sh->jumbo_pool = rte_pktmbuf_pool_create(
          "vpn_jumbo", kJumboMbufs, 32, 0,
          uint16_t(RTE_PKTMBUF_HEADROOM + 14u + sh->frag_max_datagram +
                   kJumboTailroom),
          int(rte_socket_id()));
      if (!sh->jumbo_pool) {
        std::fprintf(stderr, "vpn-dataplane: jumbo buffer pool allocation failed\n");
        rc = 1;
      }
    }
    const size_t qsz = rte_rcu_qsbr_get_memsize(n_workers);
    sh->qsv = static_cast<rte_rcu_qsbr*>(rte_zmalloc("vpn_rcu", qsz, RTE_CACHE_LINE_SIZE));
    if (!sh->pool || !sh->qsv || rte_rcu_qsbr_init(sh->qsv, n_workers) != 0) {
      std::fprintf(stderr, "vpn-dataplane: mbuf pool / RCU allocation failed\n");
      rc = 1;
    }
    for (uint32_t w = 0; rc == 0 && w <= n_workers; ++w) {
      std::string hn = "vpn_handoff" + std::to_string(w);
      std::string tn = "vpn_txproxy" + std::to_string(w);
      sh->handoff[w] = rte_ring_create(hn.c_str(), 1024, int(rte_socket_id()), RING_F_SC_DEQ);
      sh->tx_proxy[w] = rte_ring_create(tn.c_str(), 1024, int(rte_socket_id()), RING_F_SC_DEQ);
      if (w < n_workers) {
        std::string in = "vpn_injho" + std::to_string(w);
        sh->inject_handoff[w] =
            rte_ring_create(in.c_str(), 1024, int(rte_socket_id()), RING_F_SC_DEQ);
        if (!sh->inject_handoff[w]) rc = 1;
      }
      if (!sh->handoff[w] || !sh->tx_proxy[w]) rc = 1;
    }
    if (rc == 0) {
      sh->hk_events = rte_ring_create_elem("vpn_hk_events", sizeof(HkEvent), 4096,
                                           int(rte_socket_id()), RING_F_SC_DEQ);
      if (!sh->hk_events) rc = 1;
    }
    if (rc == 0 && !StartPorts(cfg, plan, sh->pool, rt.get(), sh.get(), &err)) {
      std::fprintf(stderr, "vpn-dataplane: %s\n", err.c_str());
      rc = 1;
    }
    if (rc == 0) {
      BuildStaticTables(cfg, rt.get());
      if (!InstallCaptureTaps(sh.get()))
        VPN_LOG(dataplane, kWarn, "packet capture unavailable on some queues");
      hdr.n_workers = n_workers + 1;  // the last block is housekeeping's
      hdr.dp_pid.store(uint64_t(getpid()));
      hdr.dp_tsc_hz.store(rte_get_tsc_hz());
      {
        TelemetryFacts tf;
        tf.seg = &seg;
        tf.shm_name = cfg.shm_name;
        for (size_t i = 0; i < cfg.ports.size() && i < shm::kMaxPorts; ++i)
          tf.ports.push_back({cfg.ports[i].name,
                              cfg.ports[i].role == config::PortRole::kWan ? "wan" : "lan",
                              rt->ports[i].port_id});
        tf.worker_lcores = plan.worker_lcores;
        tf.main_lcore = plan.main_lcore;
        if (!RegisterTelemetry(std::move(tf)))
          VPN_LOG(dataplane, kWarn, "DPDK telemetry unavailable: /vpn/* commands not registered");
      }

      RcuGrace grace(sh->qsv);
      RuntimeWriter writer(rt.get(), &grace, [](const shm::SaRecord& rec, uint32_t) {
        esp::InitResult why;
        std::shared_ptr<CryptoSa> sa = MakeCryptoSa(rec, &why);
        if (!sa)
          VPN_LOG(dataplane, kWarn, "SA spi 0x%08x: %s", rec.spi, CryptoInitError(why));
        return sa;
      });
      std::vector<CryptoEnginePtr> engines;
      std::vector<std::unique_ptr<Worker>> workers;
      for (uint32_t w = 0; w <= n_workers; ++w) {
        engines.push_back(MakeCryptoEngine());
        workers.push_back(std::make_unique<Worker>(sh.get(), w, engines.back().get()));
      }
      for (const auto& w : workers) {
        if (!w->reassembly_ready()) {
          std::fprintf(stderr, "vpn-dataplane: cannot allocate the IPv4 fragment table\n");
          rc = 1;
        }
      }
      if (!CryptoAvailable() || !engines[0])
        VPN_LOG(dataplane, kWarn, "ESP engine unavailable: every SA will be refused");
      Housekeeping hk(sh.get(), &seg, &writer, &grace, workers[n_workers].get(), rte_get_tsc_hz());
      // A restart keeps sessions: rebuild from every active record.
      hk.FullRescan();
      hk.ResolveGateways();
      for (uint32_t w = 0; rc == 0 && w < n_workers; ++w) {
        if (rte_eal_remote_launch(WorkerMain, workers[w].get(), plan.worker_lcores[w]) != 0) {
          std::fprintf(stderr, "vpn-dataplane: cannot launch worker on lcore %u\n",
                       plan.worker_lcores[w]);
          sh->stop = true;
          rc = 1;
          break;
        }
      }
      if (rc == 0) {
        for (int i = 0; i < 5000 && sh->polling.load() < n_workers && !g_stop; ++i) usleep(1000);
        hdr.dp_ready.store(1, std::memory_order_release);
        VPN_LOG(dataplane, kInfo, "dataplane ready: %u workers, shm %s", n_workers, cfg.shm_name);
        while (!g_stop.load()) {
          hk.RunOnce();
          usleep(100);
        }
      }
      hdr.dp_ready.store(0);
      sh->stop = true;
      rte_eal_mp_wait_lcore();
      UnregisterTelemetry();
      RemoveCaptureTaps();
      StopPorts(*rt);
      while (writer.Reclaim()) usleep(100);
      hdr.dp_pid.store(0);
    }
    // Free what ports/workers used before the EAL goes.
    for (uint32_t w = 0; w <= n_workers; ++w) {
      rte_ring_free(sh->handoff[w]);
      rte_ring_free(sh->tx_proxy[w]);
      rte_ring_free(sh->inject_handoff[w]);
    }
    rte_ring_free(sh->hk_events);
    rte_free(sh->qsv);
    rt.reset();
    rte_mempool_free(sh->pool);
    rte_mempool_free(sh->jumbo_pool);
  }
  rte_eal_cleanup();
  VPN_LOG(dataplane, kInfo, "dataplane stopped");
  return rc;
}

}  // namespace
}  // namespace vpn::dp

int main(int argc, char** argv) {
  vpn::dp::Args args;
  if (!vpn::dp::ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr, "usage: vpn-dataplane --config PATH [--print-abi] [--idle-sleep-us N]\n");
    return 2;
  }
  if (args.print_abi) {
    std::fputs(vpn::dp::AbiJson().c_str(), stdout);
    return 0;
  }
  return vpn::dp::Run(args);
}

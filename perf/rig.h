// The dataplane set up in-process for benchmarking: EAL (--no-pci, a unique
// --file-prefix, --no-huge unless asked for hugepages), a private segment
// laid out exactly like the shared one (shm::Layout::Compute, punt rings
// initialised) but anonymous and unchecked in size: the shm ABI and the
// config refuse max_sessions above 65535, and the 100k-session point must
// still run the real per-session counter updates,
// the runtime tables with S sessions and 2S SAs written through the real
// RuntimeWriter (as pipeline_test.cc does), one ESP engine and Worker per
// worker lcore, and optionally two net_null ports (WAN, LAN) for the
// memory-source runs (memsrc.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "crypto_adapter.h"
#include "runtime.h"
#include "traffic.h"
#include "vpn/shm_segment.h"
#include "worker.h"

struct rte_mempool;

namespace vpn::perf {

struct EalOptions {
  std::vector<int> cpus = {1};  // first = main lcore (worker 0)
  bool hugepages = false;       // --in-memory on hugepages, else --no-huge
  std::string prefix;           // --file-prefix (unique per process)
};
bool InitEal(const EalOptions& o);
void CleanupEal(const std::string& prefix);

struct RigOptions {
  Plan plan;
  uint32_t workers = 1;
  uint32_t replay_window = 1024;  // esp::kDefaultReplayWindow; 0 = off
  bool io_ports = false;          // create the two net_null ports
  uint32_t pool_mbufs = 16383;
};

class Rig {
 public:
  explicit Rig(const RigOptions& o) : o_(o) {}
  ~Rig();
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  bool Init();

  const Plan& plan() const { return o_.plan; }
  uint32_t workers() const { return o_.workers; }
  dp::Worker* worker(uint32_t i) { return workers_[i].get(); }
  dp::CryptoEngine* engine(uint32_t i) { return engines_[i].get(); }
  rte_mempool* pool() const { return pool_; }
  shm::Header& header() const { return *reinterpret_cast<shm::Header*>(base_); }
  const esp::SaContext* SaCtx(uint32_t sa_index) const;
  // Inbound SAs owned by worker w (InboundOwner) get a fresh replay window
  // (esp::RestartReplayWindow: their counter line only), so precomputed
  // sequence numbers pass again. Call from worker w.
  void ResetInboundReplay(uint32_t w);
  // The worker session i's inbound frames go to: the SA's owner in the
  // dataplane (dp::SaOwner), as flow steering by SPI would deliver them.
  uint32_t InboundOwner(uint32_t i) const { return dp::SaOwner(o_.plan.InSa(i), o_.workers); }
  uint16_t wan_port_id() const { return port_ids_[0]; }
  uint16_t lan_port_id() const { return port_ids_[1]; }
  // Non-zero drop/info reasons summed over workers, "name=count ..." (for
  // diagnosing a harness that forwards less than it is fed).
  std::string ReasonSummary();

 private:
  bool CreatePorts();

  RigOptions o_;
  std::string name_;
  uint8_t* base_ = nullptr;  // the private segment
  uint64_t size_ = 0;
  std::unique_ptr<dp::Runtime> rt_;
  dp::DataplaneShared sh_;
  std::unique_ptr<dp::GracePeriods> grace_;
  std::unique_ptr<dp::RuntimeWriter> writer_;
  std::vector<dp::CryptoEnginePtr> engines_;
  std::vector<std::unique_ptr<dp::Worker>> workers_;
  rte_mempool* pool_ = nullptr;
  uint16_t port_ids_[2] = {0, 0};
  bool ports_started_ = false;
};

}  // namespace vpn::perf

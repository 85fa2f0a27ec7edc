// The dataplane worker's WAN and LAN input pipelines (dataplane/pipeline)
// on arbitrary frames, in-process: EAL once per process (--no-huge
// --no-pci), one mbuf pool, one crypto engine; the runtime tables (one
// client session over one ESP SA pair, as in pipeline_test.cc) and the
// worker are rebuilt for every input so runs are reproducible.
//
// Records, kinds modulo 7 (frames up to one mbuf, 2048 bytes):
//   0 raw WAN frame              1 raw LAN frame
//   2 WAN IPv4 to our address from the client: proto(1) l4...
//   3 WAN ESP from the client, sealed with the inbound SA's keys:
//     flags(1) payload...; flags bit 0: payload is the whole UDP datagram
//     (else a UDP 1701->1701 header is added), bit 1: next header from
//     the next byte (else UDP)
//   4 WAN UDP 4500 -> 4500 (NAT-T demux: marker, keepalive, ESP): bytes...
//   5 LAN IPv4 from the LAN host to the client's address: proto(1) l4...
//   6 WAN cleartext UDP 1701 -> 1701 (L2TP without IPsec is allowed here)
// Consecutive frames of one direction form bursts of up to kBurst.
//
// Checks: every mbuf comes back to the pool after each input (no leak, no
// double free: ASan and the pool count).
#include <arpa/inet.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <rte_eal.h>
#include <rte_mbuf.h>

#include "crypto_adapter.h"
#include "fuzz_common.h"
#include "net_headers.h"
#include "records.h"
#include "runtime.h"
#include "vpn/shm_segment.h"
#include "worker.h"

namespace vpn::dp {
namespace {

using fuzz::Cursor;
using fuzz::Record;
using fuzz::RecordReader;
using Bytes = std::vector<uint8_t>;
using ByteSpanLike = std::span<const uint8_t>;

constexpr uint8_t kWanMac[6] = {2, 0, 0, 0, 0, 1};
constexpr uint8_t kLanMac[6] = {2, 0, 0, 0, 0, 2};
constexpr uint8_t kGwMac[6] = {2, 0, 0, 0, 0, 0xFE};
constexpr uint8_t kHostMac[6] = {2, 0, 0, 0, 0, 0x10};
const uint32_t kWan = htonl(0xC6120001), kGw = htonl(0xC61200FE);
const uint32_t kClient = htonl(0xC612010A), kLan = htonl(0x0A0A0001);
const uint32_t kHost = htonl(0x0A0A0002), kAssigned = htonl(0x64400005);
constexpr uint32_t kInSa = 3, kOutSa = 4;
const uint32_t kInSpi = shm::MakeSpi(kInSa, 0x77);
constexpr size_t kMaxFrame = 2048;

class NoGrace : public GracePeriods {
 public:
  uint64_t Start() override { return 0; }
  bool Done(uint64_t) override { return true; }
};

void FillSa(shm::SaRecord& r, shm::SaDir dir, uint32_t spi) {
  r.state = shm::SlotState::kActive;
  r.dir = dir;
  r.cipher = shm::Cipher::kAesCbc;
  r.integ = shm::Integ::kHmacSha1_96;
  r.spi = spi;
  r.cipher_key_len = 16;
  r.integ_key_len = 20;
  for (int i = 0; i < 16; ++i) r.cipher_key[i] = uint8_t(i * 7 + 1);
  for (int i = 0; i < 20; ++i) r.integ_key[i] = uint8_t(i * 3 + 2);
  r.local_ip = kWan;
  r.peer_ip = kClient;
  r.replay_window = 0;  // inputs replay the same sequence numbers
}

// What lives for the whole process.
struct Process {
  std::string name = "dpfuzz" + std::to_string(getpid());
  shm::Segment seg;
  rte_mempool* pool = nullptr;
  CryptoEnginePtr engine;
  std::shared_ptr<CryptoSa> client_out;  // the client's outbound = our inbound keys
  unsigned pool_full = 0;

  Process() {
    std::string prefix = "--file-prefix=" + name;
    const char* argv[] = {"dp_pipeline_fuzz", "--no-huge", "-m", "256", "--no-pci",
                          "--no-shconf", "-l", "0", "--log-level=error", prefix.c_str()};
    FUZZ_CHECK(rte_eal_init(10, const_cast<char**>(argv)) >= 0);
    auto s = shm::Segment::OpenOrCreate(name, {64, 64, 2});
    FUZZ_CHECK(s.ok());
    seg = std::move(*s);
    shm::Segment::Unlink(name);
    pool = rte_pktmbuf_pool_create(("p" + name).c_str(), 2048, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    FUZZ_CHECK(pool != nullptr);
    pool_full = rte_mempool_avail_count(pool);
    engine = MakeCryptoEngine();
    FUZZ_CHECK(engine != nullptr);
    shm::SaRecord rec{};
    FillSa(rec, shm::SaDir::kOutbound, kInSpi);
    esp::InitResult why;
    client_out = MakeCryptoSa(rec, &why);
    FUZZ_CHECK(client_out != nullptr);
    std::atexit([] { std::filesystem::remove_all("/var/run/dpdk/dpfuzz" + std::to_string(getpid())); });
  }
};

Process& P() {
  static Process* p = new Process();
  return *p;
}

// One input's tables and worker.
struct Tables {
  std::unique_ptr<Runtime> rt;
  DataplaneShared sh;
  NoGrace grace;
  std::unique_ptr<RuntimeWriter> writer;
  std::unique_ptr<Worker> w;

  Tables() {
    Process& p = P();
    rt = std::make_unique<Runtime>(64, 64);
    rt->require_ipsec = false;
    rt->n_ports = 2;
    rt->wan_port = 0;
    PortInfo& wan = rt->ports[0];
    wan.role = config::PortRole::kWan;
    wan.addr = kWan;
    wan.netmask = htonl(0xFFFFFF00);
    wan.gateway = kGw;
    std::memcpy(wan.mac, kWanMac, 6);
    PortInfo& lan = rt->ports[1];
    lan.role = config::PortRole::kLan;
    lan.addr = kLan;
    lan.netmask = htonl(0xFFFFFF00);
    lan.proxy_arp = true;
    std::memcpy(lan.mac, kLanMac, 6);
    config::Config cfg;
    cfg.pools.push_back({"p", 0x64400001, 0x6440001F, 0});
    BuildStaticTables(cfg, rt.get());
    rt->neigh.Learn(rt->neigh.FindOrCreate(kGw, 0), kGwMac, 1);
    rt->neigh.Learn(rt->neigh.FindOrCreate(kHost, 1), kHostMac, 1);
    sh.rt = rt.get();
    sh.header = &p.seg.header();
    sh.shm_base = p.seg.base();
    sh.pool = p.pool;
    sh.n_workers = 1;
    writer = std::make_unique<RuntimeWriter>(rt.get(), &grace,
                                             [](const shm::SaRecord& r, uint32_t) {
                                               esp::InitResult why;
                                               return MakeCryptoSa(r, &why);
                                             });
    shm::SaRecord in{}, out{};
    FillSa(in, shm::SaDir::kInbound, kInSpi);
    FillSa(out, shm::SaDir::kOutbound, 0xC0DE0004);
    FUZZ_CHECK(writer->ApplySa(kInSa, in));
    FUZZ_CHECK(writer->ApplySa(kOutSa, out));
    shm::SessionRecord s1{};
    s1.state = shm::SlotState::kActive;
    s1.mru = 1400;
    s1.local_tunnel_id = 100;
    s1.local_session_id = 200;
    s1.peer_tunnel_id = 7;
    s1.peer_session_id = 8;
    s1.inbound_sa = kInSa;
    s1.outbound_sa = kOutSa;
    s1.assigned_ip = kAssigned;
    s1.peer_ip = kClient;
    s1.peer_port = htons(1701);
    FUZZ_CHECK(writer->ApplySession(1, s1));
    w = std::make_unique<Worker>(&sh, 0, p.engine.get());
    w->set_discard_tx(true);
  }
  ~Tables() {
    w.reset();
    writer.reset();
    rt.reset();
  }
};

Bytes Frame(const uint8_t* dst_mac, uint32_t src, uint32_t dst, uint8_t proto, ByteSpanLike l4) {
  Bytes f(14 + 20 + l4.size());
  auto* eth = reinterpret_cast<EthHdr*>(f.data());
  std::memcpy(eth->dst, dst_mac, 6);
  std::memcpy(eth->src, kGwMac, 6);
  eth->type = Be16(kEtherTypeIpv4);
  auto* ip = reinterpret_cast<Ipv4Hdr*>(f.data() + 14);
  *ip = Ipv4Hdr{0x45, 0, Be16(uint16_t(20 + l4.size())), 0, 0, 64, proto, 0, src, dst};
  ip->csum = Ipv4HeaderCsum(ip);
  if (!l4.empty()) std::memcpy(f.data() + 34, l4.data(), l4.size());
  return f;
}

Bytes Udp(uint16_t sport, uint16_t dport, ByteSpanLike payload) {
  Bytes u(8 + payload.size());
  Store16(&u[0], sport);
  Store16(&u[2], dport);
  Store16(&u[4], uint16_t(u.size()));
  if (!payload.empty()) std::memcpy(u.data() + 8, payload.data(), payload.size());
  return u;
}

// An ESP packet from the client (SPI onward) carrying `payload`.
Bytes SealFromClient(ByteSpanLike payload, uint8_t next_header) {
  Bytes buf(64 + payload.size() + 64);
  if (!payload.empty()) std::memcpy(buf.data() + 64, payload.data(), payload.size());
  esp::OutboundJob j{};
  j.sa = &P().client_out->ctx;
  j.payload = buf.data() + 64;
  j.payload_len = uint32_t(payload.size());
  j.headroom = 64;
  j.tailroom = 64;
  j.next_header = next_header;
  P().engine->engine.EncryptBurst(&j, 1);
  if (j.verdict != esp::kOk) return {};
  return Bytes(j.esp, j.esp + j.esp_len);
}

struct Frame_ {
  bool wan;
  Bytes bytes;
};

Frame_ Build(const Record& r) {
  Cursor c(r.data);
  switch (r.kind % 7) {
    case 0:
      return {true, Bytes(r.data.begin(), r.data.end())};
    case 1:
      return {false, Bytes(r.data.begin(), r.data.end())};
    case 2: {
      const uint8_t proto = c.U8();
      return {true, Frame(kWanMac, kClient, kWan, proto, c.Rest())};
    }
    case 3: {
      const uint8_t fl = c.U8();
      const uint8_t nh = (fl & 2) ? c.U8() : kIpProtoUdp;
      auto rest = c.Rest();
      Bytes inner = (fl & 1) ? Bytes(rest.begin(), rest.end()) : Udp(1701, 1701, rest);
      Bytes esp = SealFromClient(inner, nh);
      return {true, Frame(kWanMac, kClient, kWan, kIpProtoEsp, esp)};
    }
    case 4:
      return {true, Frame(kWanMac, kClient, kWan, kIpProtoUdp, Udp(4500, 4500, c.Rest()))};
    case 5: {
      const uint8_t proto = c.U8();
      return {false, Frame(kLanMac, kHost, kAssigned, proto, c.Rest())};
    }
    default:
      return {true, Frame(kWanMac, kClient, kWan, kIpProtoUdp, Udp(1701, 1701, c.Rest()))};
  }
}

void Feed(Worker* w, const std::vector<Bytes>& frames, bool wan) {
  rte_mbuf* pkts[kBurst];
  uint16_t n = 0;
  for (const Bytes& f : frames) {
    rte_mbuf* m = rte_pktmbuf_alloc(P().pool);
    FUZZ_CHECK(m != nullptr);
    const uint16_t len = uint16_t(std::min(f.size(), kMaxFrame));
    char* d = rte_pktmbuf_append(m, len);
    FUZZ_CHECK(d != nullptr || len == 0);
    if (len) std::memcpy(d, f.data(), len);
    pkts[n++] = m;
  }
  if (wan) w->ProcessWan(pkts, n, 0);
  else w->ProcessLan(pkts, n, 1);
  w->Flush();
}

void Run(RecordReader& in) {
  Process& p = P();
  {
    Tables t;
    std::vector<Bytes> burst;
    bool wan = true;
    Record r;
    while (in.Next(&r)) {
      Frame_ f = Build(r);
      if (!burst.empty() && (f.wan != wan || burst.size() == kBurst)) {
        Feed(t.w.get(), burst, wan);
        burst.clear();
      }
      wan = f.wan;
      burst.push_back(std::move(f.bytes));
    }
    if (!burst.empty()) Feed(t.w.get(), burst, wan);
    shm::RingHeader* pr = p.seg.punt_ring(0);
    while (shm::RingPeek(pr)) shm::RingPop(pr);
  }
  FUZZ_CHECK(rte_mempool_avail_count(p.pool) == p.pool_full);
}

}  // namespace
}  // namespace vpn::dp

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  vpn::fuzz::QuietLogs();
  (void)vpn::dp::P();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vpn::fuzz::RecordReader in({data, size});
  (void)in.Setup();  // no setup options: the byte is skipped
  vpn::dp::Run(in);
  return 0;
}

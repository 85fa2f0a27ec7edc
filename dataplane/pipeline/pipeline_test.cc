// The worker pipelines fed from memory (the perf-harness hook, bench.h):
// an ESP frame built with the esp engine from the same keys decapsulates to
// the LAN, a LAN packet encapsulates to ESP, RunBursts measures cycles, and
// a fuzz loop of truncated/mutated/random frames through both pipelines
// must neither crash nor leak a single mbuf.
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "bench.h"
#include "crypto_adapter.h"
#include "gtest/gtest.h"
#include "net_headers.h"
#include "runtime.h"
#include "vpn/shm_segment.h"
#include "worker.h"

namespace vpn::dp {
namespace {

constexpr uint8_t kWanMac[6] = {2, 0, 0, 0, 0, 1};
constexpr uint8_t kLanMac[6] = {2, 0, 0, 0, 0, 2};
constexpr uint8_t kGwMac[6] = {2, 0, 0, 0, 0, 0xFE};
constexpr uint8_t kHostMac[6] = {2, 0, 0, 0, 0, 0x10};
const uint32_t kWan = htonl(0xC6120001), kGw = htonl(0xC61200FE);
const uint32_t kClient = htonl(0xC612010A), kLan = htonl(0x0A0A0001);
const uint32_t kHost = htonl(0x0A0A0002), kAssigned = htonl(0x64400005);

class Eal : public ::testing::Environment {
 public:
  void SetUp() override {
    std::string prefix = "--file-prefix=dpunit" + std::to_string(getpid());
    const char* argv[] = {"pipeline_test", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
                          "-l", "0", "--log-level=error", prefix.c_str()};
    ASSERT_GE(rte_eal_init(10, const_cast<char**>(argv)), 0);
  }
  void TearDown() override {
    rte_eal_cleanup();
    std::filesystem::remove_all("/var/run/dpdk/dpunit" + std::to_string(getpid()));
  }
};
const auto* const kEal = ::testing::AddGlobalTestEnvironment(new Eal);

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
  r.replay_window = 0;  // the bench replays the same frames
}

struct Rig {
  shm::Segment seg;
  std::unique_ptr<Runtime> rt;
  DataplaneShared sh;
  NoGrace grace;
  std::unique_ptr<RuntimeWriter> writer;
  CryptoEnginePtr engine;
  std::unique_ptr<Worker> w;
  rte_mempool* pool = nullptr;
  static constexpr uint32_t kInSa = 3, kOutSa = 4;
  uint32_t in_spi = shm::MakeSpi(kInSa, 0x77);

  Rig() {
    const std::string name = "dpunit" + std::to_string(getpid());
    auto s = shm::Segment::OpenOrCreate(name, {64, 64, 2});
    EXPECT_TRUE(s.ok());
    seg = std::move(*s);
    shm::Segment::Unlink(name);
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
    pool = rte_pktmbuf_pool_create(("p" + name).c_str(), 4096, 0, 0,
                                   RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    EXPECT_NE(pool, nullptr);
    sh.rt = rt.get();
    sh.header = &seg.header();
    sh.shm_base = seg.base();
    sh.pool = pool;
    sh.n_workers = 1;
    writer = std::make_unique<RuntimeWriter>(rt.get(), &grace,
                                             [](const shm::SaRecord& r, uint32_t) {
                                               esp::InitResult why;
                                               return MakeCryptoSa(r, &why);
                                             });
    shm::SaRecord in{}, out{};
    FillSa(in, shm::SaDir::kInbound, in_spi);
    FillSa(out, shm::SaDir::kOutbound, 0xC0DE0004);
    EXPECT_TRUE(writer->ApplySa(kInSa, in));
    EXPECT_TRUE(writer->ApplySa(kOutSa, out));
    shm::SessionRecord s1{};
    FillClientSession(s1);
    EXPECT_TRUE(writer->ApplySession(1, s1));
    engine = MakeCryptoEngine();
    EXPECT_NE(engine, nullptr);
    w = std::make_unique<Worker>(&sh, 0, engine.get());
    w->set_discard_tx(true);
  }
  // Session slot 1: the client's session over kInSa / kOutSa.
  static void FillClientSession(shm::SessionRecord& s) {
    s.state = shm::SlotState::kActive;
    s.mru = 1400;
    s.local_tunnel_id = 100;
    s.local_session_id = 200;
    s.peer_tunnel_id = 7;
    s.peer_session_id = 8;
    s.inbound_sa = kInSa;
    s.outbound_sa = kOutSa;
    s.assigned_ip = kAssigned;
    s.peer_ip = kClient;
    s.peer_port = htons(1701);
  }
  ~Rig() {
    w.reset();
    writer.reset();
    rt.reset();
    rte_mempool_free(pool);
  }
  uint64_t Reason(vpn::Reason r) {
    return seg.worker_counters(0).reason[static_cast<uint32_t>(r)];
  }
};

std::vector<uint8_t> InnerIpv4(uint32_t src, uint32_t dst, size_t payload) {
  std::vector<uint8_t> p(20 + 8 + payload, 0x5A);
  auto* ip = reinterpret_cast<Ipv4Hdr*>(p.data());
  ip->ver_ihl = 0x45;
  ip->tos = 0;
  ip->total_length = Be16(uint16_t(p.size()));
  ip->id = 0;
  ip->frag = 0;
  ip->ttl = 64;
  ip->proto = kIpProtoUdp;
  ip->csum = 0;
  ip->src = src;
  ip->dst = dst;
  ip->csum = Ipv4HeaderCsum(ip);
  auto* udp = reinterpret_cast<UdpHdr*>(ip + 1);
  udp->src = Be16(9);
  udp->dst = Be16(9);
  udp->len = Be16(uint16_t(8 + payload));
  udp->csum = 0;
  return p;
}

std::vector<uint8_t> Frame(const uint8_t* dst_mac, uint32_t src, uint32_t dst, uint8_t proto,
                           const std::vector<uint8_t>& l4) {
  std::vector<uint8_t> f(14 + 20 + l4.size());
  auto* eth = reinterpret_cast<EthHdr*>(f.data());
  std::memcpy(eth->dst, dst_mac, 6);
  std::memcpy(eth->src, kGwMac, 6);
  eth->type = Be16(kEtherTypeIpv4);
  auto* ip = reinterpret_cast<Ipv4Hdr*>(f.data() + 14);
  *ip = Ipv4Hdr{0x45, 0, Be16(uint16_t(20 + l4.size())), 0, 0, 64, proto, 0, src, dst};
  ip->csum = Ipv4HeaderCsum(ip);
  std::memcpy(f.data() + 34, l4.data(), l4.size());
  return f;
}

// UDP 1701 + L2TP data (tid 100, sid 200) + PPP IPv4 from the client.
std::vector<uint8_t> L2tpUdp() {
  std::vector<uint8_t> inner = InnerIpv4(kAssigned, kHost, 64);
  std::vector<uint8_t> u(8 + 6 + 4 + inner.size());
  Store16(&u[0], 1701);
  Store16(&u[2], 1701);
  Store16(&u[8], 2);
  Store16(&u[10], 100);
  Store16(&u[12], 200);
  u[14] = 0xFF;
  u[15] = 0x03;
  u[16] = 0x00;
  u[17] = 0x21;
  std::memcpy(u.data() + 18, inner.data(), inner.size());
  Store16(&u[4], uint16_t(u.size()));
  return u;
}

// The client's ESP frames, sequence numbers 1..n, from an outbound context
// with the inbound SA's keys (what a client would send).
std::vector<std::vector<uint8_t>> EspFrames(Rig& rig, int n,
                                            const std::vector<uint8_t>& payload = L2tpUdp()) {
  shm::SaRecord rec{};
  FillSa(rec, shm::SaDir::kOutbound, rig.in_spi);
  esp::InitResult why;
  std::shared_ptr<CryptoSa> sa = MakeCryptoSa(rec, &why);
  EXPECT_NE(sa, nullptr);
  std::vector<std::vector<uint8_t>> out;
  for (int i = 0; i < n; ++i) {
    std::vector<uint8_t> buf(64 + payload.size() + 64);
    std::memcpy(buf.data() + 64, payload.data(), payload.size());
    esp::OutboundJob j{};
    j.sa = &sa->ctx;
    j.payload = buf.data() + 64;
    j.payload_len = uint32_t(payload.size());
    j.headroom = 64;
    j.tailroom = 64;
    j.next_header = kIpProtoUdp;
    rig.engine->engine.EncryptBurst(&j, 1);
    EXPECT_EQ(j.verdict, esp::kOk);
    out.push_back(Frame(kWanMac, kClient, kWan, kIpProtoEsp,
                        std::vector<uint8_t>(j.esp, j.esp + j.esp_len)));
  }
  return out;
}

TEST(Pipeline, EspToLanAndLanToEspFromMemory) {
  Rig rig;
  auto esp = EspFrames(rig, 4);
  // One burst cycles through the 4 frames (sequence numbers repeat: the
  // rig's inbound SA has anti-replay off for the bench).
  BenchResult r = RunBursts(rig.w.get(), rig.pool, esp, true, 0, 1);
  EXPECT_EQ(r.packets, kBurst);
  EXPECT_EQ(r.transmitted, kBurst) << "bad_icv=" << rig.Reason(Reason::k_esp_bad_icv);
  EXPECT_EQ(rig.seg.session_counters(0)[1].rx_packets, kBurst);
  EXPECT_EQ(rig.seg.sa_counters(0)[Rig::kInSa].packets, kBurst);
  const std::vector<uint8_t> inner = InnerIpv4(kHost, kAssigned, 100);
  auto lan = Frame(kLanMac, kHost, kAssigned, kIpProtoUdp,
                   std::vector<uint8_t>(inner.begin() + 20, inner.end()));
  r = RunBursts(rig.w.get(), rig.pool, {lan}, false, 1, 2);
  EXPECT_EQ(r.transmitted, r.packets);
  EXPECT_EQ(rig.seg.session_counters(0)[1].tx_packets, r.packets);
  EXPECT_EQ(rig.seg.sa_counters(0)[Rig::kOutSa].packets, r.packets);
}

// A reused slot's counters start from zero for the new occupant: the worker
// zeroes its own row when it first counts for a new record generation;
// updates of the same record (same generation) keep counting; a worker row
// still holding an earlier occupant's counts is left out of the sums.
TEST(Pipeline, ReusedSlotCountersRestartPerGeneration) {
  Rig rig;
  shm::SessionRecord s1{};
  Rig::FillClientSession(s1);
  s1.generation = 1;
  shm::SaRecord out{};
  FillSa(out, shm::SaDir::kOutbound, 0xC0DE0004);
  out.generation = 1;
  // The records as the control plane publishes them (Segment sums read the
  // generation from the shm record).
  std::memcpy(static_cast<void*>(&rig.seg.session(1)), &s1, sizeof s1);
  std::memcpy(static_cast<void*>(&rig.seg.sa(Rig::kOutSa)), &out, sizeof out);
  ASSERT_TRUE(rig.writer->ApplySession(1, s1));
  ASSERT_TRUE(rig.writer->ApplySa(Rig::kOutSa, out));
  const std::vector<uint8_t> inner = InnerIpv4(kHost, kAssigned, 100);
  auto lan = Frame(kLanMac, kHost, kAssigned, kIpProtoUdp,
                   std::vector<uint8_t>(inner.begin() + 20, inner.end()));
  BenchResult r = RunBursts(rig.w.get(), rig.pool, {lan}, false, 1, 2);
  ASSERT_EQ(r.transmitted, 2u * kBurst);
  EXPECT_EQ(rig.seg.session_counters(0)[1].tx_packets, 2u * kBurst);
  EXPECT_EQ(rig.seg.session_counters(0)[1].generation, 1u);
  EXPECT_EQ(rig.seg.SumSaCounters(Rig::kOutSa).packets, 2u * kBurst);
  // Worker 1 (another row) counted for this session too.
  shm::CountersFor(rig.seg.session_counters(1)[1], 1).tx_packets = 5;
  EXPECT_EQ(rig.seg.SumSessionCounters(1).tx_packets, 2u * kBurst + 5);

  // An update of the same session (flags): counting goes on.
  s1.flags = shm::kSessionFlagClamp;
  ASSERT_TRUE(rig.writer->ApplySession(1, s1));
  RunBursts(rig.w.get(), rig.pool, {lan}, false, 1, 1);
  EXPECT_EQ(rig.seg.session_counters(0)[1].tx_packets, 3u * kBurst);

  // Deleted, then the slot reused by another session and SA (generation 2).
  s1.state = shm::SlotState::kFreePending;
  ASSERT_TRUE(rig.writer->ApplySession(1, s1));
  s1.state = shm::SlotState::kActive;
  s1.generation = 2;
  out.generation = 2;
  std::memcpy(static_cast<void*>(&rig.seg.session(1)), &s1, sizeof s1);
  std::memcpy(static_cast<void*>(&rig.seg.sa(Rig::kOutSa)), &out, sizeof out);
  ASSERT_TRUE(rig.writer->ApplySession(1, s1));
  ASSERT_TRUE(rig.writer->ApplySa(Rig::kOutSa, out));
  // Before any packet: worker rows still hold generation 1, summed as 0.
  EXPECT_EQ(rig.seg.SumSessionCounters(1).tx_packets, 0u);
  EXPECT_EQ(rig.seg.SumSaCounters(Rig::kOutSa).packets, 0u);
  RunBursts(rig.w.get(), rig.pool, {lan}, false, 1, 1);
  EXPECT_EQ(rig.seg.session_counters(0)[1].tx_packets, uint64_t(kBurst));
  EXPECT_EQ(rig.seg.session_counters(0)[1].generation, 2u);
  EXPECT_EQ(rig.seg.sa_counters(0)[Rig::kOutSa].packets, uint64_t(kBurst));
  // Worker 1 never counted for generation 2: its 5 stay out of the sum.
  EXPECT_EQ(rig.seg.session_counters(1)[1].tx_packets, 5u);
  EXPECT_EQ(rig.seg.SumSessionCounters(1).tx_packets, uint64_t(kBurst));
  EXPECT_EQ(rig.seg.SumSaCounters(Rig::kOutSa).packets, uint64_t(kBurst));
  // A worker still finishing with an older generation never resets a row
  // back (shm::CountersFor only moves forward).
  shm::CountersFor(rig.seg.session_counters(0)[1], 1).tx_packets += 1;
  EXPECT_EQ(rig.seg.session_counters(0)[1].generation, 2u);
  EXPECT_EQ(rig.seg.session_counters(0)[1].tx_packets, uint64_t(kBurst) + 1);
}

// Packets housekeeping injects into an ESP SA (L2TP/PPP control) are
// numbered by the polling worker that sends them, not by housekeeping: an
// ESP packet numbered on housekeeping and queued behind a busy worker's
// bursts fell out of the client's replay window (worker.h inject_handoff).
// A slot reused while the packet waited, and a full ring, are counted drops.
TEST(Pipeline, InjectedControlIsNumberedByThePollingWorker) {
  Rig rig;
  const unsigned base = rte_mempool_in_use_count(rig.pool);
  const std::string name = "injho" + std::to_string(getpid());
  rte_ring* ring = rte_ring_create(name.c_str(), 4, 0, RING_F_SC_DEQ);  // 3 usable
  ASSERT_NE(ring, nullptr);
  rig.sh.inject_handoff[0] = ring;
  CryptoEnginePtr hk_engine = MakeCryptoEngine();
  ASSERT_NE(hk_engine, nullptr);
  Worker hk(&rig.sh, 1, hk_engine.get());  // id n_workers: housekeeping
  hk.set_discard_tx(true);
  const auto next_seq = [&rig] {
    return rig.rt->Sa(Rig::kOutSa)->ctx->counters.next_seq.load();
  };
  const uint64_t seq0 = next_seq();
  // LCP Echo-Request (RFC 1661 5.8) into session 1.
  const uint8_t lcp[] = {0xC0, 0x21, 9, 1, 0, 8, 0x11, 0x22, 0x33, 0x44};
  shm::PacketMeta meta{};
  meta.kind = uint16_t(shm::InjectKind::kPppViaSession);
  meta.session_index = 1;
  meta.length = sizeof lcp;
  ASSERT_EQ(hk.Inject(meta, lcp), Reason::k_inject_sent);
  EXPECT_EQ(rte_ring_count(ring), 1u);
  EXPECT_EQ(next_seq(), seq0) << "numbered on housekeeping";
  EXPECT_EQ(hk.discarded_tx(), 0u);

  // The worker's poll: LAN traffic to the session first, then the injected
  // packet, numbered right after it in the same TX burst.
  const std::vector<uint8_t> inner = InnerIpv4(kHost, kAssigned, 100);
  auto lan = Frame(kLanMac, kHost, kAssigned, kIpProtoUdp,
                   std::vector<uint8_t>(inner.begin() + 20, inner.end()));
  RunBursts(rig.w.get(), rig.pool, {lan}, false, 1, 1);
  EXPECT_EQ(next_seq(), seq0 + kBurst);
  const uint64_t tx0 = rig.w->discarded_tx();
  EXPECT_EQ(rig.w->PollOnce(), 1u);
  rig.w->Flush();
  EXPECT_EQ(next_seq(), seq0 + kBurst + 1);
  EXPECT_EQ(rig.w->discarded_tx(), tx0 + 1);
  EXPECT_EQ(rte_ring_count(ring), 0u);

  // Ring full: the fourth inject is a counted loss, not a leak.
  for (int i = 0; i < 4; ++i) hk.Inject(meta, lcp);
  EXPECT_EQ(rig.seg.worker_counters(1).reason[uint32_t(Reason::k_inject_handoff_full)], 1u);
  // The SA deleted and its slot reused by another SA (another SPI) before
  // the worker polls: the waiting packets are not encrypted into it.
  shm::SaRecord other{};
  FillSa(other, shm::SaDir::kOutbound, 0xC0DE0099);
  ASSERT_TRUE(rig.writer->ApplySa(Rig::kOutSa, other));
  const uint64_t seq1 = next_seq();
  EXPECT_EQ(rig.w->PollOnce(), 3u);
  rig.w->Flush();
  EXPECT_EQ(rig.Reason(Reason::k_inject_sa_gone), 3u);
  EXPECT_EQ(next_seq(), seq1);
  rig.sh.inject_handoff[0] = nullptr;
  rte_ring_free(ring);
  EXPECT_EQ(rte_mempool_in_use_count(rig.pool), base);
}

// Every transmitted frame, copied (discard mode's tap).
struct TxCapture {
  std::vector<std::vector<uint8_t>> frames;
  static void Tap(void* ctx, uint8_t, const rte_mbuf* m) {
    const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
    static_cast<TxCapture*>(ctx)->frames.emplace_back(d, d + rte_pktmbuf_data_len(m));
  }
};

// The inner packet after forwarding: TTL 63, checksum recomputed in full.
std::vector<uint8_t> Forwarded(std::vector<uint8_t> ip) {
  auto* h = reinterpret_cast<Ipv4Hdr*>(ip.data());
  h->ttl--;
  h->csum = 0;
  h->csum = Ipv4HeaderCsum(h);
  return ip;
}

// The fast paths (fast_path.cc) write exactly what the full paths write.
// In each poll the first packet takes the full path (the per-poll route and
// neighbour memos start empty) and later ones the fast path; all must equal
// the bytes built here independently. Variant 1: the client sends the L2TP
// length field and ACFC+PFC framing, and the session has ACFC and PFC.
TEST(Pipeline, FastPathsWriteWhatTheFullPathsWrite) {
  for (int variant = 0; variant < 2; ++variant) {
    SCOPED_TRACE(variant);
    Rig rig;
    TxCapture cap;
    rig.w->set_tx_tap(&TxCapture::Tap, &cap);
    if (variant) {
      shm::SessionRecord s{};
      Rig::FillClientSession(s);
      s.flags = shm::kSessionFlagAcfc | shm::kSessionFlagPfc;
      ASSERT_TRUE(rig.writer->ApplySession(1, s));
    }
    // Client to LAN.
    const std::vector<uint8_t> from_client = InnerIpv4(kAssigned, kHost, 64);
    std::vector<uint8_t> payload = L2tpUdp();
    if (variant) {
      // Flags 0x4002 + length (RFC 2661 3.1), PPP protocol 0x21 alone.
      std::vector<uint8_t> u(8 + 8 + 1);
      Store16(&u[0], 1701);
      Store16(&u[2], 1701);
      Store16(&u[8], 0x4002);
      Store16(&u[10], uint16_t(8 + 1 + from_client.size()));
      Store16(&u[12], 100);
      Store16(&u[14], 200);
      u[16] = 0x21;
      u.insert(u.end(), from_client.begin(), from_client.end());
      Store16(&u[4], uint16_t(u.size()));
      payload = u;
    }
    auto esp = EspFrames(rig, 4, payload);
    BenchResult r = RunBursts(rig.w.get(), rig.pool, esp, true, 0, 2);
    ASSERT_EQ(r.transmitted, 2u * kBurst);
    std::vector<uint8_t> want(14);
    std::memcpy(want.data(), kHostMac, 6);
    std::memcpy(want.data() + 6, kLanMac, 6);
    Store16(&want[12], kEtherTypeIpv4);
    const std::vector<uint8_t> fwd = Forwarded(from_client);
    want.insert(want.end(), fwd.begin(), fwd.end());
    ASSERT_EQ(cap.frames.size(), 2u * kBurst);
    for (size_t i = 0; i < cap.frames.size(); ++i) EXPECT_EQ(cap.frames[i], want) << i;
    EXPECT_EQ(rig.seg.session_counters(0)[1].rx_packets, 2u * kBurst);
    EXPECT_EQ(rig.seg.session_counters(0)[1].rx_bytes, 2u * kBurst * from_client.size());
    EXPECT_EQ(rig.seg.sa_counters(0)[Rig::kInSa].packets, 2u * kBurst);
    EXPECT_EQ(rig.seg.sa_counters(0)[Rig::kInSa].bytes, 2u * kBurst * payload.size());

    // LAN to client: decrypt what went out with the outbound SA's keys.
    cap.frames.clear();
    const std::vector<uint8_t> to_client = InnerIpv4(kHost, kAssigned, 100);
    auto lan = Frame(kLanMac, kHost, kAssigned, kIpProtoUdp,
                     std::vector<uint8_t>(to_client.begin() + 20, to_client.end()));
    r = RunBursts(rig.w.get(), rig.pool, {lan}, false, 1, 2);
    ASSERT_EQ(r.transmitted, 2u * kBurst);
    ASSERT_EQ(cap.frames.size(), 2u * kBurst);
    std::vector<uint8_t> l2tp = {0x06, 0xA5, 0x06, 0xA5, 0, 0, 0, 0, 0x00, 0x02, 0, 7, 0, 8};
    if (variant) {
      l2tp.push_back(0x21);
    } else {
      l2tp.insert(l2tp.end(), {0xFF, 0x03, 0x00, 0x21});
    }
    const std::vector<uint8_t> fwd_out = Forwarded(to_client);
    l2tp.insert(l2tp.end(), fwd_out.begin(), fwd_out.end());
    Store16(&l2tp[4], uint16_t(l2tp.size()));
    shm::SaRecord rec{};
    FillSa(rec, shm::SaDir::kInbound, 0xC0DE0004);
    esp::InitResult why;
    std::shared_ptr<CryptoSa> dec = MakeCryptoSa(rec, &why);
    ASSERT_NE(dec, nullptr);
    uint16_t first_id = 0;
    for (size_t i = 0; i < cap.frames.size(); ++i) {
      SCOPED_TRACE(i);
      std::vector<uint8_t>& f = cap.frames[i];
      ASSERT_GT(f.size(), 34u);
      EXPECT_EQ(std::memcmp(f.data(), kGwMac, 6), 0);
      EXPECT_EQ(std::memcmp(f.data() + 6, kWanMac, 6), 0);
      EXPECT_EQ(Load16(&f[12]), kEtherTypeIpv4);
      const auto* ip = reinterpret_cast<const Ipv4Hdr*>(f.data() + 14);
      EXPECT_EQ(ip->ver_ihl, 0x45);
      EXPECT_EQ(ip->tos, 0);
      EXPECT_EQ(Be16(ip->total_length), f.size() - 14);
      if (i == 0) first_id = Be16(ip->id);
      EXPECT_EQ(Be16(ip->id), uint16_t(first_id + i));
      EXPECT_EQ(ip->frag, 0);
      EXPECT_EQ(ip->ttl, 64);
      EXPECT_EQ(ip->proto, kIpProtoEsp);
      EXPECT_EQ(ip->src, kWan);
      EXPECT_EQ(ip->dst, kClient);
      EXPECT_EQ(CsumPartial(ip, 20), 0xFFFFu);
      esp::InboundJob j{};
      j.sa = &dec->ctx;
      j.esp = f.data() + 34;
      j.len = uint32_t(f.size() - 34);
      rig.engine->engine.DecryptBurst(&j, 1);
      ASSERT_EQ(j.verdict, esp::kOk);
      EXPECT_EQ(j.next_header, kIpProtoUdp);
      EXPECT_EQ(std::vector<uint8_t>(j.payload, j.payload + j.payload_len), l2tp);
    }
    EXPECT_EQ(rig.seg.session_counters(0)[1].tx_packets, 2u * kBurst);
    EXPECT_EQ(rig.seg.session_counters(0)[1].tx_bytes, 2u * kBurst * to_client.size());
    EXPECT_EQ(rig.seg.sa_counters(0)[Rig::kOutSa].packets, 2u * kBurst);
    EXPECT_EQ(rig.seg.sa_counters(0)[Rig::kOutSa].bytes, 2u * kBurst * l2tp.size());
  }
}

TEST(Pipeline, BenchHookMeasuresCycles) {
  Rig rig;
  auto esp = EspFrames(rig, 64);
  const unsigned before = rte_mempool_avail_count(rig.pool);
  BenchResult r = RunBursts(rig.w.get(), rig.pool, esp, true, 0, 50);
  EXPECT_EQ(r.packets, 50u * kBurst);
  EXPECT_EQ(r.transmitted, r.packets);
  EXPECT_GT(r.cycles, 0u);
  EXPECT_EQ(rte_mempool_avail_count(rig.pool), before);
  std::printf("WAN ESP->LAN (%zu B frames): %.0f cycles/packet\n", esp[0].size(),
              double(r.cycles) / double(r.packets));
}

TEST(Pipeline, FuzzedFramesNeitherCrashNorLeak) {
  Rig rig;
  std::vector<std::vector<uint8_t>> seeds = EspFrames(rig, 8);
  seeds.push_back(Frame(kWanMac, kClient, kWan, kIpProtoUdp, L2tpUdp()));  // clear L2TP
  std::vector<uint8_t> ike(8 + 40, 0);
  Store16(&ike[0], 500);
  Store16(&ike[2], 500);
  Store16(&ike[4], uint16_t(ike.size()));
  seeds.push_back(Frame(kWanMac, kClient, kWan, kIpProtoUdp, ike));
  auto lan = InnerIpv4(kHost, kAssigned, 1300);
  seeds.push_back(Frame(kLanMac, kHost, kAssigned, kIpProtoUdp,
                        std::vector<uint8_t>(lan.begin() + 20, lan.end())));
  std::vector<uint8_t> arp(42, 0);
  std::memset(arp.data(), 0xFF, 6);
  Store16(&arp[12], kEtherTypeArp);
  Store16(&arp[14], 1);
  Store16(&arp[16], kEtherTypeIpv4);
  arp[18] = 6;
  arp[19] = 4;
  Store16(&arp[20], 1);
  std::memcpy(&arp[38], &kLan, 4);
  seeds.push_back(arp);

  const unsigned before = rte_mempool_avail_count(rig.pool);
  std::mt19937 rng(12345);
  uint64_t fed = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<std::vector<uint8_t>> burst;
    for (int i = 0; i < 32; ++i) {
      std::vector<uint8_t> f = seeds[rng() % seeds.size()];
      switch (rng() % 4) {
        case 0:  // truncate
          f.resize(rng() % (f.size() + 1));
          break;
        case 1:  // flip bytes
          for (int k = 0, n = 1 + rng() % 8; k < n && !f.empty(); ++k)
            f[rng() % f.size()] ^= uint8_t(1 + rng() % 255);
          break;
        case 2:  // random bytes after the Ethernet header
          for (size_t k = 14; k < f.size(); ++k) f[k] = uint8_t(rng());
          break;
        default:  // unchanged
          break;
      }
      if (f.empty()) f.push_back(0);
      burst.push_back(std::move(f));
    }
    const bool wan = rng() & 1;
    BenchResult r = RunBursts(rig.w.get(), rig.pool, burst, wan, wan ? 0 : 1, 1);
    fed += r.packets;
    // Drain what the workers punted so the ring keeps accepting.
    shm::RingHeader* pr = rig.seg.punt_ring(0);
    while (shm::RingPeek(pr)) shm::RingPop(pr);
  }
  EXPECT_EQ(fed, 3000u * 32u);
  EXPECT_EQ(rte_mempool_avail_count(rig.pool), before) << "mbufs leaked";
}

// Splits an IPv4 frame's payload into fragments of `chunk` bytes (a
// multiple of 8), each a whole frame with a valid header checksum.
std::vector<std::vector<uint8_t>> Fragments(const std::vector<uint8_t>& frame, size_t chunk,
                                            uint16_t id) {
  std::vector<std::vector<uint8_t>> out;
  const size_t plen = frame.size() - 34;
  for (size_t off = 0; off < plen; off += chunk) {
    const size_t n = std::min(chunk, plen - off);
    std::vector<uint8_t> f(34 + n);
    std::memcpy(f.data(), frame.data(), 34);
    std::memcpy(f.data() + 34, frame.data() + 34 + off, n);
    auto* h = reinterpret_cast<Ipv4Hdr*>(f.data() + 14);
    h->total_length = Be16(uint16_t(20 + n));
    h->id = Be16(id);
    h->frag = Be16(uint16_t(off / 8 | (off + n < plen ? kIpMf : 0)));
    h->csum = 0;
    h->csum = Ipv4HeaderCsum(h);
    out.push_back(std::move(f));
  }
  return out;
}

TEST(Pipeline, FragmentedEspReassembledInAnyOrder) {
  Rig rig;
  const std::vector<uint8_t> esp = EspFrames(rig, 1)[0];
  auto frags = Fragments(esp, 40, 7);
  ASSERT_EQ(frags.size(), 4u) << esp.size();  // 32 frames = 8 datagrams a burst
  const unsigned before = rte_mempool_avail_count(rig.pool);
  for (bool reversed : {false, true}) {
    if (reversed) std::reverse(frags.begin(), frags.end());
    const uint64_t whole0 = rig.Reason(Reason::k_rx_ip_fragment_reassembled);
    BenchResult r = RunBursts(rig.w.get(), rig.pool, frags, true, 0, 1);
    EXPECT_EQ(r.packets, kBurst);
    EXPECT_EQ(r.transmitted, kBurst / 4) << "bad_icv=" << rig.Reason(Reason::k_esp_bad_icv);
    EXPECT_EQ(rig.Reason(Reason::k_rx_ip_fragment_reassembled) - whole0, kBurst / 4);
  }
  EXPECT_EQ(rig.Reason(Reason::k_rx_ip_fragment_bad), 0u);
  EXPECT_EQ(rig.Reason(Reason::k_rx_ip_fragment_timeout), 0u);
  rig.w->FragmentTick(rte_rdtsc());
  EXPECT_EQ(rte_mempool_avail_count(rig.pool), before);
}

// Random fragments with valid IPv4 headers (so they reach the table):
// whatever is held, recycled, refused or reassembled, every buffer comes
// back once the table expires.
TEST(Pipeline, FuzzedFragmentsNeitherCrashNorLeak) {
  Rig rig;
  // main.cc's sizing for this pool: 4096 mbufs / 32.
  rig.sh.frag_entries = 128;
  rig.w = std::make_unique<Worker>(&rig.sh, 0, rig.engine.get());
  rig.w->set_discard_tx(true);
  const unsigned before = rte_mempool_avail_count(rig.pool);
  std::mt19937 rng(777);
  const auto esp = EspFrames(rig, 1)[0];
  for (int round = 0; round < 400; ++round) {
    std::vector<std::vector<uint8_t>> burst;
    for (int i = 0; i < 32; ++i) {
      const size_t n = std::vector<size_t>{0, 1, 7, 8, 16, 64, 256, 1024, 1400}[rng() % 9];
      std::vector<uint8_t> payload(n);
      for (auto& b : payload) b = uint8_t(rng());
      if (rng() % 4 == 0 && n <= esp.size() - 34)  // real ESP bytes now and then
        std::memcpy(payload.data(), esp.data() + 34, n);
      auto f = Frame(kWanMac, rng() % 2 ? kClient : kGw, kWan,
                     rng() % 3 ? kIpProtoEsp : kIpProtoUdp, payload);
      auto* h = reinterpret_cast<Ipv4Hdr*>(f.data() + 14);
      const uint16_t off8 =
          std::vector<uint16_t>{0, 0, 1, 2, 5, 8, 64, 250, 8000, uint16_t(rng() % 8192)}[rng() % 10];
      h->id = Be16(uint16_t(rng() % 2 ? rng() % 16 : rng()));
      h->frag = Be16(uint16_t(off8 | (rng() % 10 < 7 ? kIpMf : 0)));
      h->csum = 0;
      h->csum = Ipv4HeaderCsum(h);
      burst.push_back(std::move(f));
    }
    RunBursts(rig.w.get(), rig.pool, burst, true, 0, 1);
    shm::RingHeader* pr = rig.seg.punt_ring(0);
    while (shm::RingPeek(pr)) shm::RingPop(pr);
  }
  const uint64_t dropped = rig.Reason(Reason::k_rx_ip_fragment_bad) +
                           rig.Reason(Reason::k_rx_ip_fragment_timeout) +
                           rig.Reason(Reason::k_rx_ip_fragment_table_full) +
                           rig.Reason(Reason::k_rx_ip_fragment_too_large);
  EXPECT_GT(dropped, 1000u);
  // Past every datagram's deadline: the table gives everything back.
  rig.w->FragmentTick(rte_rdtsc() + 4 * rte_get_tsc_hz());
  EXPECT_EQ(rte_mempool_avail_count(rig.pool), before) << "mbufs leaked";
  std::printf("fragment fuzz: bad %lu timeout %lu table_full %lu too_large %lu reassembled %lu\n",
              (unsigned long)rig.Reason(Reason::k_rx_ip_fragment_bad),
              (unsigned long)rig.Reason(Reason::k_rx_ip_fragment_timeout),
              (unsigned long)rig.Reason(Reason::k_rx_ip_fragment_table_full),
              (unsigned long)rig.Reason(Reason::k_rx_ip_fragment_too_large),
              (unsigned long)rig.Reason(Reason::k_rx_ip_fragment_reassembled));
}

}  // namespace
}  // namespace vpn::dp

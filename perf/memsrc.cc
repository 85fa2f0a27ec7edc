#include "memsrc.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>

#include "common.h"

namespace vpn::perf {

struct MemSource::PortSrc {
  uint16_t port = 0;
  rte_mempool* pool = nullptr;
  std::vector<uint8_t> data;  // frames, each at a 64-byte aligned offset
  std::vector<uint32_t> off;
  std::vector<uint16_t> len;
  uint32_t next = 0;
};

MemSource& MemSource::Get() {
  static MemSource* s = new MemSource;  // outlives every callback
  return *s;
}

void MemSource::Configure(const MemSrcConfig& cfg) {
  cfg_ = cfg;
  rx_total_ = tx_total_ = 0;
  next_mark_ = cfg.warmup;
  started_ = done_ = false;
  windows_.clear();
  std::memset(port_tx_, 0, sizeof port_tx_);
  std::memset(head_len_, 0, sizeof head_len_);
}

bool MemSource::AttachRx(uint16_t port, const Frames& frames, rte_mempool* pool) {
  if (!pool) return false;
  PortSrc* ps = nullptr;
  for (PortSrc* p : ports_)
    if (p->port == port) ps = p;
  const bool fresh = ps == nullptr;
  if (fresh) ps = new PortSrc;
  ps->port = port;
  ps->pool = pool;
  ps->next = 0;
  ps->data.clear();
  ps->off.clear();
  ps->len.clear();
  size_t total = 0;
  for (const Frame& f : frames) total += (f.size() + 63) / 64 * 64;
  ps->data.resize(total);
  size_t at = 0;
  for (const Frame& f : frames) {
    if (f.empty() || f.size() + RTE_PKTMBUF_HEADROOM > rte_pktmbuf_data_room_size(pool)) {
      ps->off.clear();
      ps->len.clear();
      return false;
    }
    std::memcpy(ps->data.data() + at, f.data(), f.size());
    ps->off.push_back(uint32_t(at));
    ps->len.push_back(uint16_t(f.size()));
    at += (f.size() + 63) / 64 * 64;
  }
  if (!fresh) return true;
  rte_eth_dev_info info;
  if (rte_eth_dev_info_get(port, &info) != 0 || info.nb_rx_queues == 0) {
    delete ps;
    return false;
  }
  ports_.push_back(ps);
  for (uint16_t q = 0; q < info.nb_rx_queues; ++q)
    if (!rte_eth_add_first_rx_callback(port, q, &MemSource::RxFill, ps)) return false;
  return true;
}

bool MemSource::AttachTx(uint16_t port) {
  rte_eth_dev_info info;
  if (rte_eth_dev_info_get(port, &info) != 0 || info.nb_tx_queues == 0) return false;
  for (uint16_t q = 0; q < info.nb_tx_queues; ++q)
    if (!rte_eth_add_tx_callback(port, q, &MemSource::TxCount, this)) return false;
  return true;
}

uint16_t MemSource::RxFill(uint16_t, uint16_t, rte_mbuf** pkts, uint16_t nb, uint16_t max,
                           void* user) {
  auto* ps = static_cast<PortSrc*>(user);
  MemSource& src = Get();
  const uint32_t count = uint32_t(ps->len.size());
  if (src.done_ || nb >= max || count == 0) return nb;
  uint16_t n = uint16_t(max - nb);
  if (n > 32) n = 32;
  rte_mbuf** out = pkts + nb;
  if (rte_pktmbuf_alloc_bulk(ps->pool, out, n) != 0) return nb;
  uint32_t next = ps->next;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = out[i];
    const uint16_t l = ps->len[next];
    rte_memcpy(rte_pktmbuf_mtod(m, void*), ps->data.data() + ps->off[next], l);
    m->data_len = l;
    m->pkt_len = l;
    m->port = ps->port;
    if (++next == count) next = 0;
  }
  ps->next = next;
  src.rx_total_ += n;
  return uint16_t(nb + n);
}

uint16_t MemSource::TxCount(uint16_t port, uint16_t, rte_mbuf** pkts, uint16_t nb, void* user) {
  static_cast<MemSource*>(user)->OnTx(port, pkts, nb);
  return nb;
}

void MemSource::OnTx(uint16_t port, rte_mbuf** pkts, uint16_t n) {
  if (port < kMaxPorts && n) {
    if (!port_tx_[port]) {
      const uint32_t len = std::min<uint32_t>(rte_pktmbuf_pkt_len(pkts[0]), 64);
      const void* p = rte_pktmbuf_read(pkts[0], 0, len, head_[port]);
      if (p && p != head_[port]) std::memcpy(head_[port], p, len);
      head_len_[port] = uint16_t(p ? len : 0);
    }
    port_tx_[port] += n;
  }
  tx_total_ += n;
  if (done_ || tx_total_ < next_mark_) return;
  MemSrcWindow now{tx_total_, rx_total_, rte_rdtsc(), ThreadCpuNs()};
  if (started_) {
    windows_.push_back({now.tx - mark_.tx, now.rx - mark_.rx, now.tsc - mark_.tsc,
                        now.cpu_ns - mark_.cpu_ns});
  }
  started_ = true;
  mark_ = now;
  next_mark_ = tx_total_ + cfg_.window;
  if (windows_.size() >= cfg_.windows) Finish();
}

void MemSource::Finish() {
  done_ = true;
  if (!cfg_.result_path.empty()) {
    const std::string tmp = cfg_.result_path + ".tmp";
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
      std::fputs(ResultJson().c_str(), f);
      std::fclose(f);
      std::rename(tmp.c_str(), cfg_.result_path.c_str());
    }
  }
  if (cfg_.raise_sigint) std::raise(SIGINT);
}

std::string MemSource::ResultJson() const {
  std::vector<double> cpp, ratio;
  std::string w = "[";
  char b[256];
  for (size_t i = 0; i < windows_.size(); ++i) {
    const MemSrcWindow& x = windows_[i];
    const double c = x.tx ? double(x.tsc) / double(x.tx) : 0;
    const double r = x.cpu_ns ? double(x.tsc) / double(x.cpu_ns) : 0;
    cpp.push_back(c);
    ratio.push_back(r);
    std::snprintf(b, sizeof b,
                  "%s{\"tx\": %llu, \"rx\": %llu, \"tsc\": %llu, \"cpu_ns\": %llu, "
                  "\"cycles_per_packet\": %.1f}",
                  i ? ", " : "", (unsigned long long)x.tx, (unsigned long long)x.rx,
                  (unsigned long long)x.tsc, (unsigned long long)x.cpu_ns, c);
    w += b;
  }
  w += "]";
  std::snprintf(b, sizeof b,
                "{\"min_cycles_per_packet\": %.1f, \"median_cycles_per_packet\": %.1f, "
                "\"median_tsc_per_cpu_ns\": %.3f, \"tx_total\": %llu, \"rx_total\": %llu, "
                "\"windows\": ",
                Min(cpp), Median(cpp), Median(ratio), (unsigned long long)tx_total_,
                (unsigned long long)rx_total_);
  std::string ports = "[";
  for (uint16_t p = 0; p < kMaxPorts; ++p) {
    if (!port_tx_[p]) continue;
    std::string hex;
    for (uint16_t i = 0; i < head_len_[p]; ++i) {
      char h[3];
      std::snprintf(h, sizeof h, "%02x", head_[p][i]);
      hex += h;
    }
    ports += (ports.size() > 1 ? ", " : "") + std::string("{\"port\": ") + std::to_string(p) +
             ", \"packets\": " + std::to_string(port_tx_[p]) + ", \"head\": \"" + hex + "\"}";
  }
  return std::string(b) + w + ", \"tx_ports\": " + ports + "]}\n";
}

}  // namespace vpn::perf

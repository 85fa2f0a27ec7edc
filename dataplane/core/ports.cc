#include "ports.h"

#include <arpa/inet.h>

#include <algorithm>

#include <rte_ethdev.h>

#include "vpn/log.h"

namespace vpn::dp {

bool StartPorts(const config::Config& cfg, const EalPlan& plan, rte_mempool* pool,
                Runtime* rt, DataplaneShared* sh, std::string* error) {
  const uint16_t workers = uint16_t(sh->n_workers);
  for (size_t i = 0; i < cfg.ports.size(); ++i) {
    const config::Port& cp = cfg.ports[i];
    uint16_t pid;
    if (rte_eth_dev_get_port_by_name(plan.port_names[i].c_str(), &pid) != 0) {
      *error = "port " + cp.name + ": no ethdev named " + plan.port_names[i];
      return false;
    }
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(pid, &info) != 0) {
      *error = "port " + cp.name + ": cannot read device info";
      return false;
    }
    uint16_t nrx = std::max<uint16_t>(1, std::min<uint16_t>(workers, info.max_rx_queues));
    uint16_t ntx = std::max<uint16_t>(1, std::min<uint16_t>(workers + 1, info.max_tx_queues));
    rte_eth_conf conf{};
    if (nrx > 1 && info.flow_type_rss_offloads) {
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_hf = RTE_ETH_RSS_IP & info.flow_type_rss_offloads;
    }
    int rc = rte_eth_dev_configure(pid, nrx, ntx, &conf);
    if (rc != 0) {
      *error = "port " + cp.name + ": configure failed: " + rte_strerror(-rc);
      return false;
    }
    uint16_t nb_rxd = 1024, nb_txd = 1024;
    rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nb_rxd, &nb_txd);
    const int socket = rte_eth_dev_socket_id(pid);
    for (uint16_t q = 0; q < nrx; ++q) {
      rc = rte_eth_rx_queue_setup(pid, q, nb_rxd, socket < 0 ? 0 : socket, nullptr, pool);
      if (rc != 0) {
        *error = "port " + cp.name + ": rx queue setup failed: " + rte_strerror(-rc);
        return false;
      }
    }
    for (uint16_t q = 0; q < ntx; ++q) {
      rc = rte_eth_tx_queue_setup(pid, q, nb_txd, socket < 0 ? 0 : socket, nullptr);
      if (rc != 0) {
        *error = "port " + cp.name + ": tx queue setup failed: " + rte_strerror(-rc);
        return false;
      }
    }
    rte_eth_dev_set_mtu(pid, cp.mtu);  // best effort: virtual PMDs may refuse
    rc = rte_eth_dev_start(pid);
    if (rc != 0) {
      *error = "port " + cp.name + ": start failed: " + rte_strerror(-rc);
      return false;
    }
    rte_eth_promiscuous_enable(pid);
    PortInfo& pi = rt->ports[i];
    pi.port_id = pid;
    pi.role = cp.role;
    pi.addr = htonl(cp.address);
    pi.netmask = cp.prefix_len ? htonl(~0u << (32 - cp.prefix_len)) : 0;
    pi.gateway = cp.gateway ? htonl(cp.gateway) : 0;
    pi.mtu = cp.mtu;
    pi.proxy_arp = cp.proxy_arp;
    rte_ether_addr mac;
    rte_eth_macaddr_get(pid, &mac);
    std::copy(mac.addr_bytes, mac.addr_bytes + 6, pi.mac);
    sh->n_rxq[i] = nrx;
    sh->n_txq[i] = ntx;
    if (cp.role == config::PortRole::kWan && rt->wan_port < 0) rt->wan_port = int(i);
    VPN_LOG(dataplane, kInfo, "port %s (%s) id %u: %u rx / %u tx queues, mac %02x:%02x:%02x:%02x:%02x:%02x",
            cp.name, plan.port_names[i], pid, nrx, ntx, pi.mac[0], pi.mac[1], pi.mac[2],
            pi.mac[3], pi.mac[4], pi.mac[5]);
  }
  rt->n_ports = uint32_t(cfg.ports.size());
  return true;
}

void StopPorts(const Runtime& rt) {
  for (uint32_t i = 0; i < rt.n_ports; ++i) {
    rte_eth_dev_stop(rt.ports[i].port_id);
    rte_eth_dev_close(rt.ports[i].port_id);
  }
}

}  // namespace vpn::dp

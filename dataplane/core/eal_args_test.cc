// EAL command line built from the config.
#include <algorithm>

#include "eal_args.h"
#include "gtest/gtest.h"

namespace vpn::dp {
namespace {

bool Has(const EalPlan& p, const std::string& a) {
  return std::find(p.args.begin(), p.args.end(), a) != p.args.end();
}

TEST(EalArgs, PciDetection) {
  EXPECT_TRUE(IsPciAddress("0000:00:04.0"));
  EXPECT_TRUE(IsPciAddress("00:04.1"));
  EXPECT_FALSE(IsPciAddress("net_af_packet0,iface=veth0"));
  EXPECT_FALSE(IsPciAddress("0000:00:04.8"));
  EXPECT_FALSE(IsPciAddress("0000:00:04"));
  EXPECT_EQ(DeviceName("net_pcap0,rx_pcap=a,tx_pcap=b"), "net_pcap0");
}

TEST(EalArgs, VdevsNoPciNoHugeAndLcores) {
  config::Config c;
  c.shm_name = "t1";
  c.dataplane.workers = 3;
  c.dataplane.memory_mb = 256;
  config::Port w, l;
  w.device = "net_af_packet0,iface=wan0";
  l.device = "net_pcap0,rx_pcap=/tmp/a.pcap,tx_pcap=/tmp/b.pcap";
  c.ports = {w, l};
  HostFacts host{false, 2};
  EalPlan p = BuildEalArgs(c, host);
  EXPECT_TRUE(Has(p, "--no-pci"));
  EXPECT_TRUE(Has(p, "--vdev=net_af_packet0,iface=wan0,qpairs=3"));
  EXPECT_TRUE(Has(p, "--vdev=net_pcap0,rx_pcap=/tmp/a.pcap,tx_pcap=/tmp/b.pcap"));
  EXPECT_TRUE(Has(p, "--file-prefix=vpn-t1"));
  EXPECT_TRUE(Has(p, "--no-huge"));  // no hugepages on the host
  EXPECT_TRUE(Has(p, "256"));
  EXPECT_TRUE(Has(p, "--lcores=0@0,1@1,2@0,3@1"));
  EXPECT_EQ(p.worker_lcores, (std::vector<unsigned>{1, 2, 3}));
  EXPECT_EQ(p.port_names, (std::vector<std::string>{"net_af_packet0", "net_pcap0"}));
}

TEST(EalArgs, PciAllowListAndHugepages) {
  config::Config c;
  config::Port w;
  w.device = "0000:00:05.0";
  c.ports = {w};
  c.dataplane.telemetry_prefix = "custom";
  EalPlan p = BuildEalArgs(c, HostFacts{true, 4});
  EXPECT_FALSE(Has(p, "--no-pci"));
  EXPECT_TRUE(Has(p, "-a"));
  EXPECT_TRUE(Has(p, "0000:00:05.0"));
  EXPECT_FALSE(Has(p, "--no-huge"));
  EXPECT_TRUE(Has(p, "--file-prefix=custom"));
  c.dataplane.no_huge = true;
  EXPECT_TRUE(Has(BuildEalArgs(c, HostFacts{true, 4}), "--no-huge"));
}

}  // namespace
}  // namespace vpn::dp

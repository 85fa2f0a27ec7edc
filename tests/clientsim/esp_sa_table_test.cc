// The simulator's userspace ESP: a client-view and a server-view table of
// the same Quick Mode result must interoperate (inbound/outbound swapped),
// and tampering, replay and unknown SPIs must be refused.
#include "esp_sa_table.h"

#include <gtest/gtest.h>

namespace vpn::clientsim {
namespace {

cp::EspSaKeys Keys(uint32_t spi, uint8_t fill) {
  cp::EspSaKeys k;
  k.spi = spi;
  k.cipher_key.assign(16, fill);
  k.integ_key.assign(20, uint8_t(fill + 1));
  return k;
}

struct Fixture : ::testing::Test {
  void SetUp() override { ASSERT_TRUE(engine.Init()); }
  // Installs the pair into both tables the way each side's IKE would.
  void InstallBoth() {
    auto cspi = client.AllocateInboundSpi();
    auto sspi = server.AllocateInboundSpi();
    ASSERT_TRUE(cspi.ok() && sspi.ok());
    cp::ChildSaInstall c;
    c.encap = shm::Encap::kUdp;
    c.local_ip = 0x0A000001;
    c.peer_ip = 0x0A000002;
    c.inbound = Keys(*cspi, 0x11);   // server -> client keys
    c.outbound = Keys(*sspi, 0x33);  // client -> server keys
    cp::ChildSaInstall s = c;
    std::swap(s.inbound, s.outbound);
    std::swap(s.local_ip, s.peer_ip);
    ASSERT_TRUE(client.Install(c).ok());
    ASSERT_TRUE(server.Install(s).ok());
  }
  esp::Engine engine;
  EspSaTable client{1}, server{2};
};

TEST_F(Fixture, RoundTripBothDirections) {
  InstallBoth();
  Bytes payload = BuildUdpSegment(1, 2, 1701, 1701, Bytes{0xc8, 2, 0, 12, 0, 1, 0, 0, 0, 0, 0, 0});
  Bytes esp;
  Reason why{};
  ASSERT_TRUE(client.newest()->Seal(engine, payload, kIpProtoUdp, &esp, &why));
  // SPI on the wire is the one the server allocated.
  const uint32_t spi = uint32_t(esp[0]) << 24 | esp[1] << 16 | esp[2] << 8 | esp[3];
  EXPECT_EQ(spi, client.newest()->outbound_spi());
  EXPECT_EQ(ClassifyNatT(esp).kind, NattKind::kEsp);
  EspPair* at_server = server.FindByInboundSpi(spi);
  ASSERT_NE(at_server, nullptr);
  Bytes out;
  uint8_t nh = 0;
  ASSERT_TRUE(at_server->Open(engine, esp, &out, &nh, &why)) << InfoOf(why).name;
  EXPECT_EQ(nh, kIpProtoUdp);
  EXPECT_EQ(out, payload);
  // Replayed packet.
  EXPECT_FALSE(at_server->Open(engine, esp, &out, &nh, &why));
  EXPECT_EQ(why, Reason::k_esp_replayed);
  // And back.
  ASSERT_TRUE(at_server->Seal(engine, payload, kIpProtoUdp, &esp, &why));
  ASSERT_TRUE(client.newest()->Open(engine, esp, &out, &nh, &why));
  EXPECT_EQ(out, payload);
}

TEST_F(Fixture, TamperedRefused) {
  InstallBoth();
  Bytes payload(100, 0x5a);
  Bytes esp;
  Reason why{};
  ASSERT_TRUE(client.newest()->Seal(engine, payload, kIpProtoUdp, &esp, &why));
  const uint32_t spi = client.newest()->outbound_spi();
  for (size_t i = 8; i < esp.size(); i += 7) {
    Bytes bad = esp;
    bad[i] ^= 0x01;
    Bytes out;
    uint8_t nh;
    EXPECT_FALSE(server.FindByInboundSpi(spi)->Open(engine, bad, &out, &nh, &why)) << i;
    EXPECT_EQ(why, Reason::k_esp_bad_icv);
  }
  Bytes out;
  uint8_t nh;
  EXPECT_FALSE(server.FindByInboundSpi(spi)->Open(engine, ByteSpan(esp.data(), 20), &out, &nh, &why));
}

TEST_F(Fixture, SpiBookkeeping) {
  auto spi = client.AllocateInboundSpi();
  ASSERT_TRUE(spi.ok());
  EXPECT_GT(*spi, 255u);
  EXPECT_NE(shm::SpiIndex(*spi), 0u);
  EXPECT_EQ(client.FindByInboundSpi(*spi), nullptr);  // reserved, not installed
  cp::ChildSaInstall c;
  c.inbound = Keys(*spi + 1, 1);  // not the allocated SPI
  c.outbound = Keys(0x1000, 2);
  EXPECT_FALSE(client.Install(c).ok());
  c.inbound.spi = *spi;
  c.inbound.cipher_key.resize(15);  // bad AES key length
  EXPECT_FALSE(client.Install(c).ok());
  c.inbound.cipher_key.resize(16);
  auto h = client.Install(c);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_NE(client.FindByInboundSpi(*spi), nullptr);
  EXPECT_EQ(client.FindByInboundSpi(*spi ^ 0x100000), nullptr);  // wrong check bits
  EXPECT_TRUE(client.Remove(*h).ok());
  EXPECT_FALSE(client.Remove(*h).ok());
  EXPECT_EQ(client.newest(), nullptr);
}

}  // namespace
}  // namespace vpn::clientsim

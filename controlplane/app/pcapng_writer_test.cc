// pcapng blocks checked field by field against the format (an independent
// reading with offsets from draft-ietf-opsawg-pcapng), and a file read back
// by tshark in the system test.
#include "pcapng_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "gtest/gtest.h"

namespace vpn::cp {
namespace {

uint32_t U32(const std::vector<uint8_t>& b, size_t off) {
  uint32_t v;
  std::memcpy(&v, &b[off], 4);
  return v;
}
uint16_t U16(const std::vector<uint8_t>& b, size_t off) {
  uint16_t v;
  std::memcpy(&v, &b[off], 2);
  return v;
}

void CheckFraming(const std::vector<uint8_t>& b, uint32_t type) {
  ASSERT_GE(b.size(), 12u);
  EXPECT_EQ(U32(b, 0), type);
  EXPECT_EQ(U32(b, 4), b.size());                // leading total length
  EXPECT_EQ(U32(b, b.size() - 4), b.size());     // trailing copy
  EXPECT_EQ(b.size() % 4, 0u);
}

TEST(Pcapng, SectionHeaderHasMagicVersionAndComment) {
  auto b = PcapngWriter::SectionHeader("session 3");
  CheckFraming(b, 0x0A0D0D0A);
  EXPECT_EQ(U32(b, 8), 0x1A2B3C4Du);
  EXPECT_EQ(U16(b, 12), 1);  // major
  EXPECT_EQ(U16(b, 14), 0);  // minor
  EXPECT_EQ(U16(b, 24), 1);  // opt_comment
  EXPECT_EQ(U16(b, 26), 9);
  EXPECT_EQ(std::string(b.begin() + 28, b.begin() + 37), "session 3");
}

TEST(Pcapng, InterfaceIsEthernetWithNanosecondResolution) {
  auto b = PcapngWriter::InterfaceDescription("lan", 1600);
  CheckFraming(b, 1);
  EXPECT_EQ(U16(b, 8), 1);     // LINKTYPE_ETHERNET
  EXPECT_EQ(U32(b, 12), 1600u);
  EXPECT_EQ(U16(b, 16), 2);    // if_name
  EXPECT_EQ(U16(b, 18), 3);
  EXPECT_EQ(std::string(b.begin() + 20, b.begin() + 23), "lan");
  EXPECT_EQ(U16(b, 24), 9);    // if_tsresol
  EXPECT_EQ(U16(b, 26), 1);
  EXPECT_EQ(b[28], 9);
}

TEST(Pcapng, EnhancedPacketCarriesTimeLengthsDataAndDirection) {
  std::vector<uint8_t> data = {1, 2, 3, 4, 5};
  const uint64_t ns = 0x0001020304050607ull;
  auto b = PcapngWriter::EnhancedPacket(1, ns, true, data, 1500);
  CheckFraming(b, 6);
  EXPECT_EQ(U32(b, 8), 1u);
  EXPECT_EQ((uint64_t(U32(b, 12)) << 32) | U32(b, 16), ns);
  EXPECT_EQ(U32(b, 20), 5u);     // captured
  EXPECT_EQ(U32(b, 24), 1500u);  // original
  EXPECT_EQ(std::vector<uint8_t>(b.begin() + 28, b.begin() + 33), data);
  EXPECT_EQ(b[33], 0);  // padding to 32 bits
  EXPECT_EQ(U16(b, 36), 2);  // epb_flags
  EXPECT_EQ(U32(b, 40), 2u);  // outbound
  EXPECT_EQ(U32(PcapngWriter::EnhancedPacket(0, 0, false, data, 5), 40), 1u);
}

TEST(Pcapng, FileIsHeaderInterfacesPacketsAndRefusesSymlinks) {
  const std::string path = "/tmp/vpn-pcapng-test-" + std::to_string(getpid()) + ".pcapng";
  PcapngWriter w;
  ASSERT_TRUE(w.Open(path, {"wan", "lan"}, 256, "t").ok());
  std::vector<uint8_t> frame(60, 0xAB);
  ASSERT_TRUE(w.Write(1, 1000, false, frame, 60).ok());
  EXPECT_FALSE(w.Write(2, 1000, false, frame, 60).ok());  // no interface 2
  EXPECT_EQ(w.packets(), 1u);
  const uint64_t expect = PcapngWriter::SectionHeader("t").size() +
                          PcapngWriter::InterfaceDescription("wan", 256).size() +
                          PcapngWriter::InterfaceDescription("lan", 256).size() +
                          PcapngWriter::EnhancedPacket(1, 1000, false, frame, 60).size();
  EXPECT_EQ(w.bytes_written(), expect);
  ASSERT_TRUE(w.Close().ok());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(uint64_t(st.st_size), expect);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  const std::string link = path + ".lnk";
  ASSERT_EQ(symlink(path.c_str(), link.c_str()), 0);
  PcapngWriter w2;
  EXPECT_FALSE(w2.Open(link, {"wan"}, 256, "").ok());
  unlink(link.c_str());
  unlink(path.c_str());
  EXPECT_FALSE(w2.Open("/nonexistent-dir/x.pcapng", {"wan"}, 256, "").ok());
}

}  // namespace
}  // namespace vpn::cp

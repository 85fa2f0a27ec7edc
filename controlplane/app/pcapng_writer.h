// A small pcapng writer (draft-ietf-opsawg-pcapng): one Section Header Block,
// one Interface Description Block per port (LINKTYPE_ETHERNET, nanosecond
// timestamps), and Enhanced Packet Blocks with the direction flag. Written
// in host byte order, as the format allows (the SHB's byte-order magic tells
// readers). Enough for tshark, Wireshark and scapy.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace vpn::cp {

class PcapngWriter {
 public:
  PcapngWriter() = default;
  ~PcapngWriter();
  PcapngWriter(const PcapngWriter&) = delete;
  PcapngWriter& operator=(const PcapngWriter&) = delete;

  // Creates (truncates) `path` with mode 0600 and writes the section header
  // and one interface per name. Refuses a path that is a symlink or not a
  // regular file.
  absl::Status Open(const std::string& path, const std::vector<std::string>& interfaces,
                    uint32_t snaplen, const std::string& comment);
  // One packet: `data` is what was captured, `orig_len` the frame's length.
  absl::Status Write(uint32_t interface, uint64_t unix_ns, bool outbound,
                     std::span<const uint8_t> data, uint32_t orig_len);
  absl::Status Close();
  bool is_open() const { return fd_ >= 0; }
  uint64_t bytes_written() const { return bytes_; }
  uint64_t packets() const { return packets_; }

  // The bytes of blocks, for tests.
  static std::vector<uint8_t> SectionHeader(const std::string& comment);
  static std::vector<uint8_t> InterfaceDescription(const std::string& name, uint32_t snaplen);
  static std::vector<uint8_t> EnhancedPacket(uint32_t interface, uint64_t unix_ns, bool outbound,
                                             std::span<const uint8_t> data, uint32_t orig_len);

 private:
  absl::Status Put(const std::vector<uint8_t>& block);
  int fd_ = -1;
  uint32_t n_interfaces_ = 0;
  uint64_t bytes_ = 0;
  uint64_t packets_ = 0;
};

}  // namespace vpn::cp

#include "pcapng_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace vpn::cp {
namespace {

// Block types and option codes (pcapng sections 4.1-4.3).
constexpr uint32_t kShb = 0x0A0D0D0A;
constexpr uint32_t kIdb = 0x00000001;
constexpr uint32_t kEpb = 0x00000006;
constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr uint16_t kOptEnd = 0, kOptComment = 1;
constexpr uint16_t kShbUserAppl = 4;
constexpr uint16_t kIfName = 2, kIfTsresol = 9;
constexpr uint16_t kEpbFlags = 2;
constexpr uint16_t kLinktypeEthernet = 1;

class Block {
 public:
  explicit Block(uint32_t type) { U32(type), U32(0); }
  Block& U16(uint16_t v) { return Raw(&v, 2); }
  Block& U32(uint32_t v) { return Raw(&v, 4); }
  Block& U64(uint64_t v) { return Raw(&v, 8); }
  Block& Raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    b_.insert(b_.end(), b, b + n);
    return *this;
  }
  Block& Pad() {
    while (b_.size() % 4) b_.push_back(0);
    return *this;
  }
  Block& Option(uint16_t code, const void* p, uint16_t n) {
    U16(code), U16(n), Raw(p, n);
    return Pad();
  }
  Block& Option(uint16_t code, const std::string& s) {
    return Option(code, s.data(), uint16_t(std::min<size_t>(s.size(), 0xFFF0)));
  }
  std::vector<uint8_t> Finish(bool options) {
    if (options) U16(kOptEnd), U16(0);
    const uint32_t total = uint32_t(b_.size() + 4);
    std::memcpy(&b_[4], &total, 4);
    U32(total);
    return std::move(b_);
  }

 private:
  std::vector<uint8_t> b_;
};

}  // namespace

std::vector<uint8_t> PcapngWriter::SectionHeader(const std::string& comment) {
  Block b(kShb);
  b.U32(kByteOrderMagic).U16(1).U16(0).U64(~0ull);  // version 1.0, length unknown
  if (!comment.empty()) b.Option(kOptComment, comment);
  b.Option(kShbUserAppl, std::string("vpnconc vpn-controlplane"));
  return b.Finish(true);
}

std::vector<uint8_t> PcapngWriter::InterfaceDescription(const std::string& name,
                                                        uint32_t snaplen) {
  Block b(kIdb);
  b.U16(kLinktypeEthernet).U16(0).U32(snaplen);
  b.Option(kIfName, name);
  const uint8_t nanoseconds = 9;  // 10^-9 s per timestamp unit
  b.Option(kIfTsresol, &nanoseconds, 1);
  return b.Finish(true);
}

std::vector<uint8_t> PcapngWriter::EnhancedPacket(uint32_t interface, uint64_t unix_ns,
                                                  bool outbound, std::span<const uint8_t> data,
                                                  uint32_t orig_len) {
  Block b(kEpb);
  b.U32(interface).U32(uint32_t(unix_ns >> 32)).U32(uint32_t(unix_ns));
  b.U32(uint32_t(data.size())).U32(std::max<uint32_t>(orig_len, uint32_t(data.size())));
  b.Raw(data.data(), data.size()).Pad();
  const uint32_t flags = outbound ? 2 : 1;  // bits 0-1: 01 inbound, 10 outbound
  b.Option(kEpbFlags, &flags, 4);
  return b.Finish(true);
}

PcapngWriter::~PcapngWriter() { (void)Close(); }

absl::Status PcapngWriter::Put(const std::vector<uint8_t>& block) {
  size_t off = 0;
  while (off < block.size()) {
    ssize_t n = write(fd_, block.data() + off, block.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::InternalError(absl::StrCat("pcapng write: ", strerror(errno)));
    off += size_t(n);
  }
  bytes_ += block.size();
  return absl::OkStatus();
}

absl::Status PcapngWriter::Open(const std::string& path,
                                const std::vector<std::string>& interfaces, uint32_t snaplen,
                                const std::string& comment) {
  if (fd_ >= 0) return absl::FailedPreconditionError("pcapng file already open");
  // O_NOFOLLOW: the control plane runs as root; do not write through a link
  // someone planted.
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InvalidArgumentError(absl::StrCat(path, ": ", strerror(errno)));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  fd_ = fd;
  bytes_ = packets_ = 0;
  n_interfaces_ = uint32_t(interfaces.size());
  absl::Status s = Put(SectionHeader(comment));
  for (const std::string& name : interfaces)
    if (s.ok()) s = Put(InterfaceDescription(name, snaplen));
  if (!s.ok()) (void)Close();
  return s;
}

absl::Status PcapngWriter::Write(uint32_t interface, uint64_t unix_ns, bool outbound,
                                 std::span<const uint8_t> data, uint32_t orig_len) {
  if (fd_ < 0) return absl::FailedPreconditionError("pcapng file not open");
  if (interface >= n_interfaces_) return absl::InvalidArgumentError("no such interface");
  absl::Status s = Put(EnhancedPacket(interface, unix_ns, outbound, data, orig_len));
  if (s.ok()) ++packets_;
  return s;
}

absl::Status PcapngWriter::Close() {
  if (fd_ < 0) return absl::OkStatus();
  int rc = close(fd_);
  fd_ = -1;
  if (rc != 0) return absl::InternalError(absl::StrCat("pcapng close: ", strerror(errno)));
  return absl::OkStatus();
}

}  // namespace vpn::cp

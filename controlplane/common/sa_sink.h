// The seam between IKE and the dataplane (DEVELOPERS.md: "an SaSink-style
// seam"). The production implementation (controplane/app/shm_sa_sink.*) writes
// shm::SaRecord entries; tests use RecordingSaSink below.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "vpn/shm_abi.h"

namespace vpn::cp {

// One direction of an ESP SA as negotiated.
struct EspSaKeys {
  uint32_t spi = 0;                 // host order
  std::vector<uint8_t> cipher_key;  // AES-GCM: key without the salt
  std::vector<uint8_t> salt;        // AES-GCM only: 4 bytes (RFC 4106 8.1)
  std::vector<uint8_t> integ_key;
};

// A Quick Mode result: both directions of one transport-mode ESP SA pair.
struct ChildSaInstall {
  uint64_t ike_sa_cookie = 0;   // which IKE SA negotiated it
  uint32_t local_ip = 0;        // network order
  uint32_t peer_ip = 0;         // network order, the client's public address
  uint16_t local_port = 0;      // network order; 4500 with NAT-T, else 0
  uint16_t peer_port = 0;       // network order; the client's NAT-T port
  shm::Encap encap = shm::Encap::kNone;
  shm::Cipher cipher = shm::Cipher::kAesCbc;
  shm::Integ integ = shm::Integ::kHmacSha1_96;
  bool allow_weak = false;      // DES/3DES allowed by config
  EspSaKeys inbound;            // SPI from AllocateInboundSpi()
  EspSaKeys outbound;           // SPI chosen by the peer
  uint64_t lifetime_seconds = 0;  // 0 = none; the control plane expires it
  uint64_t lifetime_kbytes = 0;   // 0 = none; the dataplane enforces it
  uint32_t replay_window = 1024;
};

struct ChildSaHandle {
  uint32_t inbound_index = shm::kInvalidIndex;
  uint32_t outbound_index = shm::kInvalidIndex;
  bool operator==(const ChildSaHandle&) const = default;
};

class SaSink {
 public:
  virtual ~SaSink() = default;
  // Reserves an inbound SA slot and returns the SPI that names it (low bits =
  // slot index, see shm::MakeSpi). Must be released or installed.
  virtual absl::StatusOr<uint32_t> AllocateInboundSpi() = 0;
  virtual void ReleaseInboundSpi(uint32_t spi) = 0;
  // Installs both directions; the inbound SA is live on return (so a rekey's
  // new SA works before the client switches to it).
  virtual absl::StatusOr<ChildSaHandle> Install(const ChildSaInstall& sa) = 0;
  // Switches future outbound traffic of sessions using `old_sa` to `new_sa`
  // (atomic in the dataplane); used on rekey.
  virtual absl::Status Remove(const ChildSaHandle& h) = 0;
  // Phase 1 rekey: the pair now belongs to another IKE SA (SaRecord
  // owner_cookie). Optional for sinks that do not record owners.
  virtual void SetOwner(const ChildSaHandle& /*h*/, uint64_t /*ike_sa_cookie*/) {}
};

// Test implementation: records installs and removals.
class RecordingSaSink : public SaSink {
 public:
  absl::StatusOr<uint32_t> AllocateInboundSpi() override {
    uint32_t idx = next_index_++;
    uint32_t spi = shm::MakeSpi(idx, 0xA5A);
    reserved_.push_back(spi);
    return spi;
  }
  void ReleaseInboundSpi(uint32_t spi) override { released_.push_back(spi); }
  absl::StatusOr<ChildSaHandle> Install(const ChildSaInstall& sa) override {
    if (fail_next_install_) {
      fail_next_install_ = false;
      return absl::ResourceExhaustedError("test: install refused");
    }
    ChildSaHandle h{shm::SpiIndex(sa.inbound.spi), next_index_++};
    installed_[h.inbound_index] = sa;
    return h;
  }
  absl::Status Remove(const ChildSaHandle& h) override {
    if (!installed_.erase(h.inbound_index))
      return absl::NotFoundError("test: no such SA");
    removed_.push_back(h);
    return absl::OkStatus();
  }

  void SetOwner(const ChildSaHandle& h, uint64_t ike_sa_cookie) override {
    auto it = installed_.find(h.inbound_index);
    if (it != installed_.end()) it->second.ike_sa_cookie = ike_sa_cookie;
  }

  const std::map<uint32_t, ChildSaInstall>& installed() const { return installed_; }
  const std::vector<ChildSaHandle>& removed() const { return removed_; }
  const std::vector<uint32_t>& released() const { return released_; }
  void FailNextInstall() { fail_next_install_ = true; }

 private:
  uint32_t next_index_ = 1;
  bool fail_next_install_ = false;
  std::vector<uint32_t> reserved_;
  std::vector<uint32_t> released_;
  std::map<uint32_t, ChildSaInstall> installed_;
  std::vector<ChildSaHandle> removed_;
};

}  // namespace vpn::cp

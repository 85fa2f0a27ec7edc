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

// Phase 2 installation follows RFC 2409 5.5 practice for a responder (as
// strongSwan and VPP do it): the initiator may send on the new SA as soon as
// it has message 2, so our inbound SA goes live before message 2 leaves
// (InstallInbound); our outbound SA goes live only when message 3 proves the
// initiator holds the keys (CompleteOutbound). Without message 3 the inbound
// half is taken away again (AbortInbound): nothing half-installed survives.
class SaSink {
 public:
  virtual ~SaSink() = default;
  // Reserves an inbound SA slot and returns the SPI that names it (low bits =
  // slot index, see shm::MakeSpi). Must be released or installed.
  virtual absl::StatusOr<uint32_t> AllocateInboundSpi() = 0;
  virtual void ReleaseInboundSpi(uint32_t spi) = 0;
  // Makes the inbound direction (sa.inbound, whose SPI came from
  // AllocateInboundSpi) live and returns its index; it has no outbound pair
  // yet. On failure the SPI stays reserved (the caller releases it).
  virtual absl::StatusOr<uint32_t> InstallInbound(const ChildSaInstall& sa) = 0;
  // Makes the outbound direction (sa.outbound) live, paired with the inbound
  // SA `inbound_index` from InstallInbound. On failure the inbound SA stays
  // as it was (the caller aborts it).
  virtual absl::StatusOr<ChildSaHandle> CompleteOutbound(uint32_t inbound_index,
                                                         const ChildSaInstall& sa) = 0;
  // Removes an inbound SA whose outbound half never came; its slot and SPI
  // are released (no ReleaseInboundSpi afterwards).
  virtual void AbortInbound(uint32_t inbound_index) = 0;
  // Both directions at once (an initiator has both keys with message 2);
  // the inbound SA is live on return, so a rekey's new SA works before the
  // peer switches to it. On failure nothing was published and the SPI stays
  // reserved (the caller releases it).
  virtual absl::StatusOr<ChildSaHandle> Install(const ChildSaInstall& sa) = 0;
  // Removes both directions of a pair.
  virtual absl::Status Remove(const ChildSaHandle& h) = 0;
  // Phase 1 rekey: the pair now belongs to another IKE SA (SaRecord
  // owner_cookie). Optional for sinks that do not record owners.
  virtual void SetOwner(const ChildSaHandle& /*h*/, uint64_t /*ike_sa_cookie*/) {}
};

// Test implementation: records installs and removals, and every step in
// order (ops()), so tests can see when each half went live.
class RecordingSaSink : public SaSink {
 public:
  absl::StatusOr<uint32_t> AllocateInboundSpi() override {
    uint32_t idx = next_index_++;
    uint32_t spi = shm::MakeSpi(idx, 0xA5A);
    reserved_.push_back(spi);
    return spi;
  }
  void ReleaseInboundSpi(uint32_t spi) override {
    released_.push_back(spi);
    ops_.push_back("release " + std::to_string(shm::SpiIndex(spi)));
  }
  absl::StatusOr<ChildSaHandle> Install(const ChildSaInstall& sa) override {
    absl::StatusOr<uint32_t> in = InstallInbound(sa);
    if (!in.ok()) return in.status();
    absl::StatusOr<ChildSaHandle> h = CompleteOutbound(*in, sa);
    if (!h.ok()) inbound_only_.erase(*in);  // never published as a whole
    return h;
  }
  absl::StatusOr<uint32_t> InstallInbound(const ChildSaInstall& sa) override {
    if (fail_next_install_) {
      fail_next_install_ = false;
      return absl::ResourceExhaustedError("test: install refused");
    }
    const uint32_t idx = shm::SpiIndex(sa.inbound.spi);
    if (inbound_only_.count(idx) || installed_.count(idx))
      return absl::AlreadyExistsError("test: inbound SA installed twice");
    inbound_only_[idx] = sa;
    ops_.push_back("inbound " + std::to_string(idx));
    return idx;
  }
  absl::StatusOr<ChildSaHandle> CompleteOutbound(uint32_t inbound_index,
                                                 const ChildSaInstall& sa) override {
    auto it = inbound_only_.find(inbound_index);
    if (it == inbound_only_.end()) return absl::NotFoundError("test: no inbound-only SA");
    if (fail_next_complete_) {
      fail_next_complete_ = false;
      return absl::ResourceExhaustedError("test: outbound refused");
    }
    inbound_only_.erase(it);
    ChildSaHandle h{inbound_index, next_index_++};
    installed_[inbound_index] = sa;
    ops_.push_back("outbound " + std::to_string(inbound_index));
    return h;
  }
  void AbortInbound(uint32_t inbound_index) override {
    if (inbound_only_.erase(inbound_index)) {
      aborted_.push_back(inbound_index);
      ops_.push_back("abort " + std::to_string(inbound_index));
    }
  }
  absl::Status Remove(const ChildSaHandle& h) override {
    if (!installed_.erase(h.inbound_index))
      return absl::NotFoundError("test: no such SA");
    removed_.push_back(h);
    ops_.push_back("remove " + std::to_string(h.inbound_index));
    return absl::OkStatus();
  }

  void SetOwner(const ChildSaHandle& h, uint64_t ike_sa_cookie) override {
    auto it = installed_.find(h.inbound_index);
    if (it != installed_.end()) it->second.ike_sa_cookie = ike_sa_cookie;
  }

  // Complete pairs (both directions live).
  const std::map<uint32_t, ChildSaInstall>& installed() const { return installed_; }
  // Inbound SAs live without their outbound half (Quick Mode awaiting 3).
  const std::map<uint32_t, ChildSaInstall>& inbound_only() const { return inbound_only_; }
  // How many inbound SAs accept traffic now, complete or not.
  size_t live_inbound() const { return installed_.size() + inbound_only_.size(); }
  const std::vector<ChildSaHandle>& removed() const { return removed_; }
  const std::vector<uint32_t>& released() const { return released_; }
  const std::vector<uint32_t>& aborted() const { return aborted_; }
  const std::vector<std::string>& ops() const { return ops_; }
  void FailNextInstall() { fail_next_install_ = true; }
  void FailNextComplete() { fail_next_complete_ = true; }

 private:
  uint32_t next_index_ = 1;
  bool fail_next_install_ = false;
  bool fail_next_complete_ = false;
  std::vector<uint32_t> reserved_;
  std::vector<uint32_t> released_;
  std::vector<uint32_t> aborted_;
  std::vector<std::string> ops_;
  std::map<uint32_t, ChildSaInstall> installed_;
  std::map<uint32_t, ChildSaInstall> inbound_only_;
  std::vector<ChildSaHandle> removed_;
};

}  // namespace vpn::cp

// Userspace ESP for the simulator (the host kernel has no XFRM): a cp::SaSink
// that turns every Quick Mode result into a pair of esp::SaContext (the
// dataplane's own engine, dataplane/esp) and seals / opens transport-mode
// ESP packets with them.
//
// The table works from the installer's point of view: ChildSaInstall.inbound
// is what the installer receives. Our initiator therefore gets its own
// inbound/outbound (the server's swapped), and the exchange test's fake
// dataplane uses the same class for the responder.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>

#include "absl/status/statusor.h"
#include "esp.h"
#include "sa_sink.h"
#include "wire.h"

namespace vpn::clientsim {

// One negotiated ESP SA pair.
class EspPair {
 public:
  static absl::StatusOr<std::unique_ptr<EspPair>> Create(const cp::ChildSaInstall& sa);
  ~EspPair();

  // Seals a transport-mode payload (e.g. UDP header + L2TP) into an ESP
  // packet (SPI .. ICV). Returns false (and the engine's reason) on failure.
  bool Seal(esp::Engine& engine, ByteSpan payload, uint8_t next_header, Bytes* esp,
            Reason* why);
  // Verifies, replay-checks and decrypts `esp` (SPI .. ICV); `payload` gets
  // the upper-layer data.
  bool Open(esp::Engine& engine, ByteSpan esp, Bytes* payload, uint8_t* next_header,
            Reason* why);

  uint32_t inbound_spi() const { return install_.inbound.spi; }
  uint32_t outbound_spi() const { return install_.outbound.spi; }
  const cp::ChildSaInstall& install() const { return install_; }
  uint64_t packets_sealed() const { return sealed_; }
  uint64_t packets_opened() const { return opened_; }

 private:
  EspPair() = default;
  cp::ChildSaInstall install_;
  std::unique_ptr<esp::SaContext> in_, out_;
  uint64_t sealed_ = 0, opened_ = 0;
};

class EspSaTable : public cp::SaSink {
 public:
  // `seed` varies the SPIs' check bits between tables.
  explicit EspSaTable(uint64_t seed);

  absl::StatusOr<uint32_t> AllocateInboundSpi() override;
  void ReleaseInboundSpi(uint32_t spi) override;
  absl::StatusOr<cp::ChildSaHandle> Install(const cp::ChildSaInstall& sa) override;
  // The responder's two steps (not used by the simulator's initiator, kept
  // for the seam): the pair decrypts after InstallInbound and is found by
  // the Find* calls only once complete.
  absl::StatusOr<uint32_t> InstallInbound(const cp::ChildSaInstall& sa) override;
  absl::StatusOr<cp::ChildSaHandle> CompleteOutbound(uint32_t inbound_index,
                                                     const cp::ChildSaInstall& sa) override;
  void AbortInbound(uint32_t inbound_index) override;
  absl::Status Remove(const cp::ChildSaHandle& h) override;

  EspPair* FindByInboundSpi(uint32_t spi) const;
  EspPair* FindByInboundIndex(uint32_t index) const;
  // The pair installed last (what the client sends with after a rekey).
  EspPair* newest() const;
  size_t size() const { return pairs_.size(); }

 private:
  std::mt19937_64 rng_;
  uint32_t next_index_ = 1;  // index 0 is never used (brief: slot 0 invalid)
  std::map<uint32_t, uint32_t> reserved_;                // index -> spi
  absl::StatusOr<std::unique_ptr<EspPair>> ClaimReserved(const cp::ChildSaInstall& sa);

  std::map<uint32_t, std::unique_ptr<EspPair>> pairs_;  // inbound index -> pair
  std::map<uint32_t, std::unique_ptr<EspPair>> inbound_only_;
  uint32_t newest_index_ = 0;
};

}  // namespace vpn::clientsim

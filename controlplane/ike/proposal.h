// Algorithm suites from configuration strings ("aes256-sha1-modp2048",
// "aes128-sha1", "aes256gcm16-modp2048") and their mapping to phase 1
// (RFC 2409 Appendix A) and phase 2 (RFC 2407 4.5) transforms.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto.h"
#include "payloads.h"
#include "vpn/shm_abi.h"

namespace vpn::ike {

struct IkeSuite {
  CipherAlg cipher = CipherAlg::kAesCbc;
  uint16_t key_bits = 128;  // AES only; DES/3DES fixed
  HashAlg hash = HashAlg::kSha1;
  DhGroup group = DhGroup::kModp2048;
  AuthMethod auth = AuthMethod::kPsk;
  size_t key_len() const;
  std::string ToString() const;
  bool operator==(const IkeSuite&) const = default;
};
absl::StatusOr<IkeSuite> ParseIkeSuite(std::string_view s);

struct EspSuite {
  EspTransform transform = EspTransform::kAesCbc;
  uint16_t key_bits = 128;  // AES / AES-GCM
  std::optional<EspAuth> auth = EspAuth::kHmacSha1;
  std::optional<DhGroup> pfs;
  bool weak() const { return transform == EspTransform::kDes || transform == EspTransform::k3des; }
  bool gcm() const { return transform == EspTransform::kAesGcm16; }
  size_t cipher_key_len() const;  // without the GCM salt
  size_t salt_len() const { return gcm() ? 4 : 0; }
  size_t integ_key_len() const;
  shm::Cipher shm_cipher() const;
  shm::Integ shm_integ(bool sha256_96) const;
  std::string ToString() const;
  bool operator==(const EspSuite&) const = default;
};
absl::StatusOr<EspSuite> ParseEspSuite(std::string_view s);

// Config lists -> suites; invalid strings are errors naming the string.
absl::StatusOr<std::vector<IkeSuite>> ParseIkeSuites(const std::vector<std::string>& v);
absl::StatusOr<std::vector<EspSuite>> ParseEspSuites(const std::vector<std::string>& v);
// Used when the configuration lists none.
const std::vector<std::string>& DefaultIkeProposals();
const std::vector<std::string>& DefaultEspProposals();
// What Windows 11's built-in client offers (seed 004).
const std::vector<std::string>& Windows11IkeProposals();
const std::vector<std::string>& Windows11EspProposals();

struct Lifetime {
  std::optional<uint64_t> seconds;
  std::optional<uint64_t> kilobytes;
};

// Phase 1 transforms.
Transform IkeSuiteToTransform(const IkeSuite& s, uint8_t number, const Lifetime& life);
struct OfferedIke {
  IkeSuite suite;
  Lifetime life;
};
absl::StatusOr<OfferedIke> TransformToIkeSuite(const Transform& t);

// Phase 2 transforms.
Transform EspSuiteToTransform(const EspSuite& s, uint8_t number, uint16_t encap_mode,
                              const Lifetime& life);
struct OfferedEsp {
  EspSuite suite;
  uint16_t encap_mode = encap::kTransport;
  Lifetime life;
};
absl::StatusOr<OfferedEsp> TransformToEspSuite(uint8_t transform_id, const Transform& t);

// Lifetime the responder imposes (RFC 2407 4.6.3.1 RESPONDER-LIFETIME): the
// initiator's value if no larger than ours, else ours; ours never below
// `floor` seconds. `notify` is set when ours is smaller than what was asked.
struct LifetimeDecision {
  uint64_t seconds = 0;
  uint64_t kilobytes = 0;  // 0 = none
  bool notify = false;
};
LifetimeDecision DecideLifetime(const Lifetime& offered, uint64_t ours_s, uint64_t ours_kb,
                                uint64_t floor_s);
// RESPONDER-LIFETIME notify data: life type/duration attribute pairs.
Bytes EncodeLifetimeAttributes(const LifetimeDecision& d, bool phase1);
Lifetime ParseLifetimeAttributes(ByteSpan data, bool phase1);

}  // namespace vpn::ike

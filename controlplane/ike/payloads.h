// ISAKMP message and payload codecs (RFC 2408 3, RFC 2407 4.6, RFC 3947 3-5).
// Every payload type has a typed struct with Encode*/Parse* over its body
// (the bytes after the 4-byte generic header); the chain walker and the
// per-type minimum sizes are driven by kPayloadSpecs in payloads.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "bytes.h"
#include "constants.h"

namespace vpn::ike {

// RFC 2408 3.3 data attribute: AF=1 is TV (2-byte value), AF=0 is TLV.
struct Attribute {
  uint16_t type = 0;
  bool tv = true;
  uint16_t short_value = 0;
  Bytes long_value;

  static Attribute Tv(uint16_t type, uint16_t v) { return {type, true, v, {}}; }
  static Attribute Tlv(uint16_t type, Bytes v) { return {type, false, 0, std::move(v)}; }
  // Lifetimes and the like: TV when the value fits in 16 bits (RFC 2407 4.5
  // "Life Duration" is variable length), else a minimal TLV.
  static Attribute Number(uint16_t type, uint64_t v);
  // A TV value or a TLV of up to 8 bytes; nullopt if longer.
  std::optional<uint64_t> AsNumber() const;
  bool operator==(const Attribute&) const = default;
};
void EncodeAttributes(const std::vector<Attribute>& attrs, Bytes& out);
absl::StatusOr<std::vector<Attribute>> ParseAttributes(ByteSpan data);

// RFC 2408 3.6 transform payload.
struct Transform {
  uint8_t number = 1;
  uint8_t id = 0;
  std::vector<Attribute> attrs;
  const Attribute* Find(uint16_t type) const;
  bool operator==(const Transform&) const = default;
};

// RFC 2408 3.5 proposal payload.
struct Proposal {
  uint8_t number = 1;
  uint8_t protocol = 0;
  Bytes spi;
  std::vector<Transform> transforms;
  bool operator==(const Proposal&) const = default;
};

// RFC 2408 3.4 / RFC 2407 4.6.1 SA payload (proposals/transforms nested).
struct SaPayload {
  uint32_t doi = kDoiIpsec;
  uint32_t situation = kSituationIdentityOnly;
  std::vector<Proposal> proposals;
  bool operator==(const SaPayload&) const = default;
};
Bytes EncodeSa(const SaPayload& sa);
absl::StatusOr<SaPayload> ParseSa(ByteSpan body);

// RFC 2407 4.6.2 identification payload.
struct IdPayload {
  IdType type = IdType::kIpv4Addr;
  uint8_t protocol = 0;
  uint16_t port = 0;
  Bytes data;
  bool operator==(const IdPayload&) const = default;
  static IdPayload Ipv4(uint32_t ip_net_order, uint8_t proto = 0, uint16_t port = 0);
  // IPv4 address in network order, if this is an ID_IPV4_ADDR.
  std::optional<uint32_t> Ipv4Address() const;
  std::string ToString() const;
};
Bytes EncodeId(const IdPayload& id);
absl::StatusOr<IdPayload> ParseId(ByteSpan body);

// RFC 2408 3.14 notification payload.
struct NotifyPayload {
  uint32_t doi = kDoiIpsec;
  uint8_t protocol = static_cast<uint8_t>(ProtocolId::kIsakmp);
  Bytes spi;
  NotifyType type = NotifyType::kInvalidPayloadType;
  Bytes data;
  bool operator==(const NotifyPayload&) const = default;
};
Bytes EncodeNotify(const NotifyPayload& n);
absl::StatusOr<NotifyPayload> ParseNotify(ByteSpan body);

// RFC 2408 3.15 delete payload.
struct DeletePayload {
  uint32_t doi = kDoiIpsec;
  uint8_t protocol = static_cast<uint8_t>(ProtocolId::kIsakmp);
  uint8_t spi_size = 16;
  std::vector<Bytes> spis;
  bool operator==(const DeletePayload&) const = default;
};
Bytes EncodeDelete(const DeletePayload& d);
absl::StatusOr<DeletePayload> ParseDelete(ByteSpan body);

// RFC 2408 3.9/3.10 CERT and CERTREQ share one layout: encoding + data.
struct CertPayload {
  uint8_t encoding = 4;  // X.509 Certificate - Signature
  Bytes data;
  bool operator==(const CertPayload&) const = default;
};
Bytes EncodeCert(const CertPayload& c);
absl::StatusOr<CertPayload> ParseCert(ByteSpan body);

// RFC 3947 5.2 NAT-OA: ID type, 3 reserved bytes, address.
struct NatOaPayload {
  IdType type = IdType::kIpv4Addr;
  Bytes address;
  bool operator==(const NatOaPayload&) const = default;
};
Bytes EncodeNatOa(const NatOaPayload& oa);
absl::StatusOr<NatOaPayload> ParseNatOa(ByteSpan body);

// KE, HASH, SIG, NONCE, VID and NAT-D carry opaque data: the body itself.

struct Header {
  uint64_t icookie = 0;
  uint64_t rcookie = 0;
  PayloadType next = PayloadType::kNone;
  uint8_t version = kVersion;
  ExchangeType exchange = ExchangeType::kNone;
  uint8_t flags = 0;
  uint32_t message_id = 0;
  uint32_t length = 0;
  bool operator==(const Header&) const = default;
};
absl::StatusOr<Header> ParseHeader(ByteSpan msg);
void EncodeHeader(const Header& h, Bytes& out);

// One payload in a chain. `offset`/`size` locate the whole payload
// (generic header included) inside the area it was parsed from, so hashes
// that cover "the message after the HASH payload" (RFC 2409 5.5) can be
// computed over the exact received bytes.
struct RawPayload {
  PayloadType type = PayloadType::kNone;
  Bytes body;
  size_t offset = 0;
  size_t size = 0;
};

// Walks the payload chain starting with `first` over `area` (the bytes
// after the header, decrypted). Trailing bytes after the last payload are
// padding (RFC 2408 3.1) and ignored. Errors: InvalidArgument for an
// unknown/out-of-place payload type, OutOfRange for bad lengths.
absl::StatusOr<std::vector<RawPayload>> ParseChain(PayloadType first, ByteSpan area);
// Encodes payloads with generic headers, setting each Next Payload field.
Bytes EncodeChain(const std::vector<RawPayload>& payloads);

// A parsed message: header plus its payloads.
struct Message {
  Header hdr;
  Bytes area;  // payload bytes (decrypted if the E flag was set)
  std::vector<RawPayload> payloads;
  const RawPayload* Find(PayloadType t, int nth = 0) const;
  int Count(PayloadType t) const;
};

// Builds a whole unencrypted message: header (length filled in) + chain.
Bytes BuildPlainMessage(Header h, const std::vector<RawPayload>& payloads);
// Parses an unencrypted message (E flag clear).
absl::StatusOr<Message> ParsePlainMessage(ByteSpan msg);

inline RawPayload Payload(PayloadType t, Bytes body) {
  return RawPayload{t, std::move(body), 0, 0};
}

}  // namespace vpn::ike

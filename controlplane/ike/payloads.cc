#include "payloads.h"

#include <arpa/inet.h>

#include "absl/strings/str_format.h"
#include "certs.h"

namespace vpn::ike {
namespace {

// Per-type rules for the chain walker: the name for logs and the smallest
// body RFC 2408 3.4-3.16 / RFC 3947 allows. Proposal and Transform only
// appear nested inside an SA payload, never in the top-level chain.
struct PayloadSpec {
  PayloadType type;
  std::string_view name;
  uint16_t min_body;
};
constexpr PayloadSpec kPayloadSpecs[] = {
    {PayloadType::kSa, "SA", 8},            // DOI + Situation
    {PayloadType::kKe, "KE", 1},
    {PayloadType::kId, "ID", 4},            // type, proto, port
    {PayloadType::kCert, "CERT", 1},
    {PayloadType::kCertReq, "CERTREQ", 1},
    {PayloadType::kHash, "HASH", 1},
    {PayloadType::kSig, "SIG", 1},
    {PayloadType::kNonce, "NONCE", 8},      // RFC 2409 5: 8..256 bytes
    {PayloadType::kNotify, "N", 8},         // DOI, proto, spi size, type
    {PayloadType::kDelete, "D", 8},         // DOI, proto, spi size, count
    {PayloadType::kVendorId, "VID", 1},
    {PayloadType::kNatD, "NAT-D", 1},
    {PayloadType::kNatOa, "NAT-OA", 4},
    {PayloadType::kNatDDraft, "NAT-D(draft)", 1},
    {PayloadType::kNatOaDraft, "NAT-OA(draft)", 4},
};

const PayloadSpec* FindSpec(PayloadType t) {
  for (const auto& s : kPayloadSpecs)
    if (s.type == t) return &s;
  return nullptr;
}

// Encodes one nested payload (proposal/transform) with its generic header.
void PutGeneric(Bytes& out, uint8_t next, ByteSpan body) {
  PutU8(out, next);
  PutU8(out, 0);
  PutU16(out, static_cast<uint16_t>(body.size() + kGenericHeaderSize));
  Append(out, body);
}

absl::StatusOr<Transform> ParseTransform(ByteSpan body) {
  Reader r(body);
  Transform t;
  uint16_t reserved;
  if (!r.U8(&t.number) || !r.U8(&t.id) || !r.U16(&reserved))
    return absl::OutOfRangeError("transform too short");
  auto attrs = ParseAttributes(r.Rest());
  if (!attrs.ok()) return attrs.status();
  t.attrs = std::move(*attrs);
  return t;
}

absl::StatusOr<Proposal> ParseProposal(ByteSpan body) {
  Reader r(body);
  Proposal p;
  uint8_t spi_size, count;
  if (!r.U8(&p.number) || !r.U8(&p.protocol) || !r.U8(&spi_size) || !r.U8(&count) ||
      !r.TakeBytes(spi_size, &p.spi))
    return absl::OutOfRangeError("proposal too short");
  uint8_t next = count ? static_cast<uint8_t>(PayloadType::kTransform) : 0;
  for (int i = 0; i < count; ++i) {
    if (next != static_cast<uint8_t>(PayloadType::kTransform))
      return absl::InvalidArgumentError("transform chain ends early");
    uint8_t reserved;
    uint16_t len;
    ByteSpan tb;
    if (!r.U8(&next) || !r.U8(&reserved) || !r.U16(&len) || len < kGenericHeaderSize ||
        !r.Take(len - kGenericHeaderSize, &tb))
      return absl::OutOfRangeError("bad transform length");
    auto t = ParseTransform(tb);
    if (!t.ok()) return t.status();
    p.transforms.push_back(std::move(*t));
  }
  if (next != 0) return absl::InvalidArgumentError("more transforms than counted");
  if (r.remaining()) return absl::OutOfRangeError("trailing bytes in proposal");
  return p;
}

}  // namespace

std::string_view PayloadName(PayloadType t) {
  if (t == PayloadType::kProposal) return "P";
  if (t == PayloadType::kTransform) return "T";
  if (t == PayloadType::kNone) return "NONE";
  if (t == PayloadType::kFragment) return "FRAG";
  const PayloadSpec* s = FindSpec(t);
  return s ? s->name : "UNKNOWN";
}

Attribute Attribute::Number(uint16_t type, uint64_t v) {
  if (v <= 0xffff) return Tv(type, static_cast<uint16_t>(v));
  Bytes b;
  if (v <= 0xffffffffu) {
    PutU32(b, static_cast<uint32_t>(v));
  } else {
    PutU64(b, v);
  }
  return Tlv(type, std::move(b));
}

std::optional<uint64_t> Attribute::AsNumber() const {
  if (tv) return short_value;
  if (long_value.empty() || long_value.size() > 8) return std::nullopt;
  uint64_t v = 0;
  for (uint8_t b : long_value) v = v << 8 | b;
  return v;
}

void EncodeAttributes(const std::vector<Attribute>& attrs, Bytes& out) {
  for (const auto& a : attrs) {
    if (a.tv) {
      PutU16(out, 0x8000 | a.type);
      PutU16(out, a.short_value);
    } else {
      PutU16(out, a.type & 0x7fff);
      PutU16(out, static_cast<uint16_t>(a.long_value.size()));
      Append(out, a.long_value);
    }
  }
}

absl::StatusOr<std::vector<Attribute>> ParseAttributes(ByteSpan data) {
  Reader r(data);
  std::vector<Attribute> out;
  while (r.remaining()) {
    uint16_t af_type, v;
    if (!r.U16(&af_type) || !r.U16(&v)) return absl::OutOfRangeError("attribute truncated");
    Attribute a;
    a.type = af_type & 0x7fff;
    a.tv = af_type & 0x8000;
    if (a.tv) {
      a.short_value = v;
    } else if (!r.TakeBytes(v, &a.long_value)) {
      return absl::OutOfRangeError("attribute value truncated");
    }
    out.push_back(std::move(a));
  }
  return out;
}

const Attribute* Transform::Find(uint16_t type) const {
  for (const auto& a : attrs)
    if (a.type == type) return &a;
  return nullptr;
}

Bytes EncodeSa(const SaPayload& sa) {
  Bytes out;
  PutU32(out, sa.doi);
  PutU32(out, sa.situation);
  for (size_t i = 0; i < sa.proposals.size(); ++i) {
    const Proposal& p = sa.proposals[i];
    Bytes pb;
    PutU8(pb, p.number);
    PutU8(pb, p.protocol);
    PutU8(pb, static_cast<uint8_t>(p.spi.size()));
    PutU8(pb, static_cast<uint8_t>(p.transforms.size()));
    Append(pb, p.spi);
    for (size_t j = 0; j < p.transforms.size(); ++j) {
      const Transform& t = p.transforms[j];
      Bytes tb;
      PutU8(tb, t.number);
      PutU8(tb, t.id);
      PutU16(tb, 0);
      EncodeAttributes(t.attrs, tb);
      PutGeneric(pb, j + 1 < p.transforms.size() ? 3 : 0, tb);
    }
    PutGeneric(out, i + 1 < sa.proposals.size() ? 2 : 0, pb);
  }
  return out;
}

absl::StatusOr<SaPayload> ParseSa(ByteSpan body) {
  Reader r(body);
  SaPayload sa;
  if (!r.U32(&sa.doi) || !r.U32(&sa.situation)) return absl::OutOfRangeError("SA too short");
  if (sa.doi != kDoiIpsec) return absl::InvalidArgumentError("DOI not supported");
  if (sa.situation != kSituationIdentityOnly)
    return absl::InvalidArgumentError("situation not supported");
  uint8_t next = static_cast<uint8_t>(PayloadType::kProposal);
  for (int i = 0; next != 0; ++i) {
    if (next != static_cast<uint8_t>(PayloadType::kProposal) || i >= 64)
      return absl::InvalidArgumentError("bad proposal chain");
    uint8_t reserved;
    uint16_t len;
    ByteSpan pb;
    if (!r.U8(&next) || !r.U8(&reserved) || !r.U16(&len) || len < kGenericHeaderSize ||
        !r.Take(len - kGenericHeaderSize, &pb))
      return absl::OutOfRangeError("bad proposal length");
    auto p = ParseProposal(pb);
    if (!p.ok()) return p.status();
    sa.proposals.push_back(std::move(*p));
  }
  if (r.remaining()) return absl::OutOfRangeError("trailing bytes in SA");
  return sa;
}

IdPayload IdPayload::Ipv4(uint32_t ip, uint8_t proto, uint16_t port) {
  IdPayload id;
  id.type = IdType::kIpv4Addr;
  id.protocol = proto;
  id.port = port;
  id.data.resize(4);
  std::memcpy(id.data.data(), &ip, 4);
  return id;
}

std::optional<uint32_t> IdPayload::Ipv4Address() const {
  if (type != IdType::kIpv4Addr || data.size() != 4) return std::nullopt;
  uint32_t ip;
  std::memcpy(&ip, data.data(), 4);
  return ip;
}

std::string IdPayload::ToString() const {
  switch (type) {
    case IdType::kIpv4Addr:
      if (data.size() == 4)
        return absl::StrFormat("%d.%d.%d.%d", data[0], data[1], data[2], data[3]);
      break;
    case IdType::kDerAsn1Dn: {
      std::string dn = DnToString(data);
      if (!dn.empty()) return dn;
      break;
    }
    case IdType::kFqdn:
    case IdType::kUserFqdn:
    case IdType::kKeyId: {
      std::string s;
      for (uint8_t c : data) s.push_back(c >= 0x20 && c < 0x7f ? char(c) : '?');
      return s;
    }
    default:
      break;
  }
  return absl::StrFormat("id%d:%s", static_cast<int>(type), Hex(data));
}

Bytes EncodeId(const IdPayload& id) {
  Bytes out;
  PutU8(out, static_cast<uint8_t>(id.type));
  PutU8(out, id.protocol);
  PutU16(out, id.port);
  Append(out, id.data);
  return out;
}

absl::StatusOr<IdPayload> ParseId(ByteSpan body) {
  Reader r(body);
  IdPayload id;
  uint8_t type;
  if (!r.U8(&type) || !r.U8(&id.protocol) || !r.U16(&id.port))
    return absl::OutOfRangeError("ID too short");
  id.type = static_cast<IdType>(type);
  ByteSpan rest = r.Rest();
  id.data.assign(rest.begin(), rest.end());
  if (id.type == IdType::kIpv4Addr && id.data.size() != 4)
    return absl::InvalidArgumentError("ID_IPV4_ADDR must be 4 bytes");
  if (id.type == IdType::kIpv4Subnet && id.data.size() != 8)
    return absl::InvalidArgumentError("ID_IPV4_ADDR_SUBNET must be 8 bytes");
  return id;
}

Bytes EncodeNotify(const NotifyPayload& n) {
  Bytes out;
  PutU32(out, n.doi);
  PutU8(out, n.protocol);
  PutU8(out, static_cast<uint8_t>(n.spi.size()));
  PutU16(out, static_cast<uint16_t>(n.type));
  Append(out, n.spi);
  Append(out, n.data);
  return out;
}

absl::StatusOr<NotifyPayload> ParseNotify(ByteSpan body) {
  Reader r(body);
  NotifyPayload n;
  uint8_t spi_size;
  uint16_t type;
  if (!r.U32(&n.doi) || !r.U8(&n.protocol) || !r.U8(&spi_size) || !r.U16(&type) ||
      !r.TakeBytes(spi_size, &n.spi))
    return absl::OutOfRangeError("notify truncated");
  n.type = static_cast<NotifyType>(type);
  ByteSpan rest = r.Rest();
  n.data.assign(rest.begin(), rest.end());
  return n;
}

Bytes EncodeDelete(const DeletePayload& d) {
  Bytes out;
  PutU32(out, d.doi);
  PutU8(out, d.protocol);
  PutU8(out, d.spi_size);
  PutU16(out, static_cast<uint16_t>(d.spis.size()));
  for (const auto& s : d.spis) Append(out, s);
  return out;
}

absl::StatusOr<DeletePayload> ParseDelete(ByteSpan body) {
  Reader r(body);
  DeletePayload d;
  uint16_t count;
  if (!r.U32(&d.doi) || !r.U8(&d.protocol) || !r.U8(&d.spi_size) || !r.U16(&count))
    return absl::OutOfRangeError("delete truncated");
  if (d.spi_size == 0) return absl::InvalidArgumentError("delete with zero SPI size");
  if (r.remaining() != size_t(count) * d.spi_size)
    return absl::OutOfRangeError("delete SPI count does not match length");
  for (int i = 0; i < count; ++i) {
    Bytes s;
    r.TakeBytes(d.spi_size, &s);
    d.spis.push_back(std::move(s));
  }
  return d;
}

Bytes EncodeCert(const CertPayload& c) {
  Bytes out;
  PutU8(out, c.encoding);
  Append(out, c.data);
  return out;
}

absl::StatusOr<CertPayload> ParseCert(ByteSpan body) {
  Reader r(body);
  CertPayload c;
  if (!r.U8(&c.encoding)) return absl::OutOfRangeError("CERT truncated");
  ByteSpan rest = r.Rest();
  c.data.assign(rest.begin(), rest.end());
  return c;
}

Bytes EncodeNatOa(const NatOaPayload& oa) {
  Bytes out;
  PutU8(out, static_cast<uint8_t>(oa.type));
  PutU8(out, 0);
  PutU16(out, 0);
  Append(out, oa.address);
  return out;
}

absl::StatusOr<NatOaPayload> ParseNatOa(ByteSpan body) {
  Reader r(body);
  NatOaPayload oa;
  uint8_t type, r1;
  uint16_t r2;
  if (!r.U8(&type) || !r.U8(&r1) || !r.U16(&r2)) return absl::OutOfRangeError("NAT-OA truncated");
  oa.type = static_cast<IdType>(type);
  ByteSpan rest = r.Rest();
  oa.address.assign(rest.begin(), rest.end());
  if (oa.type == IdType::kIpv4Addr && oa.address.size() != 4)
    return absl::InvalidArgumentError("NAT-OA IPv4 must be 4 bytes");
  if (oa.type != IdType::kIpv4Addr && oa.type != IdType::kIpv6Addr)
    return absl::InvalidArgumentError("NAT-OA type must be an address");
  return oa;
}

absl::StatusOr<Header> ParseHeader(ByteSpan msg) {
  if (msg.size() < kHeaderSize) return absl::OutOfRangeError("shorter than ISAKMP header");
  const uint8_t* p = msg.data();
  Header h;
  h.icookie = GetU64(p);
  h.rcookie = GetU64(p + 8);
  h.next = static_cast<PayloadType>(p[16]);
  h.version = p[17];
  h.exchange = static_cast<ExchangeType>(p[18]);
  h.flags = p[19];
  h.message_id = GetU32(p + 20);
  h.length = GetU32(p + 24);
  if (h.length != msg.size()) return absl::OutOfRangeError("header length != datagram length");
  return h;
}

void EncodeHeader(const Header& h, Bytes& out) {
  PutU64(out, h.icookie);
  PutU64(out, h.rcookie);
  PutU8(out, static_cast<uint8_t>(h.next));
  PutU8(out, h.version);
  PutU8(out, static_cast<uint8_t>(h.exchange));
  PutU8(out, h.flags);
  PutU32(out, h.message_id);
  PutU32(out, h.length);
}

absl::StatusOr<std::vector<RawPayload>> ParseChain(PayloadType first, ByteSpan area) {
  std::vector<RawPayload> out;
  Reader r(area);
  PayloadType next = first;
  while (next != PayloadType::kNone) {
    const PayloadSpec* spec = FindSpec(next);
    if (!spec)
      return absl::InvalidArgumentError(
          absl::StrFormat("payload type %d not allowed here", static_cast<int>(next)));
    if (out.size() >= 64) return absl::InvalidArgumentError("too many payloads");
    RawPayload p;
    p.type = next;
    p.offset = r.pos();
    uint8_t n, reserved;
    uint16_t len;
    if (!r.U8(&n) || !r.U8(&reserved) || !r.U16(&len))
      return absl::OutOfRangeError("generic payload header truncated");
    if (len < kGenericHeaderSize + spec->min_body)
      return absl::OutOfRangeError(absl::StrFormat("%s payload too short", spec->name));
    if (!r.TakeBytes(len - kGenericHeaderSize, &p.body))
      return absl::OutOfRangeError(absl::StrFormat("%s payload overruns message", spec->name));
    p.size = len;
    next = static_cast<PayloadType>(n);
    out.push_back(std::move(p));
  }
  return out;
}

Bytes EncodeChain(const std::vector<RawPayload>& payloads) {
  Bytes out;
  for (size_t i = 0; i < payloads.size(); ++i) {
    uint8_t next = i + 1 < payloads.size() ? static_cast<uint8_t>(payloads[i + 1].type) : 0;
    PutGeneric(out, next, payloads[i].body);
  }
  return out;
}

const RawPayload* Message::Find(PayloadType t, int nth) const {
  for (const auto& p : payloads)
    if (p.type == t && nth-- == 0) return &p;
  return nullptr;
}

int Message::Count(PayloadType t) const {
  int n = 0;
  for (const auto& p : payloads) n += p.type == t;
  return n;
}

Bytes BuildPlainMessage(Header h, const std::vector<RawPayload>& payloads) {
  Bytes chain = EncodeChain(payloads);
  h.next = payloads.empty() ? PayloadType::kNone : payloads[0].type;
  h.length = static_cast<uint32_t>(kHeaderSize + chain.size());
  Bytes out;
  out.reserve(h.length);
  EncodeHeader(h, out);
  Append(out, chain);
  return out;
}

absl::StatusOr<Message> ParsePlainMessage(ByteSpan msg) {
  auto h = ParseHeader(msg);
  if (!h.ok()) return h.status();
  Message m;
  m.hdr = *h;
  m.area.assign(msg.begin() + kHeaderSize, msg.end());
  auto chain = ParseChain(m.hdr.next, m.area);
  if (!chain.ok()) return chain.status();
  m.payloads = std::move(*chain);
  return m;
}

std::string Hex(ByteSpan b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (uint8_t c : b) {
    s.push_back(d[c >> 4]);
    s.push_back(d[c & 15]);
  }
  return s;
}

Bytes FromHex(std::string_view hex) {
  Bytes out;
  int hi = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else if (c == ' ' || c == '\n' || c == '\t' || c == ':') continue;
    else return {};
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  if (hi >= 0) return {};
  return out;
}

std::string_view ExchangeName(ExchangeType t) {
  switch (t) {
    case ExchangeType::kIdentityProtection: return "MainMode";
    case ExchangeType::kAggressive: return "Aggressive";
    case ExchangeType::kInformational: return "Informational";
    case ExchangeType::kQuickMode: return "QuickMode";
    case ExchangeType::kBase: return "Base";
    case ExchangeType::kAuthOnly: return "AuthOnly";
    default: return "Unknown";
  }
}

std::string_view NotifyName(NotifyType t) {
  switch (t) {
    case NotifyType::kInvalidPayloadType: return "INVALID-PAYLOAD-TYPE";
    case NotifyType::kInvalidCookie: return "INVALID-COOKIE";
    case NotifyType::kInvalidMajorVersion: return "INVALID-MAJOR-VERSION";
    case NotifyType::kInvalidExchangeType: return "INVALID-EXCHANGE-TYPE";
    case NotifyType::kInvalidFlags: return "INVALID-FLAGS";
    case NotifyType::kInvalidMessageId: return "INVALID-MESSAGE-ID";
    case NotifyType::kInvalidSpi: return "INVALID-SPI";
    case NotifyType::kNoProposalChosen: return "NO-PROPOSAL-CHOSEN";
    case NotifyType::kPayloadMalformed: return "PAYLOAD-MALFORMED";
    case NotifyType::kInvalidKeyInformation: return "INVALID-KEY-INFORMATION";
    case NotifyType::kInvalidIdInformation: return "INVALID-ID-INFORMATION";
    case NotifyType::kInvalidHashInformation: return "INVALID-HASH-INFORMATION";
    case NotifyType::kAuthenticationFailed: return "AUTHENTICATION-FAILED";
    case NotifyType::kUnsupportedExchangeType: return "UNSUPPORTED-EXCHANGE-TYPE";
    case NotifyType::kConnected: return "CONNECTED";
    case NotifyType::kResponderLifetime: return "RESPONDER-LIFETIME";
    case NotifyType::kReplayStatus: return "REPLAY-STATUS";
    case NotifyType::kInitialContact: return "INITIAL-CONTACT";
    case NotifyType::kRUThere: return "R-U-THERE";
    case NotifyType::kRUThereAck: return "R-U-THERE-ACK";
    default: return "NOTIFY";
  }
}

}  // namespace vpn::ike

#include "proposal.h"

#include "absl/strings/str_format.h"

namespace vpn::ike {
namespace {

// (Debian's abseil 20220623 has its own string_view, so std::string_view
// does not mix with StrCat/StrSplit: small local helpers instead.)
template <typename... T>
std::string Cat(const T&... parts) {
  std::string s;
  ((s += parts), ...);
  return s;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t i = s.find(sep, start);
    out.push_back(s.substr(start, i == std::string_view::npos ? std::string_view::npos : i - start));
    if (i == std::string_view::npos) return out;
    start = i + 1;
  }
}

// Config tokens, RFC attribute values and names side by side.
struct HashRow {
  std::string_view token;
  HashAlg alg;
  P1Hash p1;
  EspAuth esp;
};
constexpr HashRow kHashes[] = {
    {"md5", HashAlg::kMd5, P1Hash::kMd5, EspAuth::kHmacMd5},
    {"sha1", HashAlg::kSha1, P1Hash::kSha1, EspAuth::kHmacSha1},
    {"sha", HashAlg::kSha1, P1Hash::kSha1, EspAuth::kHmacSha1},
    {"sha256", HashAlg::kSha256, P1Hash::kSha256, EspAuth::kHmacSha256},
    {"sha384", HashAlg::kSha384, P1Hash::kSha384, EspAuth::kHmacSha384},
    {"sha512", HashAlg::kSha512, P1Hash::kSha512, EspAuth::kHmacSha512},
};

struct GroupRow {
  std::string_view token;
  DhGroup group;
};
constexpr GroupRow kGroups[] = {
    {"modp1024", DhGroup::kModp1024}, {"modp1536", DhGroup::kModp1536},
    {"modp2048", DhGroup::kModp2048}, {"modp3072", DhGroup::kModp3072},
    {"modp4096", DhGroup::kModp4096}, {"ecp256", DhGroup::kEcp256},
    {"ecp384", DhGroup::kEcp384},
};

std::optional<DhGroup> GroupFromToken(std::string_view t) {
  for (const auto& g : kGroups)
    if (g.token == t) return g.group;
  return std::nullopt;
}

const HashRow* HashFromToken(std::string_view t) {
  for (const auto& h : kHashes)
    if (h.token == t) return &h;
  return nullptr;
}

const HashRow* HashFromP1(uint16_t v) {
  for (const auto& h : kHashes)
    if (static_cast<uint16_t>(h.p1) == v) return &h;
  return nullptr;
}

const HashRow* HashFromEsp(uint16_t v) {
  for (const auto& h : kHashes)
    if (static_cast<uint16_t>(h.esp) == v) return &h;
  return nullptr;
}

std::string_view HashToken(HashAlg a) {
  for (const auto& h : kHashes)
    if (h.alg == a) return h.token;
  return "?";
}

bool ParseAesBits(std::string_view t, uint16_t* bits) {
  if (t == "aes" || t == "aes128") *bits = 128;
  else if (t == "aes192") *bits = 192;
  else if (t == "aes256") *bits = 256;
  else return false;
  return true;
}

void AddLife(std::vector<Attribute>& a, uint16_t type_attr, uint16_t dur_attr,
             const Lifetime& life) {
  if (life.seconds) {
    a.push_back(Attribute::Tv(type_attr, kLifeSeconds));
    a.push_back(Attribute::Number(dur_attr, *life.seconds));
  }
  if (life.kilobytes) {
    a.push_back(Attribute::Tv(type_attr, kLifeKilobytes));
    a.push_back(Attribute::Number(dur_attr, *life.kilobytes));
  }
}

// RFC 2407 4.5 / RFC 2409 Appendix A: a Life Duration applies to the Life
// Type attribute just before it.
absl::Status TakeLife(const std::vector<Attribute>& attrs, size_t i, uint16_t* pending_type,
                      uint16_t type_attr, uint16_t dur_attr, Lifetime* life) {
  const Attribute& a = attrs[i];
  if (a.type == type_attr) {
    if (!a.tv || (a.short_value != kLifeSeconds && a.short_value != kLifeKilobytes))
      return absl::InvalidArgumentError("bad life type");
    *pending_type = a.short_value;
  } else if (a.type == dur_attr) {
    auto v = a.AsNumber();
    if (!v || *pending_type == 0) return absl::InvalidArgumentError("bad life duration");
    (*pending_type == kLifeSeconds ? life->seconds : life->kilobytes) = *v;
    *pending_type = 0;
  }
  return absl::OkStatus();
}

}  // namespace

size_t IkeSuite::key_len() const {
  switch (cipher) {
    case CipherAlg::kDesCbc: return 8;
    case CipherAlg::k3desCbc: return 24;
    case CipherAlg::kAesCbc: return key_bits / 8;
  }
  return 0;
}

std::string IkeSuite::ToString() const {
  return Cat(CipherName(cipher, key_len()), "-", HashToken(hash), "-",
                      DhGroupName(group));
}

absl::StatusOr<IkeSuite> ParseIkeSuite(std::string_view s) {
  std::vector<std::string_view> t = Split(s, '-');
  IkeSuite suite;
  if (t.size() != 3) return absl::InvalidArgumentError(Cat("IKE proposal '", s, "': want cipher-hash-group"));
  if (t[0] == "3des") suite.cipher = CipherAlg::k3desCbc, suite.key_bits = 0;
  // Single DES is not offered for phase 1 (and OpenSSL 3 keeps it in the
  // legacy provider); Windows 11 never proposes it for IKE.
  else if (!ParseAesBits(t[0], &suite.key_bits))
    return absl::InvalidArgumentError(Cat("IKE proposal '", s, "': unknown cipher"));
  const HashRow* h = HashFromToken(t[1]);
  if (!h) return absl::InvalidArgumentError(Cat("IKE proposal '", s, "': unknown hash"));
  suite.hash = h->alg;
  auto g = GroupFromToken(t[2]);
  if (!g) return absl::InvalidArgumentError(Cat("IKE proposal '", s, "': unknown DH group"));
  suite.group = *g;
  return suite;
}

size_t EspSuite::cipher_key_len() const {
  switch (transform) {
    case EspTransform::kDes: return 8;
    case EspTransform::k3des: return 24;
    default: return key_bits / 8;
  }
}

size_t EspSuite::integ_key_len() const {
  if (!auth) return 0;
  switch (*auth) {
    case EspAuth::kHmacMd5: return 16;
    case EspAuth::kHmacSha1: return 20;
    case EspAuth::kHmacSha256: return 32;
    case EspAuth::kHmacSha384: return 48;
    case EspAuth::kHmacSha512: return 64;
  }
  return 0;
}

shm::Cipher EspSuite::shm_cipher() const {
  switch (transform) {
    case EspTransform::kDes: return shm::Cipher::kDesCbc;
    case EspTransform::k3des: return shm::Cipher::kDes3Cbc;
    case EspTransform::kAesGcm16: return shm::Cipher::kAesGcm16;
    case EspTransform::kNull: return shm::Cipher::kNull;
    default: return shm::Cipher::kAesCbc;
  }
}

shm::Integ EspSuite::shm_integ(bool sha256_96) const {
  if (!auth) return shm::Integ::kNone;
  switch (*auth) {
    case EspAuth::kHmacSha1: return shm::Integ::kHmacSha1_96;
    case EspAuth::kHmacSha256:
      return sha256_96 ? shm::Integ::kHmacSha256_96 : shm::Integ::kHmacSha256_128;
    case EspAuth::kHmacSha384: return shm::Integ::kHmacSha384_192;
    case EspAuth::kHmacSha512: return shm::Integ::kHmacSha512_256;
    default: return shm::Integ::kNone;
  }
}

std::string EspSuite::ToString() const {
  std::string s;
  switch (transform) {
    case EspTransform::kDes: s = "des"; break;
    case EspTransform::k3des: s = "3des"; break;
    case EspTransform::kAesGcm16: s = Cat("aes", std::to_string(key_bits), "gcm16"); break;
    default: s = Cat("aes", std::to_string(key_bits)); break;
  }
  if (auth) {
    for (const auto& h : kHashes)
      if (h.esp == *auth) {
        s += Cat("-", h.token);
        break;
      }
  }
  if (pfs) s += Cat("-", DhGroupName(*pfs));
  return s;
}

absl::StatusOr<EspSuite> ParseEspSuite(std::string_view s) {
  std::vector<std::string_view> t = Split(s, '-');
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(Cat("ESP proposal '", s, "': ", why));
  };
  EspSuite e;
  size_t i = 0;
  if (t[0] == "3des") {
    e.transform = EspTransform::k3des, e.key_bits = 0;
  } else if (t[0] == "des") {
    e.transform = EspTransform::kDes, e.key_bits = 0;
  } else if (t[0].size() > 5 && t[0].substr(t[0].size() - 5) == "gcm16") {
    e.transform = EspTransform::kAesGcm16;
    e.auth.reset();
    if (!ParseAesBits(t[0].substr(0, t[0].size() - 5), &e.key_bits) || e.key_bits == 192)
      return bad("unknown cipher");
  } else if (!ParseAesBits(t[0], &e.key_bits)) {
    return bad("unknown cipher");
  }
  ++i;
  if (!e.gcm()) {
    if (i >= t.size()) return bad("missing integrity algorithm");
    const HashRow* h = HashFromToken(t[i]);
    if (!h) return bad("unknown integrity algorithm");
    if (h->esp == EspAuth::kHmacMd5) return bad("HMAC-MD5 is not supported by the dataplane");
    e.auth = h->esp;
    ++i;
  }
  if (i < t.size()) {
    auto g = GroupFromToken(t[i]);
    if (!g) return bad("unknown PFS group");
    e.pfs = *g;
    ++i;
  }
  if (i != t.size()) return bad("trailing tokens");
  return e;
}

absl::StatusOr<std::vector<IkeSuite>> ParseIkeSuites(const std::vector<std::string>& v) {
  std::vector<IkeSuite> out;
  for (const auto& s : v.empty() ? DefaultIkeProposals() : v) {
    auto r = ParseIkeSuite(s);
    if (!r.ok()) return r.status();
    out.push_back(*r);
  }
  return out;
}

absl::StatusOr<std::vector<EspSuite>> ParseEspSuites(const std::vector<std::string>& v) {
  std::vector<EspSuite> out;
  for (const auto& s : v.empty() ? DefaultEspProposals() : v) {
    auto r = ParseEspSuite(s);
    if (!r.ok()) return r.status();
    out.push_back(*r);
  }
  return out;
}

const std::vector<std::string>& DefaultIkeProposals() {
  static const std::vector<std::string> v = {
      "aes256-sha256-modp2048", "aes256-sha1-modp2048", "aes128-sha1-modp2048",
      "aes128-sha256-ecp256",   "aes256-sha1-ecp384",   "aes128-sha1-ecp256",
      "3des-sha1-modp2048",     "3des-sha1-modp1024"};
  return v;
}

const std::vector<std::string>& DefaultEspProposals() {
  static const std::vector<std::string> v = {"aes256gcm16", "aes128gcm16", "aes256-sha256",
                                             "aes256-sha1", "aes128-sha1"};
  return v;
}

const std::vector<std::string>& Windows11IkeProposals() {
  static const std::vector<std::string> v = {"aes256-sha1-ecp384", "aes128-sha1-ecp256",
                                             "aes256-sha1-modp2048", "3des-sha1-modp2048",
                                             "3des-sha1-modp1024"};
  return v;
}

const std::vector<std::string>& Windows11EspProposals() {
  static const std::vector<std::string> v = {"aes128-sha1", "3des-sha1", "des-sha1"};
  return v;
}

Transform IkeSuiteToTransform(const IkeSuite& s, uint8_t number, const Lifetime& life) {
  Transform t;
  t.number = number;
  t.id = kTransformKeyIke;
  P1Encryption enc = s.cipher == CipherAlg::kAesCbc ? P1Encryption::kAesCbc
                     : s.cipher == CipherAlg::k3desCbc ? P1Encryption::k3desCbc
                                                       : P1Encryption::kDesCbc;
  t.attrs.push_back(Attribute::Tv(p1attr::kEncryption, static_cast<uint16_t>(enc)));
  if (s.cipher == CipherAlg::kAesCbc) t.attrs.push_back(Attribute::Tv(p1attr::kKeyLength, s.key_bits));
  uint16_t hash = 0;
  for (const auto& h : kHashes)
    if (h.alg == s.hash) {
      hash = static_cast<uint16_t>(h.p1);
      break;
    }
  t.attrs.push_back(Attribute::Tv(p1attr::kHash, hash));
  t.attrs.push_back(Attribute::Tv(p1attr::kAuthMethod, static_cast<uint16_t>(s.auth)));
  t.attrs.push_back(Attribute::Tv(p1attr::kGroup, static_cast<uint16_t>(s.group)));
  AddLife(t.attrs, p1attr::kLifeType, p1attr::kLifeDuration, life);
  return t;
}

absl::StatusOr<OfferedIke> TransformToIkeSuite(const Transform& t) {
  if (t.id != kTransformKeyIke) return absl::InvalidArgumentError("not KEY_IKE");
  OfferedIke o;
  bool have_enc = false, have_hash = false, have_group = false, have_auth = false;
  std::optional<uint16_t> key_bits;
  uint16_t pending = 0;
  for (size_t i = 0; i < t.attrs.size(); ++i) {
    const Attribute& a = t.attrs[i];
    switch (a.type) {
      case p1attr::kEncryption:
        if (a.short_value == static_cast<uint16_t>(P1Encryption::kAesCbc)) o.suite.cipher = CipherAlg::kAesCbc;
        else if (a.short_value == static_cast<uint16_t>(P1Encryption::k3desCbc)) o.suite.cipher = CipherAlg::k3desCbc;
        else if (a.short_value == static_cast<uint16_t>(P1Encryption::kDesCbc)) o.suite.cipher = CipherAlg::kDesCbc;
        else return absl::InvalidArgumentError("unsupported encryption");
        have_enc = a.tv;
        break;
      case p1attr::kHash: {
        const HashRow* h = a.tv ? HashFromP1(a.short_value) : nullptr;
        if (!h) return absl::InvalidArgumentError("unsupported hash");
        o.suite.hash = h->alg;
        have_hash = true;
        break;
      }
      case p1attr::kAuthMethod:
        if (!a.tv) return absl::InvalidArgumentError("bad auth method");
        o.suite.auth = static_cast<AuthMethod>(a.short_value);
        have_auth = true;
        break;
      case p1attr::kGroup:
        if (!a.tv || !DhGroupSupported(a.short_value))
          return absl::InvalidArgumentError("unsupported group");
        o.suite.group = static_cast<DhGroup>(a.short_value);
        have_group = true;
        break;
      case p1attr::kKeyLength:
        if (!a.tv) return absl::InvalidArgumentError("bad key length");
        key_bits = a.short_value;
        break;
      case p1attr::kLifeType:
      case p1attr::kLifeDuration: {
        auto st = TakeLife(t.attrs, i, &pending, p1attr::kLifeType, p1attr::kLifeDuration, &o.life);
        if (!st.ok()) return st;
        break;
      }
      default:
        // RFC 2409 Appendix A: unknown classes (PRF, group type/prime...)
        // make the transform unacceptable rather than silently ignored.
        return absl::InvalidArgumentError(absl::StrFormat("unsupported attribute %d", a.type));
    }
  }
  if (!have_enc || !have_hash || !have_group || !have_auth)
    return absl::InvalidArgumentError("mandatory attribute missing");
  if (o.suite.cipher == CipherAlg::kAesCbc) {
    o.suite.key_bits = key_bits.value_or(128);
    if (o.suite.key_bits != 128 && o.suite.key_bits != 192 && o.suite.key_bits != 256)
      return absl::InvalidArgumentError("bad AES key length");
  } else {
    if (key_bits) return absl::InvalidArgumentError("key length on fixed-size cipher");
    o.suite.key_bits = 0;
  }
  return o;
}

Transform EspSuiteToTransform(const EspSuite& s, uint8_t number, uint16_t encap_mode,
                              const Lifetime& life) {
  Transform t;
  t.number = number;
  t.id = static_cast<uint8_t>(s.transform);
  AddLife(t.attrs, p2attr::kLifeType, p2attr::kLifeDuration, life);
  if (s.pfs) t.attrs.push_back(Attribute::Tv(p2attr::kGroup, static_cast<uint16_t>(*s.pfs)));
  t.attrs.push_back(Attribute::Tv(p2attr::kEncapsulation, encap_mode));
  if (s.auth) t.attrs.push_back(Attribute::Tv(p2attr::kAuthAlgorithm, static_cast<uint16_t>(*s.auth)));
  if (!s.weak()) t.attrs.push_back(Attribute::Tv(p2attr::kKeyLength, s.key_bits));
  return t;
}

absl::StatusOr<OfferedEsp> TransformToEspSuite(uint8_t transform_id, const Transform& t) {
  OfferedEsp o;
  switch (static_cast<EspTransform>(transform_id)) {
    case EspTransform::kDes: case EspTransform::k3des: case EspTransform::kAesCbc:
    case EspTransform::kAesGcm16:
      o.suite.transform = static_cast<EspTransform>(transform_id);
      break;
    default:
      return absl::InvalidArgumentError("unsupported ESP transform");
  }
  o.suite.auth.reset();
  std::optional<uint16_t> key_bits;
  uint16_t pending = 0;
  for (size_t i = 0; i < t.attrs.size(); ++i) {
    const Attribute& a = t.attrs[i];
    switch (a.type) {
      case p2attr::kLifeType:
      case p2attr::kLifeDuration: {
        auto st = TakeLife(t.attrs, i, &pending, p2attr::kLifeType, p2attr::kLifeDuration, &o.life);
        if (!st.ok()) return st;
        break;
      }
      case p2attr::kGroup:
        if (!a.tv || !DhGroupSupported(a.short_value))
          return absl::InvalidArgumentError("unsupported PFS group");
        o.suite.pfs = static_cast<DhGroup>(a.short_value);
        break;
      case p2attr::kEncapsulation:
        if (!a.tv) return absl::InvalidArgumentError("bad encapsulation");
        o.encap_mode = a.short_value;
        break;
      case p2attr::kAuthAlgorithm: {
        const HashRow* h = a.tv ? HashFromEsp(a.short_value) : nullptr;
        if (!h || h->esp == EspAuth::kHmacMd5)
          return absl::InvalidArgumentError("unsupported ESP authentication");
        o.suite.auth = h->esp;
        break;
      }
      case p2attr::kKeyLength:
        if (!a.tv) return absl::InvalidArgumentError("bad key length");
        key_bits = a.short_value;
        break;
      default:
        return absl::InvalidArgumentError(absl::StrFormat("unsupported ESP attribute %d", a.type));
    }
  }
  if (o.suite.weak()) {
    if (key_bits) return absl::InvalidArgumentError("key length on fixed-size cipher");
    o.suite.key_bits = 0;
  } else {
    o.suite.key_bits = key_bits.value_or(128);
    bool ok = o.suite.key_bits == 128 || o.suite.key_bits == 256 ||
              (o.suite.key_bits == 192 && !o.suite.gcm());
    if (!ok) return absl::InvalidArgumentError("bad AES key length");
  }
  if (o.suite.gcm() && o.suite.auth) return absl::InvalidArgumentError("AES-GCM with an HMAC");
  if (!o.suite.gcm() && !o.suite.auth) return absl::InvalidArgumentError("ESP without integrity");
  return o;
}

LifetimeDecision DecideLifetime(const Lifetime& offered, uint64_t ours_s, uint64_t ours_kb,
                                uint64_t floor_s) {
  LifetimeDecision d;
  uint64_t limit_s = std::max(ours_s, floor_s);
  if (offered.seconds && *offered.seconds > 0 && *offered.seconds <= limit_s) {
    d.seconds = *offered.seconds;
  } else {
    d.seconds = limit_s;
    if (offered.seconds) d.notify = true;  // asked for more (or "0"): tell them ours
  }
  if (ours_kb == 0) {
    d.kilobytes = offered.kilobytes.value_or(0);
  } else if (offered.kilobytes && *offered.kilobytes > 0 && *offered.kilobytes <= ours_kb) {
    d.kilobytes = *offered.kilobytes;
  } else {
    d.kilobytes = ours_kb;
    if (offered.kilobytes) d.notify = true;
  }
  return d;
}

Bytes EncodeLifetimeAttributes(const LifetimeDecision& d, bool phase1) {
  std::vector<Attribute> a;
  Lifetime l;
  l.seconds = d.seconds;
  if (d.kilobytes) l.kilobytes = d.kilobytes;
  if (phase1) AddLife(a, p1attr::kLifeType, p1attr::kLifeDuration, l);
  else AddLife(a, p2attr::kLifeType, p2attr::kLifeDuration, l);
  Bytes out;
  EncodeAttributes(a, out);
  return out;
}

Lifetime ParseLifetimeAttributes(ByteSpan data, bool phase1) {
  Lifetime l;
  auto attrs = ParseAttributes(data);
  if (!attrs.ok()) return l;
  uint16_t pending = 0;
  for (size_t i = 0; i < attrs->size(); ++i) {
    if (phase1)
      (void)TakeLife(*attrs, i, &pending, p1attr::kLifeType, p1attr::kLifeDuration, &l);
    else
      (void)TakeLife(*attrs, i, &pending, p2attr::kLifeType, p2attr::kLifeDuration, &l);
  }
  return l;
}

}  // namespace vpn::ike

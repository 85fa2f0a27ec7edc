// Value grammars and cross-section validation of the configuration.
#include <arpa/inet.h>

#include <algorithm>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "config_reader.h"

namespace vpn::config {
namespace {

constexpr std::string_view kIkeEnc[] = {"aes128", "aes192", "aes256", "3des", "des"};
constexpr std::string_view kIkeInteg[] = {"md5", "sha1", "sha256", "sha384", "sha512"};
constexpr std::string_view kDh[] = {"modp768",  "modp1024", "modp1536", "modp2048", "modp3072",
                                    "modp4096", "modp6144", "modp8192", "ecp256",   "ecp384",
                                    "ecp521"};
constexpr std::string_view kEspEnc[] = {"aes128", "aes192", "aes256", "3des", "des"};
constexpr std::string_view kEspAead[] = {"aes128gcm16", "aes192gcm16", "aes256gcm16"};
constexpr std::string_view kEspInteg[] = {"sha1", "sha256", "sha384", "sha512", "sha256_96", "md5"};

template <size_t N>
bool OneOf(std::string_view v, const std::string_view (&set)[N]) {
  return std::find(std::begin(set), std::end(set), v) != std::end(set);
}

template <size_t N>
std::string Choices(const std::string_view (&set)[N]) {
  std::string out;
  for (std::string_view v : set) out += (out.empty() ? "" : "|") + std::string(v);
  return out;
}

// Seed 004: what Windows 11 offers, in a sensible responder preference.
const std::vector<std::string> kDefaultIke = {
    "aes256-sha256-modp2048", "aes256-sha1-modp2048", "aes128-sha1-modp2048",
    "aes256-sha1-ecp384",     "aes128-sha1-ecp256",   "aes256-sha1-modp1024",
    "aes128-sha1-modp1024",   "3des-sha1-modp2048",   "3des-sha1-modp1024"};
const std::vector<std::string> kDefaultEsp = {"aes128-sha1",  "aes256-sha1",  "aes128-sha256",
                                              "aes256-sha256", "aes128gcm16", "aes256gcm16"};

absl::Status Err(const Config& c, int line, std::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(c.path, ":", line, ": ", std::string(msg)));
}

}  // namespace

bool ParseIpv4(std::string_view s, uint32_t* out) {
  std::string str(s);
  in_addr a{};
  if (inet_pton(AF_INET, str.c_str(), &a) != 1) return false;
  *out = ntohl(a.s_addr);
  return true;
}

bool ParseListenAddress(std::string_view s, uint32_t* host_order, uint16_t* port) {
  const size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return false;
  uint32_t p;
  if (!absl::SimpleAtoi(absl::string_view(s.data() + colon + 1, s.size() - colon - 1), &p) ||
      p == 0 || p > 65535) {
    return false;
  }
  if (!ParseIpv4(s.substr(0, colon), host_order)) return false;
  *port = uint16_t(p);
  return true;
}

std::string FormatIpv4(uint32_t h) {
  return absl::StrCat(h >> 24, ".", (h >> 16) & 255, ".", (h >> 8) & 255, ".", h & 255);
}

bool ParseRange(std::string_view s, uint32_t* first, uint32_t* last) {
  std::vector<std::string> parts = absl::StrSplit(absl::string_view(s.data(), s.size()), '-');
  if (parts.size() != 2) return false;
  if (!ParseIpv4(parts[0], first)) return false;
  if (ParseIpv4(parts[1], last)) return true;
  // Short form "192.168.0.1-31": the last octet only.
  uint32_t octet;
  if (!absl::SimpleAtoi(parts[1], &octet) || octet > 255) return false;
  *last = (*first & 0xFFFFFF00u) | octet;
  return true;
}

bool ParseAuthMethod(std::string_view s, AuthMethod* out) {
  if (s == "pap") *out = AuthMethod::kPap;
  else if (s == "chap" || s == "chap-md5") *out = AuthMethod::kChap;
  else if (s == "mschap" || s == "mschapv1") *out = AuthMethod::kMschapV1;
  else if (s == "mschapv2") *out = AuthMethod::kMschapV2;
  else if (s == "eap-md5" || s == "eap") *out = AuthMethod::kEapMd5;
  else return false;
  return true;
}

absl::Status ValidateIkeProposal(std::string_view p) {
  std::vector<std::string> f = absl::StrSplit(absl::string_view(p.data(), p.size()), '-');
  if (f.size() != 3 || !OneOf(f[0], kIkeEnc) || !OneOf(f[1], kIkeInteg) || !OneOf(f[2], kDh)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "IKE proposal \"", std::string(p), "\" must be ENC-INTEG-DH with ENC ", Choices(kIkeEnc), ", INTEG ",
        Choices(kIkeInteg), ", DH ", Choices(kDh)));
  }
  return absl::OkStatus();
}

absl::Status ValidateEspProposal(std::string_view p) {
  std::vector<std::string> f = absl::StrSplit(absl::string_view(p.data(), p.size()), '-');
  bool ok = false;
  if (!f.empty() && OneOf(f[0], kEspAead)) {
    ok = f.size() == 1 || (f.size() == 2 && OneOf(f[1], kDh));
  } else if (f.size() >= 2 && OneOf(f[0], kEspEnc) && OneOf(f[1], kEspInteg)) {
    ok = f.size() == 2 || (f.size() == 3 && OneOf(f[2], kDh));
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ESP proposal \"", std::string(p), "\" must be ENC-INTEG[-DH] with ENC ", Choices(kEspEnc), ", INTEG ",
        Choices(kEspInteg), ", or AEAD[-DH] with AEAD ", Choices(kEspAead),
        " (DH for PFS)"));
  }
  return absl::OkStatus();
}

absl::Status Validate(Config& c) {
  // Ports: one WAN, at least one LAN.
  int wan = 0, lan = 0;
  for (const Port& p : c.ports) (p.role == PortRole::kWan ? wan : lan)++;
  if (wan != 1 || lan < 1) {
    return Err(c, c.ports.empty() ? 1 : c.ports.front().line,
               absl::StrCat("need exactly one [[port]] with role \"wan\" and at least one with "
                            "role \"lan\" (have ", wan, " wan, ", lan, " lan)"));
  }
  for (Route& r : c.routes) {
    if (r.port.empty()) {
      for (const Port& p : c.ports) {
        if (Ipv4Prefix{p.address, p.prefix_len}.Contains(r.via)) r.port = p.name;
      }
      if (r.port.empty()) {
        return Err(c, r.line, absl::StrCat("route via ", FormatIpv4(r.via),
                                           " is not on any port's subnet"));
      }
    } else if (std::none_of(c.ports.begin(), c.ports.end(),
                            [&](const Port& p) { return p.name == r.port; })) {
      return Err(c, r.line, absl::StrCat("route names unknown port \"", r.port, "\""));
    }
  }

  // IKE authentication must be possible.
  if (c.ike.psk.empty() && c.ike.peers.empty() && c.ike.cert_file.empty()) {
    return Err(c, c.ike.line,
               "missing PSK: set ike.psk (the wildcard key, seed 004 `crypto isakmp key ... "
               "address 0.0.0.0`), add [[ike.peer]] keys, or configure cert_file/key_file");
  }
  if (!c.ike.cert_file.empty() && c.ike.key_file.empty()) {
    return Err(c, c.ike.line, "ike.cert_file needs ike.key_file");
  }
  if (!c.ike.cert_file.empty() && c.ike.ca_file.empty()) {
    return Err(c, c.ike.line, "ike.cert_file needs ike.ca_file (the CA that issues client certificates)");
  }
  for (const IkePeer& p : c.ike.peers) {
    if (p.auth == IkeAuth::kCert && c.ike.cert_file.empty()) {
      return Err(c, p.line, "[[ike.peer]] with auth = \"cert\" needs ike.cert_file/key_file/ca_file");
    }
  }
  if (c.ike.proposals.empty()) c.ike.proposals = kDefaultIke;
  if (c.ike.esp_proposals.empty()) {
    c.ike.esp_proposals = kDefaultEsp;
    if (c.ike.allow_weak_esp) c.ike.esp_proposals.push_back("3des-sha1");
  }
  for (const std::string& p : c.ike.esp_proposals) {
    if ((p.rfind("3des", 0) == 0 || p.rfind("des-", 0) == 0) && !c.ike.allow_weak_esp) {
      return Err(c, c.ike.line,
                 absl::StrCat("ESP proposal \"", std::string(p), "\" needs ike.allow_weak_esp = true"));
    }
  }
  if (c.ike.lifetime_s < c.ike.min_lifetime_s || c.ike.esp_lifetime_s < c.ike.min_lifetime_s) {
    return Err(c, c.ike.line, "lifetimes must not be below ike.min_lifetime");
  }

  // Pools and groups.
  if (c.pools.empty()) return Err(c, 1, "no [[pool]] configured: clients need addresses");
  auto def = std::find_if(c.groups.begin(), c.groups.end(),
                          [](const Group& g) { return g.name == "default"; });
  if (def == c.groups.end()) {
    Group g;
    g.name = "default";
    c.groups.insert(c.groups.begin(), g);
  } else if (def != c.groups.begin()) {
    std::rotate(c.groups.begin(), def, def + 1);
  }
  for (Group& g : c.groups) {
    if (g.pool.empty()) g.pool = c.pools.front().name;
    if (!c.FindPool(g.pool)) {
      return Err(c, g.line, absl::StrCat("group \"", g.name, "\" names unknown pool \"", g.pool, "\""));
    }
  }
  std::set<uint32_t> statics;
  for (const User& u : c.users) {
    if (!u.group.empty() && !c.FindGroup(u.group)) {
      return Err(c, u.line, absl::StrCat("user \"", u.name, "\" names unknown group \"", u.group, "\""));
    }
    if (u.static_ip && !statics.insert(u.static_ip).second) {
      return Err(c, u.line, absl::StrCat("static_ip ", FormatIpv4(u.static_ip),
                                         " is given to two users"));
    }
  }

  // Our end of the PPP links defaults to the LAN address (seed 004 proxy-ARP).
  if (c.ppp.local_ip == 0) c.ppp.local_ip = c.FindPort(PortRole::kLan)->address;
  if (c.PoolContaining(c.ppp.local_ip)) {
    return Err(c, 1, absl::StrCat("ppp.local_ip ", FormatIpv4(c.ppp.local_ip),
                                  " lies inside a client pool"));
  }
  for (const Port& p : c.ports) {
    if (c.PoolContaining(p.address)) {
      return Err(c, p.line, absl::StrCat("port address ", FormatIpv4(p.address),
                                         " lies inside a client pool"));
    }
  }
  if (c.dataplane.max_sessions > c.dataplane.max_sas) {
    return Err(c, 1, "dataplane.max_sessions must not exceed max_sas");
  }
  return absl::OkStatus();
}

}  // namespace vpn::config

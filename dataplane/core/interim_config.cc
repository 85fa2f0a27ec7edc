#define TOML_HEADER_ONLY 1
#include "interim_config.h"

#include <arpa/inet.h>

#include <fstream>
#include <sstream>
#include <toml++/toml.h>

namespace vpn::dp {
namespace {

bool ParseAddr(std::string_view s, uint32_t* host) {
  in_addr a{};
  std::string str(s);
  if (inet_pton(AF_INET, str.c_str(), &a) != 1) return false;
  *host = ntohl(a.s_addr);
  return true;
}

bool ParsePrefix(std::string_view s, uint32_t* host, uint8_t* len) {
  size_t slash = s.find('/');
  if (slash == std::string_view::npos) {
    *len = 32;
    return ParseAddr(s, host);
  }
  int l = std::atoi(std::string(s.substr(slash + 1)).c_str());
  if (l < 0 || l > 32) return false;
  *len = uint8_t(l);
  return ParseAddr(s.substr(0, slash), host);
}

struct Ctx {
  std::string name;
  std::string* error;
  bool Fail(const toml::node* n, const std::string& what) {
    std::ostringstream os;
    os << name << ":" << (n ? n->source().begin.line : 0) << ": " << what;
    *error = os.str();
    return false;
  }
};

template <typename T>
bool GetInt(Ctx& c, const toml::table& t, const char* key, T* out) {
  const toml::node* n = t.get(key);
  if (!n) return true;
  auto v = n->value<int64_t>();
  if (!v || *v < 0) return c.Fail(n, std::string(key) + " must be a non-negative integer");
  *out = T(*v);
  return true;
}
bool GetBool(Ctx& c, const toml::table& t, const char* key, bool* out) {
  const toml::node* n = t.get(key);
  if (!n) return true;
  auto v = n->value<bool>();
  if (!v) return c.Fail(n, std::string(key) + " must be true or false");
  *out = *v;
  return true;
}
bool GetStr(Ctx& c, const toml::table& t, const char* key, std::string* out) {
  const toml::node* n = t.get(key);
  if (!n) return true;
  auto v = n->value<std::string>();
  if (!v) return c.Fail(n, std::string(key) + " must be a string");
  *out = *v;
  return true;
}
bool GetAddr(Ctx& c, const toml::table& t, const char* key, uint32_t* out) {
  std::string s;
  if (!GetStr(c, t, key, &s)) return false;
  if (s.empty()) return true;
  if (!ParseAddr(s, out)) return c.Fail(t.get(key), std::string(key) + ": bad IPv4 address");
  return true;
}

bool FromTable(Ctx& c, const toml::table& root, config::Config* cfg) {
  if (!GetStr(c, root, "shm_name", &cfg->shm_name)) return false;
  if (const toml::table* d = root["dataplane"].as_table()) {
    config::Dataplane& dp = cfg->dataplane;
    if (!GetInt(c, *d, "workers", &dp.workers) || !GetInt(c, *d, "main_lcore", &dp.main_lcore) ||
        !GetBool(c, *d, "no_huge", &dp.no_huge) || !GetInt(c, *d, "memory_mb", &dp.memory_mb) ||
        !GetInt(c, *d, "mbufs", &dp.mbufs) || !GetInt(c, *d, "max_sas", &dp.max_sas) ||
        !GetInt(c, *d, "max_sessions", &dp.max_sessions) ||
        !GetInt(c, *d, "replay_window", &dp.replay_window) ||
        !GetBool(c, *d, "require_ipsec", &dp.require_ipsec) ||
        !GetInt(c, *d, "tcp_mss_clamp", &dp.tcp_mss_clamp) ||
        !GetStr(c, *d, "telemetry_prefix", &dp.telemetry_prefix))
      return false;
    if (const toml::array* a = (*d)["worker_lcores"].as_array())
      for (const toml::node& n : *a) dp.worker_lcores.push_back(uint32_t(n.value_or<int64_t>(0)));
    if (const toml::array* a = (*d)["eal_args"].as_array())
      for (const toml::node& n : *a) dp.eal_args.push_back(n.value_or<std::string>(""));
    if (!dp.worker_lcores.empty()) dp.workers = uint32_t(dp.worker_lcores.size());
    if (dp.workers == 0 || dp.workers > 15) return c.Fail(d, "workers must be 1..15");
  }
  if (const toml::array* ports = root["port"].as_array()) {
    for (const toml::node& pn : *ports) {
      const toml::table* t = pn.as_table();
      if (!t) return c.Fail(&pn, "[[port]] must be a table");
      config::Port p;
      p.line = int(pn.source().begin.line);
      std::string role = "wan", addr;
      if (!GetStr(c, *t, "name", &p.name) || !GetStr(c, *t, "role", &role) ||
          !GetStr(c, *t, "device", &p.device) || !GetStr(c, *t, "address", &addr) ||
          !GetAddr(c, *t, "gateway", &p.gateway) || !GetInt(c, *t, "mtu", &p.mtu) ||
          !GetBool(c, *t, "proxy_arp", &p.proxy_arp))
        return false;
      if (role == "wan") p.role = config::PortRole::kWan;
      else if (role == "lan") p.role = config::PortRole::kLan;
      else return c.Fail(&pn, "role must be wan or lan");
      if (p.device.empty()) return c.Fail(&pn, "port needs a device");
      if (!ParsePrefix(addr, &p.address, &p.prefix_len) || p.address == 0)
        return c.Fail(&pn, "port address must be A.B.C.D/len");
      cfg->ports.push_back(p);
    }
  }
  if (cfg->ports.empty() || cfg->ports.size() > 4) return c.Fail(nullptr, "need 1..4 [[port]]");
  if (const toml::array* routes = root["route"].as_array()) {
    for (const toml::node& rn : *routes) {
      const toml::table* t = rn.as_table();
      if (!t) return c.Fail(&rn, "[[route]] must be a table");
      config::Route r;
      std::string prefix;
      if (!GetStr(c, *t, "prefix", &prefix) || !GetAddr(c, *t, "via", &r.via) ||
          !GetStr(c, *t, "port", &r.port))
        return false;
      if (!ParsePrefix(prefix, &r.prefix.addr, &r.prefix.len))
        return c.Fail(&rn, "route prefix must be A.B.C.D/len");
      cfg->routes.push_back(r);
    }
  }
  if (const toml::array* pools = root["pool"].as_array()) {
    for (const toml::node& pn : *pools) {
      const toml::table* t = pn.as_table();
      if (!t) return c.Fail(&pn, "[[pool]] must be a table");
      config::Pool p;
      if (!GetStr(c, *t, "name", &p.name) || !GetAddr(c, *t, "first", &p.first) ||
          !GetAddr(c, *t, "last", &p.last))
        return false;
      if (!p.first || p.last < p.first) return c.Fail(&pn, "pool needs first <= last");
      cfg->pools.push_back(p);
    }
  }
  if (const toml::table* ppp = root["ppp"].as_table())
    if (!GetInt(c, *ppp, "mtu", &cfg->ppp.mtu)) return false;
  return true;
}

}  // namespace

bool LoadDataplaneConfigString(const std::string& text, config::Config* out, std::string* error) {
  Ctx c{out->path.empty() ? "<string>" : out->path, error};
  toml::parse_result res = toml::parse(text, c.name);
  if (!res) {
    std::ostringstream os;
    os << c.name << ":" << res.error().source().begin.line << ": " << res.error().description();
    *error = os.str();
    return false;
  }
  return FromTable(c, res.table(), out);
}

bool LoadDataplaneConfig(const std::string& path, config::Config* out, std::string* error) {
  std::ifstream f(path);
  if (!f) {
    *error = path + ": cannot open";
    return false;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  out->path = path;
  return LoadDataplaneConfigString(ss.str(), out, error);
}

}  // namespace vpn::dp

// Typed, line-aware access to a toml++ table for config.cc.
#pragma once

#define TOML_EXCEPTIONS 0
// toml++ 3.3.0 asserts on malformed table headers such as "[&" or "[\x7f]"
// (upstream issue #294, fixed by PR #301) although the check right after the
// assert returns a proper parse error; without NDEBUG that assert aborted the
// daemons on a bad config file (found by tests/fuzz config). Release builds
// already compile toml++'s asserts out, so debug builds now do the same.
#define TOML_ASSERT(expr) static_assert(true)
#include <toml++/toml.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "vpn/config.h"

#define VPN_RETURN_IF_ERROR(expr)              \
  do {                                         \
    if (::absl::Status _s = (expr); !_s.ok()) \
      return _s;                               \
  } while (0)

namespace vpn::config {

bool ParseRange(std::string_view s, uint32_t* first, uint32_t* last);
bool ParseAuthMethod(std::string_view s, AuthMethod* out);
absl::Status ValidateIkeProposal(std::string_view p);
absl::Status ValidateEspProposal(std::string_view p);
// Cross-section checks once every file is read.
absl::Status Validate(Config& c);

class Reader {
 public:
  Reader(std::string file, std::string base_dir)
      : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  static int LineOf(const toml::node* n) {
    return n ? static_cast<int>(n->source().begin.line) : 0;
  }
  int Line(const toml::node& n) const { return static_cast<int>(n.source().begin.line); }
  int first_secret_line() const { return first_secret_line_; }

  absl::Status Error(const toml::node* n, std::string_view msg) const {
    return absl::InvalidArgumentError(absl::StrCat(file_, ":", LineOf(n), ": ", std::string(msg)));
  }
  absl::Status Error(const toml::node& n, std::string_view msg) const { return Error(&n, msg); }

  absl::Status CheckKeys(const toml::table& t, std::string_view where,
                         std::initializer_list<std::string_view> allowed) const {
    for (auto&& [k, v] : t) {
      bool ok = false;
      for (std::string_view a : allowed) ok |= (a == k.str());
      if (!ok) {
        std::string list;
        for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return absl::InvalidArgumentError(absl::StrCat(file_, ":", int(k.source().begin.line),
                                                       ": unknown key \"", std::string(k.str()), "\" in ", std::string(where),
                                                       " (allowed: ", list, ")"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status GetString(const toml::table& t, std::string_view key, std::string* out,
                         bool required = false) const {
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) return Error(&t, absl::StrCat("missing required key \"", std::string(key), "\""));
      return absl::OkStatus();
    }
    const auto* s = n->as_string();
    if (!s) return Error(n, absl::StrCat("\"", std::string(key), "\" must be a string"));
    *out = s->get();
    return absl::OkStatus();
  }

  // A secret: remembered so the file's permissions are checked.
  absl::Status GetSecret(const toml::table& t, std::string_view key, std::string* out,
                         bool required = false) {
    if (const toml::node* n = t.get(key); n && first_secret_line_ == 0) first_secret_line_ = LineOf(n);
    return GetString(t, key, out, required);
  }

  absl::Status GetPath(const toml::table& t, std::string_view key, std::string* out) const {
    VPN_RETURN_IF_ERROR(GetString(t, key, out));
    if (!out->empty() && (*out)[0] != '/') *out = base_dir_ + "/" + *out;
    return absl::OkStatus();
  }

  absl::Status GetBool(const toml::table& t, std::string_view key, bool* out) const {
    const toml::node* n = t.get(key);
    if (!n) return absl::OkStatus();
    const auto* b = n->as_boolean();
    if (!b) return Error(n, absl::StrCat("\"", std::string(key), "\" must be true or false"));
    *out = b->get();
    return absl::OkStatus();
  }

  template <typename T>
  absl::Status GetUint(const toml::table& t, std::string_view key, T* out, uint64_t min,
                       uint64_t max) const {
    const toml::node* n = t.get(key);
    if (!n) return absl::OkStatus();
    const auto* i = n->as_integer();
    if (!i) return Error(n, absl::StrCat("\"", std::string(key), "\" must be an integer"));
    int64_t v = i->get();
    if (v < 0 || uint64_t(v) < min || uint64_t(v) > max) {
      return Error(n, absl::StrCat("\"", std::string(key), "\" = ", v, " is out of range ", min, "..", max));
    }
    *out = static_cast<T>(v);
    return absl::OkStatus();
  }

  absl::Status GetUintList(const toml::table& t, std::string_view key, std::vector<uint32_t>* out,
                           uint64_t min, uint64_t max) const {
    const toml::node* n = t.get(key);
    if (!n) return absl::OkStatus();
    const auto* a = n->as_array();
    if (!a) return Error(n, absl::StrCat("\"", std::string(key), "\" must be a list of integers"));
    out->clear();
    for (const toml::node& e : *a) {
      const auto* i = e.as_integer();
      if (!i || i->get() < int64_t(min) || uint64_t(i->get()) > max)
        return Error(e, absl::StrCat("\"", std::string(key), "\" entries must be integers ", min, "..", max));
      out->push_back(static_cast<uint32_t>(i->get()));
    }
    return absl::OkStatus();
  }

  absl::Status GetStringList(const toml::table& t, std::string_view key,
                             std::vector<std::string>* out) const {
    const toml::node* n = t.get(key);
    if (!n) return absl::OkStatus();
    const auto* a = n->as_array();
    if (!a) return Error(n, absl::StrCat("\"", std::string(key), "\" must be a list of strings"));
    out->clear();
    for (const toml::node& e : *a) {
      const auto* s = e.as_string();
      if (!s) return Error(e, absl::StrCat("\"", std::string(key), "\" entries must be strings"));
      out->push_back(s->get());
    }
    return absl::OkStatus();
  }

  absl::Status GetIpv4(const toml::table& t, std::string_view key, uint32_t* out,
                       bool required = false) const {
    std::string s;
    VPN_RETURN_IF_ERROR(GetString(t, key, &s, required));
    if (s.empty()) return absl::OkStatus();
    if (!ParseIpv4(s, out)) return Error(t.get(key), absl::StrCat("\"", s, "\" is not an IPv4 address"));
    return absl::OkStatus();
  }

  absl::Status GetIpv4List(const toml::table& t, std::string_view key, std::vector<uint32_t>* out,
                           size_t max_entries) const {
    std::vector<std::string> list;
    VPN_RETURN_IF_ERROR(GetStringList(t, key, &list));
    if (list.size() > max_entries)
      return Error(t.get(key), absl::StrCat("\"", std::string(key), "\" takes at most ", max_entries, " addresses"));
    out->clear();
    for (const std::string& s : list) {
      uint32_t a;
      if (!ParseIpv4(s, &a)) return Error(t.get(key), absl::StrCat("\"", s, "\" is not an IPv4 address"));
      out->push_back(a);
    }
    return absl::OkStatus();
  }

  absl::Status GetPrefix(const toml::table& t, std::string_view key, Ipv4Prefix* out,
                         bool required = false) const {
    std::string s;
    VPN_RETURN_IF_ERROR(GetString(t, key, &s, required));
    if (s.empty()) return absl::OkStatus();
    auto slash = s.find('/');
    uint32_t a;
    int len = 32;
    bool ok = ParseIpv4(s.substr(0, slash), &a);
    if (ok && slash != std::string::npos) {
      std::string l = s.substr(slash + 1);
      ok = !l.empty() && l.size() <= 2 && std::all_of(l.begin(), l.end(), ::isdigit);
      if (ok) len = std::stoi(l);
      ok = ok && len <= 32;
    }
    if (!ok) return Error(t.get(key), absl::StrCat("\"", s, "\" is not an IPv4 prefix like 198.18.0.1/24"));
    out->addr = a;
    out->len = static_cast<uint8_t>(len);
    return absl::OkStatus();
  }

 private:
  std::string file_;
  std::string base_dir_;
  int first_secret_line_ = 0;
};

}  // namespace vpn::config

// The configuration parser (shared/src/config.cc, config_validate.cc: TOML
// via toml++ without exceptions) on arbitrary text. Whatever it accepts must
// satisfy what config.h promises the rest of the system; IPv4 strings
// round-trip through ParseIpv4/FormatIpv4.
#include <string>

#include "fuzz_common.h"
#include "vpn/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vpn::config;
  vpn::fuzz::QuietLogs();
  const std::string text(reinterpret_cast<const char*>(data), size);
  uint32_t a = 0;
  if (ParseIpv4(text, &a)) {
    uint32_t b = 0;
    FUZZ_CHECK(ParseIpv4(FormatIpv4(a), &b) && a == b);
  }
  absl::StatusOr<Config> c = ParseConfigString(text, "fuzz.toml");
  if (!c.ok()) {
    FUZZ_CHECK(!c.status().message().empty());
    return 0;
  }
  for (const Pool& p : c->pools) {
    FUZZ_CHECK(p.first <= p.last);
    FUZZ_CHECK(c->FindPool(p.name) != nullptr);
  }
  for (const Group& g : c->groups) {
    FUZZ_CHECK(g.dns.size() <= 2 && g.wins.size() <= 2);
    if (!g.pool.empty()) FUZZ_CHECK(c->FindPool(g.pool) != nullptr);
  }
  for (const Port& p : c->ports) FUZZ_CHECK(p.prefix_len <= 32);
  for (const Route& r : c->routes) FUZZ_CHECK(r.prefix.len <= 32);
  (void)c->FindPort(PortRole::kWan);
  (void)c->PoolContaining(0x64400001);
  return 0;
}

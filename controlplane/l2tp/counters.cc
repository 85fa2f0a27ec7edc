#include "counters.h"

namespace vpn::l2tp {
namespace {

constexpr std::string_view kNames[] = {
#define VPN_L2TP_NAME(name, help) #name,
    VPN_L2TP_COUNTERS(VPN_L2TP_NAME)
#undef VPN_L2TP_NAME
};
constexpr std::string_view kHelp[] = {
#define VPN_L2TP_HELP(name, help) help,
    VPN_L2TP_COUNTERS(VPN_L2TP_HELP)
#undef VPN_L2TP_HELP
};

}  // namespace

uint64_t Counters::Get(std::string_view name) const {
  for (int i = 0; i < static_cast<int>(Counter::kCount); ++i)
    if (kNames[i] == name) return v[i];
  return 0;
}

std::vector<std::pair<std::string_view, uint64_t>> Counters::Named() const {
  std::vector<std::pair<std::string_view, uint64_t>> out;
  for (int i = 0; i < static_cast<int>(Counter::kCount); ++i)
    out.emplace_back(kNames[i], v[i]);
  return out;
}

std::string_view Counters::Help(Counter c) { return kHelp[static_cast<int>(c)]; }

}  // namespace vpn::l2tp

// vpn-controlplane --config PATH [--check-config]
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "daemon.h"
#include "vpn/config.h"
#include "vpn/log.h"

namespace {
vpn::cp::Daemon* g_daemon = nullptr;
void OnSignal(int) {
  if (g_daemon) g_daemon->Stop();
}

int Usage() {
  std::fprintf(stderr,
               "usage: vpn-controlplane --config PATH [--check-config | --print-setting NAME]\n"
               "       vpn-controlplane --print-default-config\n");
  return 2;
}
}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool check_only = false;
  std::string print_setting;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--config") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--check-config")) {
      check_only = true;
    } else if (!std::strcmp(argv[i], "--print-setting") && i + 1 < argc) {
      print_setting = argv[++i];
    } else if (!std::strcmp(argv[i], "--print-default-config")) {
      std::fputs(vpn::config::kDefaultConfig, stdout);
      return 0;
    } else {
      return Usage();
    }
  }
  if (config_path.empty()) return Usage();
  absl::StatusOr<vpn::config::Config> cfg = vpn::config::ParseConfigFile(config_path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "vpn-controlplane: config error: %s\n",
                 std::string(cfg.status().message()).c_str());
    return 1;
  }
  if (!print_setting.empty()) {
    // For scripts/run.sh: the names it must clean up after the processes.
    if (print_setting == "shm_name") {
      std::printf("%s\n", cfg->shm_name.c_str());
    } else if (print_setting == "file_prefix") {
      // As dataplane/core/eal_args.cc builds --file-prefix: the telemetry
      // socket is /var/run/dpdk/<this>/dpdk_telemetry.v2.
      std::string prefix = cfg->dataplane.telemetry_prefix.empty()
                               ? "vpn-" + cfg->shm_name
                               : cfg->dataplane.telemetry_prefix;
      for (char& c : prefix)
        if (c == '/') c = '_';
      std::printf("%s\n", prefix.c_str());
    } else if (print_setting == "control_socket") {
      std::printf("%s\n", cfg->control_socket.c_str());
    } else {
      std::fprintf(stderr, "unknown setting %s (shm_name, file_prefix, control_socket)\n",
                   print_setting.c_str());
      return 2;
    }
    return 0;
  }
  if (check_only) {
    std::printf("%s: OK\n", config_path.c_str());
    return 0;
  }
  for (const auto& [subsys, level] : cfg->log_levels) vpn::log::SetLevel(subsys, level);

  vpn::cp::Daemon daemon(std::move(*cfg));
  if (absl::Status s = daemon.Start(); !s.ok()) {
    std::fprintf(stderr, "vpn-controlplane: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  g_daemon = &daemon;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  VPN_LOG(control, kInfo, "vpn-controlplane ready");
  daemon.Run();
  VPN_LOG(control, kInfo, "vpn-controlplane stopping");
  g_daemon = nullptr;
  return 0;
}

// The one configuration file, as both processes see it (docs/config.md).
// Parsed by ParseConfigFile (TOML via toml++, no exceptions); every error
// names file:line and stops start-up.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vpn/log.h"

namespace vpn::config {

struct Ipv4Prefix {
  uint32_t addr = 0;   // host order
  uint8_t len = 32;
  bool Contains(uint32_t a) const {
    return len == 0 || ((a ^ addr) >> (32 - len)) == 0;
  }
};

enum class PortRole : uint8_t { kWan, kLan };

struct Port {
  std::string name;        // "wan", "lan", ...
  PortRole role = PortRole::kWan;
  std::string device;      // DPDK device: PCI address or vdev string
  uint32_t address = 0;    // host order
  uint8_t prefix_len = 24;
  uint32_t gateway = 0;    // host order, 0 = none
  uint16_t mtu = 1500;
  uint16_t rx_queues = 1;  // RSS queues (one per worker by default)
  bool proxy_arp = false;  // LAN: answer ARP for client pool addresses
  int line = 0;
};

struct Route {
  Ipv4Prefix prefix;
  uint32_t via = 0;        // host order next hop
  std::string port;        // resolved from the connected subnet if empty
  int line = 0;
};

enum class FragmentPolicy : uint8_t { kReassemble, kDrop };

struct Dataplane {
  uint32_t workers = 1;
  std::vector<uint32_t> worker_lcores;  // empty: 1..workers
  uint32_t main_lcore = 0;
  std::vector<std::string> eal_args;    // extra EAL arguments
  bool no_huge = false;                 // run with --no-huge -m <memory_mb>
  uint32_t memory_mb = 512;
  uint32_t mbufs = 16384;
  uint32_t max_sas = 4096;
  uint32_t max_sessions = 4096;
  uint32_t replay_window = 1024;
  bool require_ipsec = true;
  uint16_t tcp_mss_clamp = 0;           // 0: derive from session MTU; 1: off
  FragmentPolicy esp_fragments = FragmentPolicy::kReassemble;
  // WAN IPv4 reassembly limits (docs/config.md "Fragments").
  uint32_t fragment_timeout_ms = 1000;  // a datagram must complete within this
  uint32_t fragment_table_size = 0;     // datagrams per worker; 0: derived from mbufs
  uint32_t fragment_max_datagram = 2034;  // bytes of the reassembled IPv4 datagram
  // ICMP errors (time exceeded, fragmentation needed) per worker: token
  // bucket of icmp_error_rate per second, bursts of icmp_error_burst
  // (RFC 1812 4.3.2.8); rate 0 = never send.
  uint32_t icmp_error_rate = 100;
  uint32_t icmp_error_burst = 20;
  std::string telemetry_prefix;         // --file-prefix for EAL
};

struct Pool {
  std::string name;
  uint32_t first = 0;  // host order, inclusive
  uint32_t last = 0;
  int line = 0;
};

struct User {
  std::string name;
  std::string password;            // plaintext, or empty
  std::string nt_hash;             // 32 hex chars (seed 002 "mschap" storage)
  std::string group;               // empty: default group
  uint32_t static_ip = 0;          // host order, 0 = from pool
  int line = 0;
};

enum class AuthMethod : uint8_t { kPap, kChap, kMschapV1, kMschapV2, kEapMd5 };

struct Group {
  std::string name;                // "" is the default group
  std::string pool;
  std::vector<uint32_t> dns;       // host order, up to 2
  std::vector<uint32_t> wins;      // host order, up to 2
  std::vector<AuthMethod> auth = {AuthMethod::kMschapV2};
  uint32_t idle_timeout_s = 0;     // 0 = none
  uint32_t session_timeout_s = 0;
  uint32_t max_sessions_per_user = 0;  // 0 = unlimited
  bool strip_group = true;         // user@group -> user (seed 002)
  int line = 0;
};

// How a peer authenticates phase 1: pre-shared key or RSA signatures with
// X.509 certificates (RFC 2409 5.1, ca_file/cert_file/key_file).
enum class IkeAuth : uint8_t { kPsk, kCert };

struct IkePeer {
  std::string id;        // IP address or identity (FQDN, user FQDN, RFC 2253 DN)
  std::string psk;       // required with auth = psk
  int line = 0;
  IkeAuth auth = IkeAuth::kPsk;
};

struct Ike {
  std::string psk;                         // wildcard key (address 0.0.0.0)
  std::vector<IkePeer> peers;
  // Phase 1 proposals, responder preference order, e.g.
  // "aes256-sha1-modp2048", "aes128-sha256-ecp256".
  std::vector<std::string> proposals;
  // Phase 2 (ESP) proposals, e.g. "aes128-sha1", "aes256gcm16", "3des-sha1".
  std::vector<std::string> esp_proposals;
  uint32_t lifetime_s = 28800;
  uint32_t esp_lifetime_s = 3600;
  uint64_t esp_lifetime_kb = 250000;
  uint32_t min_lifetime_s = 300;           // Windows floor (seed 002)
  bool allow_aggressive = false;
  bool allow_weak_esp = false;             // 3DES/DES ESP
  bool sha256_96 = false;                  // truncated HMAC-SHA2-256 compat
  bool pfs_required = false;
  uint32_t dpd_interval_s = 30;            // 0 = do not probe
  uint32_t dpd_timeout_s = 120;
  uint32_t nat_keepalive_s = 20;
  uint32_t half_open_per_source = 16;
  uint32_t half_open_total = 1024;
  uint32_t half_open_timeout_s = 30;
  // Certificates (optional): a PEM bundle of trusted CAs, our certificate
  // (PEM, intermediates may follow it) and our RSA key (PEM).
  std::string ca_file, cert_file, key_file;
  // IKE fragmentation (Cisco-style payload 132): largest IP datagram we send
  // when the peer announced FRAGMENTATION; 0 = never fragment.
  uint32_t fragment_size = 1280;
  int line = 1;                            // of the [ike] table
};

struct L2tp {
  uint32_t hello_interval_s = 60;          // seed 002 `l2tp tunnel hello`
  uint32_t retransmit_initial_ms = 1000;
  uint32_t retransmit_max_ms = 8000;
  uint32_t retransmit_count = 5;
  uint16_t receive_window = 8;
  std::string tunnel_secret;               // hidden AVPs / tunnel auth
  std::string hostname = "vpn-concentrator";
  uint32_t max_tunnels_per_client = 4;
  uint32_t max_sessions_per_tunnel = 4;
};

struct Ppp {
  uint16_t mtu = 1400;                     // seed 004
  uint32_t lcp_echo_interval_s = 20;
  uint32_t lcp_echo_failures = 5;
  uint32_t auth_failure_delay_ms = 1000;
  uint32_t restart_timer_ms = 3000;        // RFC 1661 4.6 Restart timer
  uint32_t max_configure = 10;
  uint32_t max_terminate = 2;
  uint32_t max_failure = 5;
  uint32_t local_ip = 0;                   // host order; our end of PPP links
};

// [radius] (docs/config.md): RFC 2865/2866 client, RFC 5176 listener.
struct RadiusServer {
  uint32_t address = 0;          // host order
  uint16_t auth_port = 1812;     // 0 = not used for authentication
  uint16_t acct_port = 1813;     // 0 = not used for accounting
  std::string secret;
  int line = 0;
};

struct Radius {
  std::vector<RadiusServer> servers;    // tried in this order (failover)
  bool authentication = true;           // RADIUS replaces the [[user]] list
  bool accounting = true;
  std::string nas_identifier = "vpn-concentrator";
  uint32_t nas_ip = 0;                  // NAS-IP-Address, host order; 0 = not sent
  uint32_t timeout_ms = 3000;           // per transmission
  uint32_t retries = 2;                 // retransmissions to one server
  uint32_t dead_time_s = 30;            // a silent server is skipped this long
  uint32_t interim_interval_s = 600;    // 0 = only when the server asks
  uint32_t acct_max_age_s = 3600;       // how long a record waits for a server
  uint32_t acct_queue_max = 65536;      // records held at most
  uint16_t dae_port = 3799;             // RFC 5176 listener, 0 = off
  uint32_t dae_address = 0;             // bind address, host order, 0 = any
  bool require_message_authenticator = false;
  int line = 0;
  bool enabled() const { return !servers.empty(); }
};

struct Config {
  std::string path;
  std::string shm_name = "vpnconc";
  std::string control_socket = "/run/vpnconc/control.sock";
  // Prometheus text exposition over HTTP (GET /metrics) from the control
  // plane; empty = off. "IPv4:PORT", e.g. "127.0.0.1:9469".
  std::string metrics_listen;
  uint32_t metrics_ip = 0;     // host order, parsed from metrics_listen
  uint16_t metrics_port = 0;
  std::map<log::Subsystem, log::Level> log_levels;
  Dataplane dataplane;
  std::vector<Port> ports;
  std::vector<Route> routes;
  bool source_nat = false;                 // seed 004 "source NAT" flag
  Ike ike;
  L2tp l2tp;
  Ppp ppp;
  std::vector<Pool> pools;
  std::vector<Group> groups;               // groups[0] is the default group
  std::vector<User> users;
  Radius radius;

  const Port* FindPort(PortRole role) const;
  const Pool* FindPool(const std::string& name) const;
  const Group* FindGroup(const std::string& name) const;
  // The pool containing `addr` (host order), or nullptr.
  const Pool* PoolContaining(uint32_t addr) const;
};

// Parses and validates. Errors read "file:line: problem".
absl::StatusOr<Config> ParseConfigFile(const std::string& path);
absl::StatusOr<Config> ParseConfigString(const std::string& text,
                                         const std::string& name = "<string>");

// The embedded default used by scripts/demo.sh (docs/configs/default.toml).
extern const char kDefaultConfig[];

std::string FormatIpv4(uint32_t host_order);
bool ParseIpv4(std::string_view s, uint32_t* host_order);
// "a.b.c.d:port" with port 1-65535.
bool ParseListenAddress(std::string_view s, uint32_t* host_order, uint16_t* port);

}  // namespace vpn::config

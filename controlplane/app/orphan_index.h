// Records adopted from a previous control plane (ShmTables::AdoptExisting),
// indexed the way a reconnecting client looks for its own: SAs by the
// client's public address and, for SAs in UDP (NAT-T), its port (thousands
// of clients may share one NAT address), sessions by the inbound SA they
// arrive on. After
// a control-plane restart every client that reconnects removes what it left
// behind (Daemon::RemoveOrphansOf, INITIAL-CONTACT semantics); with scans
// over every adopted record that was adopted-SAs x reconnecting-clients
// record reads (100k clients: ~3e10, tens of minutes of one core in the
// restart storm). Here each lookup touches only the client's own records.
// Plain bookkeeping: the caller (ShmTables, the records' only writer) tells it
// what each record held when it was adopted and when it goes away.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"

namespace vpn::cp {

class OrphanIndex {
 public:
  // The key of an SA's peer: address and port (both network order); port 0
  // for SAs not in UDP, which match any port of the address.
  static uint64_t PeerKey(uint32_t peer_ip, uint16_t udp_port) {
    return uint64_t(peer_ip) << 16 | udp_port;
  }
  void AddSa(uint32_t sa, uint64_t peer_key);
  // The SAs a session is indexed under: its inbound SA and, during a rekey
  // overlap, the alternate (each once; invalid indexes left out).
  struct SessionSas {
    uint32_t sa[2];
    uint32_t n;
  };
  static SessionSas KeysOfSession(uint32_t inbound_sa, uint32_t inbound_sa_alt);
  void AddSession(uint32_t session, uint32_t inbound_sa, uint32_t inbound_sa_alt);
  // No-ops for records that are not orphans; the arguments must be what the
  // Add call was given (the records do not change while adopted).
  void ForgetSa(uint32_t sa, uint64_t peer_key);
  void ForgetSession(uint32_t session, uint32_t inbound_sa, uint32_t inbound_sa_alt);

  bool IsSa(uint32_t sa) const { return sas_.contains(sa); }
  bool IsSession(uint32_t s) const { return sessions_.contains(s); }
  // Adopted SAs of a peer: those in UDP from exactly (peer_ip, port) and
  // those not in UDP from peer_ip, ascending.
  std::vector<uint32_t> SasOfPeer(uint32_t peer_ip, uint16_t port) const;
  // Adopted SAs under one key (consistency checks).
  std::vector<uint32_t> SasUnder(uint64_t peer_key) const;
  // Adopted sessions arriving on any of `sas`, ascending, each once.
  std::vector<uint32_t> SessionsOn(std::span<const uint32_t> sas) const;
  // Everything still adopted, ascending.
  std::vector<uint32_t> Sas() const;
  std::vector<uint32_t> Sessions() const;
  size_t sa_count() const { return sas_.size(); }
  size_t session_count() const { return sessions_.size(); }
  // Entries under each key (for the consistency check against records).
  size_t peer_entries() const;
  size_t sa_key_entries() const;

 private:
  template <class Key>
  static void EraseFrom(absl::flat_hash_map<Key, std::vector<uint32_t>>& m, Key key,
                        uint32_t value);

  absl::flat_hash_set<uint32_t> sas_, sessions_;
  absl::flat_hash_map<uint64_t, std::vector<uint32_t>> sas_by_peer_;
  absl::flat_hash_map<uint32_t, std::vector<uint32_t>> sessions_by_sa_;
};

}  // namespace vpn::cp

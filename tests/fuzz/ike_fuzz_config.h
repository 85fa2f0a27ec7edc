// The configurations of the IKE responder fuzz target, shared with the seed
// generator so that seeds negotiate what the target's responder accepts.
#pragma once

#include "proposal.h"
#include "vpn/config.h"

namespace vpn::ike::fuzzing {

// Setup byte of ike_responder_fuzz (see there).
inline uint8_t IkeSetup(int stage, bool nat, bool windows, bool strict = false) {
  return uint8_t(stage | (nat ? 0x08 : 0) | (windows ? 0x10 : 0) | (strict ? 0x20 : 0));
}

inline config::Ike ServerConfig(bool strict) {
  config::Ike c;
  c.psk = "fuzz-psk";
  c.proposals = {"aes128-sha1-ecp256", "aes256-sha1-modp2048", "aes256-sha256-ecp384",
                 "3des-sha1-modp1024"};
  c.esp_proposals = {"aes128-sha1", "aes256gcm16", "3des-sha1", "aes256-sha256"};
  c.allow_weak_esp = !strict;
  c.pfs_required = strict;
  c.half_open_per_source = 4;
  c.half_open_total = 8;
  return c;
}

// ECP-256 by default: a fifth of MODP-2048's cost per exchange.
inline config::Ike ClientConfig(bool windows) {
  config::Ike c;
  c.psk = "fuzz-psk";
  if (windows) {
    c.proposals = Windows11IkeProposals();
    c.esp_proposals = Windows11EspProposals();
  } else {
    c.proposals = {"aes128-sha1-ecp256"};
    c.esp_proposals = {"aes128-sha1"};
  }
  return c;
}

}  // namespace vpn::ike::fuzzing

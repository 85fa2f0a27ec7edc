// IKEv1 fragmentation as Windows, strongSwan and racoon do it (no RFC: the
// Cisco-style scheme announced by the vendor ID "FRAGMENTATION",
// 4048b7d56ebce88525e7de7f00d6c2d3). A large message (certificates in Main
// Mode 5/6) is sent as several ISAKMP messages with the same cookies, each
// carrying one payload of type 132:
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  ! Next Payload  !    RESERVED   !         Payload Length        !
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  !         Fragment ID           !  Fragment Num !     Flags     !
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  ~          Fragment Data (a slice of the whole message)         ~
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Numbers start at 1; flag 0x01 marks the last fragment. The data of
// fragments 1..last, concatenated, is the original message (its own ISAKMP
// header included, encrypted as it was).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bytes.h"
#include "payloads.h"
#include "transport.h"

namespace vpn::ike {

inline constexpr uint8_t kFragmentLast = 0x01;
inline constexpr size_t kFragmentHeaderSize = 8;

struct Fragment {
  Header hdr;  // the carrying message's header
  uint16_t id = 0;
  uint8_t number = 0;
  bool last = false;
  Bytes data;
};
// Parses one datagram whose header's Next Payload is 132.
absl::StatusOr<Fragment> ParseFragment(ByteSpan datagram);
// Splits `msg` into fragment datagrams none larger than `max_isakmp` bytes
// (the UDP payload, non-ESP marker excluded). Empty if it cannot be split
// into at most 255 fragments or `max_isakmp` leaves no room for data.
std::vector<Bytes> FragmentMessage(ByteSpan msg, size_t max_isakmp, uint16_t fragment_id);

// Collects fragments per (peer, cookies, fragment ID). Bounded in every
// dimension; an incomplete message is dropped after `timeout`.
struct ReassemblyLimits {
  size_t max_fragments = 32;        // per message
  size_t max_message = 65535;       // reassembled bytes per message
  size_t max_pending = 256;         // messages being reassembled
  size_t max_pending_per_ip = 4;
  size_t max_bytes = 1 << 20;       // all pending data together
  absl::Duration timeout = absl::Seconds(5);
};

class Reassembler {
 public:
  using Limits = ReassemblyLimits;
  enum class Outcome : uint8_t {
    kIncomplete,  // kept, waiting for more
    kComplete,    // `out` holds the message
    kDuplicate,   // a fragment number already held (retransmission)
    kDropped,     // refused: limits, inconsistent fragments, malformed
  };
  Reassembler() = default;
  explicit Reassembler(const Limits& limits) : limits_(limits) {}
  Outcome Add(const Endpoint& remote, const Fragment& f, absl::Time now, Bytes* out);
  // Drops messages older than the timeout; returns how many.
  size_t Expire(absl::Time now);
  size_t pending() const { return pending_.size(); }
  size_t pending_bytes() const { return bytes_; }

 private:
  struct Key {
    uint32_t ip;
    uint16_t port;
    uint64_t icookie, rcookie;
    uint16_t id;
    auto operator<=>(const Key&) const = default;
  };
  struct Partial {
    absl::Time first_seen;
    std::map<uint8_t, Bytes> parts;
    uint8_t last = 0;  // 0 until the last fragment arrived
    size_t bytes = 0;
  };
  void Erase(std::map<Key, Partial>::iterator it);
  Limits limits_;
  std::map<Key, Partial> pending_;
  std::map<uint32_t, size_t> per_ip_;
  size_t bytes_ = 0;
};

}  // namespace vpn::ike

// RADIUS accounting (RFC 2866, RFC 2869 2.1): Start when the session's
// network layer is up, Interim-Update every interval (the server's
// Acct-Interim-Interval or radius.interim_interval), Stop when it ends, with
// the dataplane's octet and packet counters (+ Gigawords, RFC 2869 5.1/5.2).
//
// Records live in an in-memory queue until a server acknowledges them with
// an Accounting-Response (RFC 2866 2: the NAS keeps retrying). A record that
// no server took is retried every `dead_time` (at least the transmission
// timeout) until it is `acct_max_age` old; when a dead server answers
// anything, the waiting records go at once. Acct-Delay-Time (RFC 2866 5.2)
// is refreshed at each new encoding. Records of one session are sent in
// order (a Stop never overtakes its Start). When the queue is full the
// oldest Interim-Update goes first (a later one supersedes it), else the
// oldest record; both are counted and logged.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client.h"
#include "radius_packet.h"
#include "vpn/config.h"

namespace vpn::radius {

struct AcctSession {
  std::string session_id;       // Acct-Session-Id, unique per NAS
  std::string user_name;
  uint32_t framed_ip = 0;       // host order
  std::string calling_station;  // client's public address
  std::string nas_port_id;      // "198.18.0.7:1701 tunnel 3 session 5"
  std::vector<Bytes> classes;   // from the Access-Accept
  bool radius_authenticated = true;
};

// From the NAS's point of view (RFC 2866 5.3/5.4): input = from the client.
struct Usage {
  uint64_t input_octets = 0, output_octets = 0, input_packets = 0, output_packets = 0;
};

struct AcctCounters {
  uint64_t starts = 0, interims = 0, stops = 0;
  uint64_t acknowledged = 0;
  uint64_t retry_rounds = 0;       // a record went back to wait for a server
  uint64_t dropped_expired = 0;    // older than acct_max_age
  uint64_t dropped_overflow = 0;   // queue full
};

class Accounting {
 public:
  using UsageFn = std::function<Usage()>;
  Accounting(cp::EventLoop& loop, Client& client, const config::Radius& cfg);
  ~Accounting();
  Accounting(const Accounting&) = delete;
  Accounting& operator=(const Accounting&) = delete;

  // Sends Start and arms Interim-Updates (every `interim_s` if set, else the
  // configured interval; none if both are 0). `usage` is read for each.
  void Start(uint64_t key, AcctSession s, UsageFn usage,
             std::optional<uint32_t> interim_s = std::nullopt);
  // Sends Stop with the final counters; the session is forgotten. Unknown
  // keys (never started) are ignored.
  void Stop(uint64_t key, uint32_t terminate_cause, const Usage& final_usage);
  bool Active(uint64_t key) const { return sessions_.count(key) > 0; }

  size_t queued() const { return queue_.size(); }
  size_t in_flight() const { return in_flight_; }
  const AcctCounters& counters() const { return counters_; }

 private:
  struct Live {
    AcctSession s;
    UsageFn usage;
    absl::Time started;
    uint32_t interim_s = 0;
    cp::TimerQueue::TimerId timer = 0;
  };
  struct Record {
    uint64_t seq = 0;
    uint64_t key = 0;
    uint32_t status = 0;
    Packet packet;
    absl::Time created;
    absl::Time next_try;
    bool in_flight = false;
    Client::RequestId rid = 0;
  };

  Packet BuildRecord(const Live& l, uint32_t status, const Usage* usage, uint32_t cause) const;
  void Enqueue(uint64_t key, uint32_t status, Packet p);
  void ArmInterim(uint64_t key);
  void Pump();
  void OnDone(uint64_t seq, absl::StatusOr<Packet> reply);
  void ScheduleWake(absl::Time when);
  absl::Duration RetryAfter() const;

  cp::EventLoop& loop_;
  Client& client_;
  const config::Radius& cfg_;
  std::map<uint64_t, Live> sessions_;
  std::deque<Record> queue_;
  uint64_t next_seq_ = 1;
  size_t in_flight_ = 0;
  cp::TimerQueue::TimerId wake_timer_ = 0;
  absl::Time wake_at_ = absl::InfiniteFuture();
  AcctCounters counters_;
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);
};

}  // namespace vpn::radius

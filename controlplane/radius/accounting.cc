#include "accounting.h"

#include <set>

#include "vpn/log.h"

namespace vpn::radius {

namespace {
constexpr size_t kMaxInFlight = 32;

std::string_view StatusName(uint32_t s) {
  switch (s) {
    case kAcctStart: return "Start";
    case kAcctStop: return "Stop";
    case kAcctInterimUpdate: return "Interim-Update";
  }
  return "?";
}
}  // namespace

Accounting::Accounting(cp::EventLoop& loop, Client& client, const config::Radius& cfg)
    : loop_(loop), client_(client), cfg_(cfg) {
  client_.set_on_server_revived([this] {
    // A server is back: everything waiting goes now.
    for (Record& r : queue_) r.next_try = absl::InfinitePast();
    Pump();
  });
}

Accounting::~Accounting() {
  alive_.reset();
  client_.set_on_server_revived(nullptr);
  for (Record& r : queue_)
    if (r.in_flight) client_.Cancel(r.rid);
  for (auto& [k, l] : sessions_)
    if (l.timer) loop_.Cancel(l.timer);
  if (wake_timer_) loop_.Cancel(wake_timer_);
  if (!queue_.empty()) {
    VPN_LOG(auth, kWarn, "radius: %d accounting record(s) unsent at exit", queue_.size());
  }
}

absl::Duration Accounting::RetryAfter() const {
  return std::max(absl::Seconds(cfg_.dead_time_s), absl::Milliseconds(cfg_.timeout_ms));
}

void Accounting::Start(uint64_t key, AcctSession s, UsageFn usage,
                       std::optional<uint32_t> interim_s) {
  if (sessions_.count(key)) return;
  Live& l = sessions_[key];
  l.s = std::move(s);
  l.usage = std::move(usage);
  l.started = loop_.Now();
  l.interim_s = interim_s.value_or(cfg_.interim_interval_s);
  ++counters_.starts;
  Enqueue(key, kAcctStart, BuildRecord(l, kAcctStart, nullptr, 0));
  ArmInterim(key);
}

void Accounting::ArmInterim(uint64_t key) {
  Live& l = sessions_.at(key);
  if (l.interim_s == 0) return;
  l.timer = loop_.Schedule(absl::Seconds(l.interim_s), [this, key] {
    auto it = sessions_.find(key);
    if (it == sessions_.end()) return;
    it->second.timer = 0;
    const Usage u = it->second.usage ? it->second.usage() : Usage{};
    ++counters_.interims;
    Enqueue(key, kAcctInterimUpdate, BuildRecord(it->second, kAcctInterimUpdate, &u, 0));
    ArmInterim(key);
  });
}

void Accounting::Stop(uint64_t key, uint32_t cause, const Usage& final_usage) {
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return;
  if (it->second.timer) loop_.Cancel(it->second.timer);
  ++counters_.stops;
  Packet p = BuildRecord(it->second, kAcctStop, &final_usage, cause);
  sessions_.erase(it);
  Enqueue(key, kAcctStop, std::move(p));
}

Packet Accounting::BuildRecord(const Live& l, uint32_t status, const Usage* u,
                               uint32_t cause) const {
  Packet p;
  p.code = kAccountingRequest;
  p.AddU32(kAcctStatusType, status);
  p.AddString(kAcctSessionId, l.s.session_id);
  if (!l.s.user_name.empty()) p.AddString(kUserName, l.s.user_name.substr(0, kMaxAttrValueLen));
  if (!cfg_.nas_identifier.empty()) p.AddString(kNasIdentifier, cfg_.nas_identifier);
  if (cfg_.nas_ip) p.AddIpv4(kNasIpAddress, cfg_.nas_ip);
  p.AddU32(kNasPortType, kNasPortTypeVirtual);
  p.AddU32(kServiceType, kServiceFramed);
  p.AddU32(kFramedProtocol, kFramedProtocolPpp);
  if (l.s.framed_ip) p.AddIpv4(kFramedIpAddress, l.s.framed_ip);
  if (!l.s.calling_station.empty()) p.AddString(kCallingStationId, l.s.calling_station);
  if (!l.s.nas_port_id.empty()) {
    p.AddString(kNasPortId, l.s.nas_port_id.substr(0, kMaxAttrValueLen));
  }
  for (const Bytes& c : l.s.classes) p.Add(kClass, c);
  p.AddU32(kAcctAuthentic,
           l.s.radius_authenticated ? kAcctAuthenticRadius : kAcctAuthenticLocal);
  const absl::Time now = loop_.Now();
  p.AddU32(kEventTimestamp, uint32_t(absl::ToUnixSeconds(now)));
  if (u) {
    // RFC 2869 5.1/5.2: the octet counts modulo 2^32, Gigawords the rest.
    p.AddU32(kAcctInputOctets, uint32_t(u->input_octets));
    p.AddU32(kAcctOutputOctets, uint32_t(u->output_octets));
    p.AddU32(kAcctInputGigawords, uint32_t(u->input_octets >> 32));
    p.AddU32(kAcctOutputGigawords, uint32_t(u->output_octets >> 32));
    p.AddU32(kAcctInputPackets, uint32_t(u->input_packets));
    p.AddU32(kAcctOutputPackets, uint32_t(u->output_packets));
    p.AddU32(kAcctSessionTime, uint32_t(absl::ToInt64Seconds(now - l.started)));
  }
  if (status == kAcctStop) p.AddU32(kAcctTerminateCause, cause);
  return p;
}

void Accounting::Enqueue(uint64_t key, uint32_t status, Packet p) {
  if (queue_.size() >= cfg_.acct_queue_max) {
    auto victim = queue_.end();
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (!it->in_flight && it->status == kAcctInterimUpdate) {
        victim = it;
        break;
      }
    }
    if (victim == queue_.end()) {
      for (auto it = queue_.begin(); it != queue_.end(); ++it) {
        if (!it->in_flight) {
          victim = it;
          break;
        }
      }
    }
    if (victim != queue_.end()) {
      ++counters_.dropped_overflow;
      VPN_LOG(auth, kError, "radius: accounting queue full (%d): %s record of %s dropped",
              queue_.size(), StatusName(victim->status),
              victim->packet.String(kAcctSessionId).value_or("?"));
      queue_.erase(victim);
    }
  }
  Record r;
  r.seq = next_seq_++;
  r.key = key;
  r.status = status;
  r.packet = std::move(p);
  r.created = loop_.Now();
  r.next_try = absl::InfinitePast();
  queue_.push_back(std::move(r));
  Pump();
}

void Accounting::Pump() {
  if (!client_.HasServer(Service::kAcct)) return;
  const absl::Time now = loop_.Now();
  // Expire what waited too long (never while a transmission is running).
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (!it->in_flight && now - it->created > absl::Seconds(cfg_.acct_max_age_s)) {
      ++counters_.dropped_expired;
      VPN_LOG(auth, kError, "radius: %s record of session %s dropped: no accounting server "
              "answered for %ds", StatusName(it->status),
              it->packet.String(kAcctSessionId).value_or("?"), cfg_.acct_max_age_s);
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  std::set<uint64_t> blocked;  // sessions with an earlier record outstanding
  absl::Time next = absl::InfiniteFuture();
  for (Record& r : queue_) {
    if (in_flight_ >= kMaxInFlight) break;
    const bool first_of_session = blocked.insert(r.key).second;
    if (r.in_flight || !first_of_session) continue;
    if (r.next_try > now) {
      next = std::min(next, r.next_try);
      continue;
    }
    r.in_flight = true;
    ++in_flight_;
    const uint64_t seq = r.seq;
    const absl::Time created = r.created;
    std::weak_ptr<char> alive = alive_;
    r.rid = client_.Send(
        Service::kAcct, r.packet,
        [this, alive, seq](absl::StatusOr<Packet> reply) {
          if (!alive.expired()) OnDone(seq, std::move(reply));
        },
        [this, created](Packet& p) {
          p.SetU32(kAcctDelayTime, uint32_t(absl::ToInt64Seconds(loop_.Now() - created)));
        });
  }
  if (next != absl::InfiniteFuture()) ScheduleWake(next);
}

void Accounting::ScheduleWake(absl::Time when) {
  if (wake_timer_ && wake_at_ <= when) return;
  if (wake_timer_) loop_.Cancel(wake_timer_);
  wake_at_ = when;
  wake_timer_ = loop_.Schedule(std::max(absl::ZeroDuration(), when - loop_.Now()), [this] {
    wake_timer_ = 0;
    wake_at_ = absl::InfiniteFuture();
    Pump();
  });
}

void Accounting::OnDone(uint64_t seq, absl::StatusOr<Packet> reply) {
  auto it = std::find_if(queue_.begin(), queue_.end(),
                         [seq](const Record& r) { return r.seq == seq; });
  if (it == queue_.end()) return;
  --in_flight_;
  if (reply.ok()) {
    ++counters_.acknowledged;
    VPN_LOG(auth, kEvent, "radius: accounting %s of %s acknowledged", StatusName(it->status),
            it->packet.String(kAcctSessionId).value_or("?"));
    queue_.erase(it);
  } else {
    ++counters_.retry_rounds;
    it->in_flight = false;
    it->rid = 0;
    it->next_try = loop_.Now() + RetryAfter();
    VPN_LOG(auth, kWarn, "radius: accounting %s of %s waits for a server (%d queued)",
            StatusName(it->status), it->packet.String(kAcctSessionId).value_or("?"),
            queue_.size());
  }
  Pump();
}

}  // namespace vpn::radius

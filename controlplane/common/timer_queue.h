// Timers for protocol state machines. Protocol code takes a TimerQueue& so that
// exchange tests drive time with ManualTimerQueue while the daemon uses the
// epoll EventLoop (event_loop.h).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "absl/time/time.h"

namespace vpn::cp {

class TimerQueue {
 public:
  using TimerId = uint64_t;  // 0 is never a valid id
  virtual ~TimerQueue() = default;
  virtual absl::Time Now() const = 0;
  virtual TimerId Schedule(absl::Duration after, std::function<void()> cb) = 0;
  // Cancelling an expired or unknown id is a no-op.
  virtual void Cancel(TimerId id) = 0;
};

// Ordered timer set shared by both implementations.
class TimerSet {
 public:
  TimerQueue::TimerId Add(absl::Time when, std::function<void()> cb);
  void Cancel(TimerQueue::TimerId id);
  // Runs every timer due at or before `now`, in deadline order; callbacks may
  // schedule and cancel. Returns how many ran.
  int RunDue(absl::Time now);
  // Deadline of the earliest timer, or InfiniteFuture.
  absl::Time NextDeadline() const;
  size_t size() const { return by_id_.size(); }

 private:
  TimerQueue::TimerId next_id_ = 1;
  std::multimap<std::pair<absl::Time, TimerQueue::TimerId>, std::function<void()>>
      by_time_;
  std::map<TimerQueue::TimerId, absl::Time> by_id_;
};

// Deterministic time for tests: nothing happens until Advance().
class ManualTimerQueue : public TimerQueue {
 public:
  explicit ManualTimerQueue(absl::Time start = absl::FromUnixSeconds(1700000000))
      : now_(start) {}
  absl::Time Now() const override { return now_; }
  TimerId Schedule(absl::Duration after, std::function<void()> cb) override {
    return set_.Add(now_ + after, std::move(cb));
  }
  void Cancel(TimerId id) override { set_.Cancel(id); }
  // Moves time forward, firing timers in order at their own deadlines.
  void Advance(absl::Duration d);
  size_t pending() const { return set_.size(); }

 private:
  absl::Time now_;
  TimerSet set_;
};

}  // namespace vpn::cp

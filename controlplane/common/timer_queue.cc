#include "timer_queue.h"

namespace vpn::cp {

TimerQueue::TimerId TimerSet::Add(absl::Time when, std::function<void()> cb) {
  TimerQueue::TimerId id = next_id_++;
  by_time_.emplace(std::make_pair(when, id), std::move(cb));
  by_id_.emplace(id, when);
  return id;
}

void TimerSet::Cancel(TimerQueue::TimerId id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  by_time_.erase(std::make_pair(it->second, id));
  by_id_.erase(it);
}

int TimerSet::RunDue(absl::Time now) {
  int ran = 0;
  while (!by_time_.empty() && by_time_.begin()->first.first <= now) {
    auto node = by_time_.extract(by_time_.begin());
    by_id_.erase(node.key().second);
    node.mapped()();
    ++ran;
  }
  return ran;
}

absl::Time TimerSet::NextDeadline() const {
  return by_time_.empty() ? absl::InfiniteFuture() : by_time_.begin()->first.first;
}

void ManualTimerQueue::Advance(absl::Duration d) {
  const absl::Time end = now_ + d;
  while (true) {
    absl::Time next = set_.NextDeadline();
    if (next > end) break;
    if (next > now_) now_ = next;
    set_.RunDue(now_);
  }
  now_ = end;
}

}  // namespace vpn::cp

#include "timer_queue.h"

#include <vector>

#include "gtest/gtest.h"

namespace vpn::cp {
namespace {

TEST(ManualTimerQueue, FiresInDeadlineOrderAtTheirOwnTimes) {
  ManualTimerQueue q;
  const absl::Time t0 = q.Now();
  std::vector<std::pair<int, absl::Duration>> fired;
  q.Schedule(absl::Seconds(3), [&] { fired.push_back({3, q.Now() - t0}); });
  q.Schedule(absl::Seconds(1), [&] { fired.push_back({1, q.Now() - t0}); });
  auto id = q.Schedule(absl::Seconds(2), [&] { fired.push_back({2, q.Now() - t0}); });
  q.Cancel(id);
  q.Advance(absl::Seconds(10));
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0].first, 1);
  EXPECT_EQ(fired[0].second, absl::Seconds(1));
  EXPECT_EQ(fired[1].first, 3);
  EXPECT_EQ(fired[1].second, absl::Seconds(3));
  EXPECT_EQ(q.Now() - t0, absl::Seconds(10));
}

TEST(ManualTimerQueue, CallbackMayRescheduleItself) {
  ManualTimerQueue q;
  int count = 0;
  std::function<void()> tick = [&] {
    if (++count < 5) q.Schedule(absl::Seconds(1), tick);
  };
  q.Schedule(absl::Seconds(1), tick);
  q.Advance(absl::Seconds(100));
  EXPECT_EQ(count, 5);
  EXPECT_EQ(q.pending(), 0u);
}

TEST(ManualTimerQueue, CancelUnknownIsNoop) {
  ManualTimerQueue q;
  q.Cancel(12345);
  EXPECT_EQ(q.pending(), 0u);
}

}  // namespace
}  // namespace vpn::cp

// The autoscaler's decisions, step by step on an injected clock: it scales up at
// once on a burst, waits out a lull before scaling down, one instance at a time,
// stays within min and max, and does not flap on a noisy queue.
#include "lifecycle/autoscaler.h"

#include <gtest/gtest.h>

namespace quiver::lifecycle {
namespace {

using std::chrono::milliseconds;
using TimePoint = std::chrono::steady_clock::time_point;

class AutoscalerTest : public ::testing::Test {
 protected:
  AutoscalerConfig config() {
    AutoscalerConfig c;
    c.target_per_instance = 2;
    c.low_water = 0.5;
    c.up_cooldown = milliseconds(1000);
    c.down_delay = milliseconds(10'000);
    return c;
  }
  int step(Autoscaler& a, int current, int64_t in_flight, int min = 1, int max = 4) {
    return a.step({"m", 1}, {current, min, max, in_flight}, now_);
  }
  void advance(int ms) { now_ += milliseconds(ms); }
  TimePoint now_{milliseconds(1'000'000)};
};

TEST_F(AutoscalerTest, HoldsWhileTheQueueFitsTheInstances) {
  Autoscaler a(config());
  EXPECT_EQ(step(a, 1, 0), 1);
  EXPECT_EQ(step(a, 1, 2), 1) << "two in flight is what one instance absorbs";
  EXPECT_EQ(step(a, 2, 3), 2);
}

TEST_F(AutoscalerTest, ScalesUpAtOnceToWhatAbsorbsTheBurstCappedAtMax) {
  Autoscaler a(config());
  EXPECT_EQ(step(a, 1, 5), 3) << "5 in flight needs ceil(5/2) = 3 instances";
  advance(1000);
  EXPECT_EQ(step(a, 3, 40), 4) << "never above max";
  advance(1000);
  EXPECT_EQ(step(a, 4, 40), 4);
}

TEST_F(AutoscalerTest, ScaleUpRespectsItsCooldown) {
  Autoscaler a(config());
  EXPECT_EQ(step(a, 1, 3), 2);
  advance(500);
  EXPECT_EQ(step(a, 2, 7), 2) << "within the cooldown of the last change";
  advance(500);
  EXPECT_EQ(step(a, 2, 7), 4);
}

TEST_F(AutoscalerTest, ScalesDownOneAtATimeOnlyAfterALullLastsTheWholeDelay) {
  Autoscaler a(config());
  EXPECT_EQ(step(a, 1, 8), 4);
  advance(1000);
  EXPECT_EQ(step(a, 4, 0), 4) << "the lull has just begun";
  advance(9000);
  EXPECT_EQ(step(a, 4, 0), 4) << "nine seconds of lull, ten needed";
  advance(1000);
  EXPECT_EQ(step(a, 4, 0), 3);
  advance(1000);
  EXPECT_EQ(step(a, 3, 0), 3) << "each step down needs a new whole lull";
  advance(10'000);
  EXPECT_EQ(step(a, 3, 0), 2);
  advance(10'000);
  EXPECT_EQ(step(a, 2, 0), 1);
  advance(60'000);
  EXPECT_EQ(step(a, 1, 0), 1) << "never below min";
}

TEST_F(AutoscalerTest, ABlipInTheLullRestartsTheWaitSoItDoesNotFlap) {
  Autoscaler a(config());
  EXPECT_EQ(step(a, 1, 4), 2);
  advance(20'000);
  EXPECT_EQ(step(a, 2, 0), 2);  // lull starts
  advance(8000);
  // Between the thresholds: 2 in flight is above half of one instance's capacity
  // (1) but within two instances' (4): neither up nor down, and the lull is over.
  EXPECT_EQ(step(a, 2, 2), 2);
  advance(4000);
  EXPECT_EQ(step(a, 2, 0), 2) << "a new lull began 0 s ago";
  advance(10'000);
  EXPECT_EQ(step(a, 2, 0), 1);
}

TEST_F(AutoscalerTest, AnOutOfBoundsCountIsBroughtBackAtOnce) {
  Autoscaler a(config());
  EXPECT_EQ(step(a, 6, 0, 1, 4), 4) << "max lowered by a new spec";
  EXPECT_EQ(step(a, 1, 0, 2, 4), 2) << "min raised";
}

TEST_F(AutoscalerTest, VersionsAreScaledIndependently) {
  Autoscaler a(config());
  EXPECT_EQ(a.step({"m", 1}, {1, 1, 4, 8}, now_), 4);
  EXPECT_EQ(a.step({"m", 2}, {1, 1, 4, 0}, now_), 1);
  advance(100);
  EXPECT_EQ(a.step({"m", 2}, {1, 1, 4, 8}, now_), 4) << "m/1's cooldown does not hold m/2";
}

}  // namespace
}  // namespace quiver::lifecycle

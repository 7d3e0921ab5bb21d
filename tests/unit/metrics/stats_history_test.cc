#include "metrics/stats_history.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace quiver::metrics {
namespace {

using namespace std::chrono_literals;

// Buckets: <=1 ms, <=2 ms, <=4 ms, +Inf.
const std::vector<double> kBounds = {0.001, 0.002, 0.004, std::numeric_limits<double>::infinity()};

// A fake deployment whose counters the test moves by hand.
struct Fixture {
  FakeClock clock;
  std::vector<ModelCounterReading> now;
  StatsHistory history{clock, [this] { return now; }, kBounds, StatsHistoryOptions{2000ms, 60s}};

  VersionCounterReading& version(int64_t v) {
    if (now.empty()) now.push_back({"iris", {}});
    for (auto& r : now[0].versions)
      if (r.version == v) return r;
    now[0].versions.push_back({v, 0, 0, 0, std::vector<uint64_t>(kBounds.size(), 0)});
    return now[0].versions.back();
  }
  // `n` successful requests routed to `v`, each in latency bucket `bucket`.
  void serve(int64_t v, uint64_t n, size_t bucket, uint64_t errors = 0) {
    auto& r = version(v);
    r.requests += n + errors;
    r.errors += errors;
    r.routed += n + errors;
    r.latency_buckets[bucket] += n;
  }
  void tick() {
    clock.advance(2s);
    history.step();
  }
};

TEST(StatsHistory, FirstReadingIsOnlyABaseline) {
  Fixture f;
  f.serve(1, 500, 0);  // traffic from before sampling began is not a burst
  f.history.step();
  EXPECT_TRUE(f.history.frames("iris", 15min).empty());
  f.serve(1, 10, 0);
  f.tick();
  const auto frames = f.history.frames("iris", 15min);
  ASSERT_EQ(frames.size(), 1u);
  ASSERT_EQ(frames[0].versions.size(), 1u);
  EXPECT_EQ(frames[0].versions[0].requests, 10u);
  EXPECT_DOUBLE_EQ(frames[0].versions[0].rate, 5.0);  // 10 requests in 2 s
}

TEST(StatsHistory, ObservedShareAndErrorRatePerInterval) {
  Fixture f;
  f.version(1);
  f.version(2);
  f.history.step();
  f.serve(1, 90, 0);
  f.serve(2, 8, 2, /*errors=*/2);
  f.tick();
  auto frames = f.history.frames("iris", 15min);
  ASSERT_EQ(frames.size(), 1u);
  const auto& v1 = frames[0].versions[0];
  const auto& v2 = frames[0].versions[1];
  EXPECT_DOUBLE_EQ(v1.share, 0.9);
  EXPECT_DOUBLE_EQ(v2.share, 0.1);
  EXPECT_DOUBLE_EQ(v1.error_rate, 0.0);
  EXPECT_DOUBLE_EQ(v2.error_rate, 0.2);

  // The split moves: the next frame shows the new one, not the average since start.
  f.serve(1, 10, 0);
  f.serve(2, 30, 0);
  f.tick();
  frames = f.history.frames("iris", 15min);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_DOUBLE_EQ(frames[1].versions[0].share, 0.25);
  EXPECT_DOUBLE_EQ(frames[1].versions[1].share, 0.75);
}

TEST(StatsHistory, LatencyQuantilesComeFromTheIntervalOnly) {
  Fixture f;
  f.version(1);
  f.history.step();
  f.serve(1, 100, 2);  // 2..4 ms
  f.tick();
  f.serve(1, 100, 0);  // 0..1 ms
  f.tick();
  const auto frames = f.history.frames("iris", 15min);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_GT(frames[0].versions[0].p50_ms, 2.0);
  EXPECT_LE(frames[0].versions[0].p99_ms, 4.0);
  EXPECT_LE(frames[1].versions[0].p99_ms, 1.0);
}

TEST(StatsHistory, IdleIntervalHasNoLatencyOrShare) {
  Fixture f;
  f.version(1);
  f.history.step();
  f.tick();
  const auto frames = f.history.frames("iris", 15min);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].versions[0].rate, 0.0);
  EXPECT_TRUE(std::isnan(frames[0].versions[0].p50_ms));
  EXPECT_TRUE(std::isnan(frames[0].versions[0].share));
  EXPECT_TRUE(std::isnan(frames[0].versions[0].error_rate));
}

TEST(StatsHistory, RetentionBoundsTheRingAndWindowSelects) {
  Fixture f;  // 2 s interval, 60 s retention
  f.version(1);
  f.history.step();
  for (int i = 0; i < 100; ++i) {
    f.serve(1, 1, 0);
    f.tick();
  }
  EXPECT_EQ(f.history.frames("iris", 15min).size(), 30u);  // 60 s of 2 s frames
  EXPECT_EQ(f.history.frames("iris", 10s).size(), 5u);
  EXPECT_TRUE(f.history.frames("unknown", 15min).empty());
}

TEST(StatsHistory, ACounterThatRestartsCountsFromZero) {
  Fixture f;
  f.serve(1, 1000, 0);
  f.history.step();
  f.version(1) = {1, 7, 0, 7, {7, 0, 0, 0}};  // unloaded and loaded again
  f.tick();
  const auto frames = f.history.frames("iris", 15min);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].versions[0].requests, 7u);
  EXPECT_LE(frames[0].versions[0].p99_ms, 1.0);
}

TEST(StatsHistory, AVersionJoiningLaterStartsAtItsFirstReading) {
  Fixture f;
  f.version(1);
  f.history.step();
  f.serve(2, 400, 0);  // already loaded with old traffic when it joins
  f.serve(1, 10, 0);
  f.tick();
  auto frames = f.history.frames("iris", 15min);
  ASSERT_EQ(frames.back().versions.size(), 1u);  // v2 only has a baseline yet
  f.serve(2, 10, 0);
  f.tick();
  frames = f.history.frames("iris", 15min);
  ASSERT_EQ(frames.back().versions.size(), 2u);
  EXPECT_EQ(frames.back().versions[1].requests, 10u);
  EXPECT_DOUBLE_EQ(frames.back().versions[1].share, 1.0);
}

TEST(StatsHistory, AModelThatGoesAwayAgesOut) {
  Fixture f;
  f.version(1);
  f.history.step();
  f.tick();
  EXPECT_EQ(f.history.models(), std::vector<std::string>{"iris"});
  f.now.clear();
  for (int i = 0; i < 40; ++i) f.tick();
  EXPECT_TRUE(f.history.models().empty());
}

TEST(StatsHistory, QuantileInterpolatesInsideTheBucket) {
  EXPECT_TRUE(std::isnan(StatsHistory::quantile({0, 0, 0, 0}, kBounds, 0.5)));
  EXPECT_DOUBLE_EQ(StatsHistory::quantile({0, 10, 0, 0}, kBounds, 0.5), 0.0015);
  EXPECT_DOUBLE_EQ(StatsHistory::quantile({0, 0, 0, 10}, kBounds, 0.99), 0.004);  // +Inf: the last edge
}

}  // namespace
}  // namespace quiver::metrics

#include "cli/bench_stats.h"

#include <algorithm>
#include <numeric>
#include <random>

#include <gtest/gtest.h>

#include "cli/bench_report.h"

namespace quiver::cli {
namespace {

std::vector<int64_t> one_to(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 1);
  return v;
}

TEST(LatencyStatsTest, PercentilesAreNearestRankOverEverySample) {
  auto samples = one_to(100);
  std::shuffle(samples.begin(), samples.end(), std::mt19937_64(7));
  const LatencySummary s = summarize_latencies(samples);
  EXPECT_EQ(s.count, 100);
  EXPECT_EQ(s.p50_ns, 50);
  EXPECT_EQ(s.p90_ns, 90);
  EXPECT_EQ(s.p99_ns, 99);
  EXPECT_EQ(s.min_ns, 1);
  EXPECT_EQ(s.max_ns, 100);
  EXPECT_DOUBLE_EQ(s.mean_ns, 50.5);
}

TEST(LatencyStatsTest, SmallSampleCountsRoundTheRankUp) {
  auto ten = one_to(10);
  const LatencySummary s = summarize_latencies(ten);
  EXPECT_EQ(s.p50_ns, 5);   // rank ceil(5) = 5
  EXPECT_EQ(s.p90_ns, 9);   // rank ceil(9) = 9
  EXPECT_EQ(s.p99_ns, 10);  // rank ceil(9.9) = 10: the slowest request

  std::vector<int64_t> one{42};
  const LatencySummary single = summarize_latencies(one);
  EXPECT_EQ(single.p50_ns, 42);
  EXPECT_EQ(single.p99_ns, 42);
}

TEST(LatencyStatsTest, P99SeesTheSlowestOnePercentExactly) {
  // 1000 requests at 1 ms; the slowest 10 at 50 ms: p99 is still 1 ms (rank 990)...
  std::vector<int64_t> samples(990, 1'000'000);
  samples.insert(samples.end(), 10, 50'000'000);
  EXPECT_EQ(summarize_latencies(samples).p99_ns, 1'000'000);
  // ...and one more slow request moves it to 50 ms: no interpolation hides it.
  samples[0] = 50'000'000;
  EXPECT_EQ(summarize_latencies(samples).p99_ns, 50'000'000);
}

TEST(LatencyStatsTest, NoSamplesGiveZeros) {
  std::vector<int64_t> none;
  const LatencySummary s = summarize_latencies(none);
  EXPECT_EQ(s.count, 0);
  EXPECT_EQ(s.p99_ns, 0);
  EXPECT_EQ(s.mean_ns, 0);
}

TEST(LatencyStatsTest, ThroughputCountsSuccessfulRequestsAndRows) {
  LevelResult level;
  level.ok = 500;
  level.errors = 100;
  level.elapsed_s = 2.0;
  level.batch = 32;
  EXPECT_DOUBLE_EQ(level.throughput(), 250.0);
  EXPECT_DOUBLE_EQ(level.rows_per_second(), 8000.0);
  level.elapsed_s = 0;
  EXPECT_EQ(level.throughput(), 0);
}

TEST(BenchReportTest, JsonCarriesMillisecondsAndTheErrorBreakdown) {
  LevelResult level;
  level.concurrency = 4;
  level.ok = 1000;
  level.errors = 3;
  level.error_breakdown = {{"HTTP 429", 2}, {"timeout", 1}};
  level.elapsed_s = 0.5;
  level.latency.p50_ns = 1'500'000;
  level.latency.p99_ns = 4'000'000;
  const auto j = level_to_json(level);
  EXPECT_EQ(j["concurrency"], 4);
  EXPECT_EQ(j["requests"], 1003);
  EXPECT_EQ(j["error_breakdown"]["HTTP 429"], 2);
  EXPECT_EQ(j["error_breakdown"]["timeout"], 1);
  EXPECT_DOUBLE_EQ(j["throughput_infer_per_s"].get<double>(), 2000.0);
  EXPECT_DOUBLE_EQ(j["latency_ms"]["p50"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(j["latency_ms"]["p99"].get<double>(), 4.0);
  EXPECT_FALSE(j.contains("rate"));

  BenchRunInfo info{"http://127.0.0.1:8000", "iris", "", "http", false, 1, 10, 1, 0};
  const std::string text = render_bench_text(info, {level});
  EXPECT_NE(text.find("errors at concurrency 4: HTTP 429 x2, timeout x1"), std::string::npos) << text;
  EXPECT_NE(text.find("1.500"), std::string::npos) << text;
}

}  // namespace
}  // namespace quiver::cli

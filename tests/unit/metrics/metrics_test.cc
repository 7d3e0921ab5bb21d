#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

#include "metrics/metrics.h"
#include "metrics/metrics_registry.h"

namespace quiver::metrics {
namespace {

TEST(MetricsRegistryTest, RendersExactExpositionText) {
  MetricsRegistry r;
  r.counter("quiver_requests_total", "Inference requests.", {{"model", "resnet"}, {"version", "3"}}).inc(7);
  r.gauge("quiver_queue_depth", "Requests waiting.", {{"model", "resnet"}}).set(2.5);
  auto& h = r.histogram("quiver_latency_seconds", "Request latency.", {{"model", "resnet"}}, {0.1, 1});
  h.observe(0.05);
  h.observe(0.1);  // bounds are inclusive
  h.observe(0.5);
  h.observe(3);
  r.counter("a_total", "Sorted first.").inc();

  EXPECT_EQ(r.render(),
            "# HELP a_total Sorted first.\n"
            "# TYPE a_total counter\n"
            "a_total 1\n"
            "# HELP quiver_latency_seconds Request latency.\n"
            "# TYPE quiver_latency_seconds histogram\n"
            "quiver_latency_seconds_bucket{model=\"resnet\",le=\"0.1\"} 2\n"
            "quiver_latency_seconds_bucket{model=\"resnet\",le=\"1\"} 3\n"
            "quiver_latency_seconds_bucket{model=\"resnet\",le=\"+Inf\"} 4\n"
            "quiver_latency_seconds_sum{model=\"resnet\"} 3.65\n"
            "quiver_latency_seconds_count{model=\"resnet\"} 4\n"
            "# HELP quiver_queue_depth Requests waiting.\n"
            "# TYPE quiver_queue_depth gauge\n"
            "quiver_queue_depth{model=\"resnet\"} 2.5\n"
            "# HELP quiver_requests_total Inference requests.\n"
            "# TYPE quiver_requests_total counter\n"
            "quiver_requests_total{model=\"resnet\",version=\"3\"} 7\n");
}

TEST(MetricsRegistryTest, SameNameAndLabelsGiveTheSameObjectWhateverTheLabelOrder) {
  MetricsRegistry r;
  Counter& a = r.counter("c_total", "h", {{"model", "m"}, {"version", "1"}});
  Counter& b = r.counter("c_total", "other help", {{"version", "1"}, {"model", "m"}});
  EXPECT_EQ(&a, &b);
  Counter& other = r.counter("c_total", "h", {{"model", "m"}, {"version", "2"}});
  EXPECT_NE(&a, &other);
}

TEST(MetricsRegistryTest, SeriesWithDifferentLabelsShareOneFamilyHeader) {
  MetricsRegistry r;
  r.counter("req_total", "Requests.", {{"version", "2"}}).inc(2);
  r.counter("req_total", "Requests.", {{"version", "1"}}).inc(1);
  EXPECT_EQ(r.render(),
            "# HELP req_total Requests.\n"
            "# TYPE req_total counter\n"
            "req_total{version=\"1\"} 1\n"
            "req_total{version=\"2\"} 2\n");
}

TEST(MetricsRegistryTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry r;
  r.gauge("g", "line one\nback\\slash \"quoted\"", {{"model", "a\"b\\c\nd"}}).set(-1);
  EXPECT_EQ(r.render(),
            "# HELP g line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE g gauge\n"
            "g{model=\"a\\\"b\\\\c\\nd\"} -1\n");
}

TEST(MetricsRegistryTest, RendersSpecialAndFractionalGaugeValues) {
  MetricsRegistry r;
  r.gauge("g", "h", {{"k", "inf"}}).set(INFINITY);
  r.gauge("g", "h", {{"k", "nan"}}).set(NAN);
  r.gauge("g", "h", {{"k", "small"}}).set(0.1);
  r.gauge("g", "h", {{"k", "big"}}).set(1e20);
  EXPECT_EQ(r.render(),
            "# HELP g h\n# TYPE g gauge\n"
            "g{k=\"big\"} 1e+20\n"
            "g{k=\"inf\"} +Inf\n"
            "g{k=\"nan\"} NaN\n"
            "g{k=\"small\"} 0.1\n");
}

TEST(MetricsRegistryTest, RemoveDropsTheSeriesAndAnEmptyFamily) {
  MetricsRegistry r;
  r.counter("c", "h", {{"v", "1"}}).inc();
  r.counter("c", "h", {{"v", "2"}}).inc();
  EXPECT_TRUE(r.remove("c", {{"v", "1"}}));
  EXPECT_FALSE(r.remove("c", {{"v", "1"}}));
  EXPECT_EQ(r.render(), "# HELP c h\n# TYPE c counter\nc{v=\"2\"} 1\n");
  EXPECT_TRUE(r.remove("c", {{"v", "2"}}));
  EXPECT_EQ(r.render(), "");
}

TEST(HistogramTest, BucketsAreCumulativeWithInfEqualToCount) {
  Histogram h({5, 1, 2, 2});  // unsorted and duplicated on purpose
  ASSERT_EQ(h.bounds(), (std::vector<double>{1, 2, 5}));
  for (double v : {0.5, 1.0, 1.5, 2.0, 4.0, 6.0, 100.0}) h.observe(v);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 4, 5, 7}));
  EXPECT_EQ(s.count, 7u);
  EXPECT_EQ(h.count(), 7u);
  EXPECT_DOUBLE_EQ(s.sum, 115.0);
}

TEST(HistogramTest, NanGoesToTheInfBucket) {
  Histogram h({1});
  h.observe(NAN);
  EXPECT_EQ(h.snapshot().cumulative, (std::vector<uint64_t>{0, 1}));
}

TEST(HistogramTest, EstimatesQuantilesByInterpolation) {
  Histogram h({1, 2, 4});
  for (int i = 0; i < 50; ++i) h.observe(0.5);
  for (int i = 0; i < 50; ++i) h.observe(1.5);
  const auto s = h.snapshot();
  EXPECT_DOUBLE_EQ(estimate_quantile(s, 0.5), 1.0);
  EXPECT_DOUBLE_EQ(estimate_quantile(s, 0.75), 1.5);
  EXPECT_TRUE(std::isnan(estimate_quantile(Histogram({1}).snapshot(), 0.5)));
  Histogram over({1});
  over.observe(10);
  EXPECT_DOUBLE_EQ(estimate_quantile(over.snapshot(), 0.99), 1.0);
}

TEST(HistogramTest, DefaultLatencyBucketsSpan50MicrosecondsTo10Seconds) {
  const auto b = default_latency_buckets();
  ASSERT_FALSE(b.empty());
  EXPECT_DOUBLE_EQ(b.front(), 0.00005);
  EXPECT_DOUBLE_EQ(b.back(), 10.0);
  EXPECT_TRUE(std::is_sorted(b.begin(), b.end()));
}

TEST(MetricsConcurrencyTest, EightThreadsIncrementWithoutLosingUpdates) {
  MetricsRegistry r;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&r] {
      // Every thread looks the metrics up itself: creation races must yield one object.
      Counter& c = r.counter("hits_total", "h", {{"model", "m"}});
      Gauge& g = r.gauge("level", "h");
      Histogram& h = r.histogram("lat", "h", {}, {0.5});
      for (int i = 0; i < kPerThread; ++i) {
        c.inc();
        g.add(1.0);
        h.observe(i % 2 == 0 ? 0.25 : 1.0);
      }
    });
  }
  for (auto& t : threads) t.join();
  constexpr uint64_t kTotal = uint64_t{kThreads} * kPerThread;
  EXPECT_EQ(r.counter("hits_total", "h", {{"model", "m"}}).value(), kTotal);
  EXPECT_EQ(r.gauge("level", "h").value(), static_cast<double>(kTotal));
  const auto s = r.histogram("lat", "h").snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{kTotal / 2, kTotal}));
  EXPECT_DOUBLE_EQ(s.sum, 0.25 * (kTotal / 2) + 1.0 * (kTotal / 2));
}

TEST(MetricsRegistryDeathTest, RejectsInvalidNamesAndKindClashes) {
  MetricsRegistry r;
  r.counter("x", "h");
  EXPECT_DEATH(r.gauge("x", "h"), "different kind");
  EXPECT_DEATH(r.counter("1bad", "h"), "invalid metric name");
  EXPECT_DEATH(r.counter("ok", "h", {{"bad-label", "v"}}), "invalid label name");
  EXPECT_DEATH(r.histogram("hist", "h", {{"le", "1"}}), "reserve");
}

}  // namespace
}  // namespace quiver::metrics

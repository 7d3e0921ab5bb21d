#include "quality/quality_report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "metrics/metrics_registry.h"
#include "quality/quality_tracker.h"

namespace quiver::quality {
namespace {

TEST(QualityReportTest, ConfusionPerClassAndMacroAverages) {
  QualityAccumulator acc;
  acc.ensure_classes(4);  // class 3 can be output but never occurs
  const std::vector<int64_t> truth = {0, 0, 0, 1, 1, 2};
  const std::vector<int64_t> pred = {0, 0, 1, 1, 2, 2};
  for (size_t i = 0; i < truth.size(); ++i) ASSERT_TRUE(acc.add_class(truth[i], pred[i]));
  const QualityReport r = acc.report({"a", "b"});
  EXPECT_EQ(r.task, TaskKind::kClassification);
  EXPECT_EQ(r.n, 6u);
  EXPECT_DOUBLE_EQ(r.accuracy, 4.0 / 6.0);
  const std::vector<std::vector<uint64_t>> confusion = {{2, 1, 0, 0}, {0, 1, 1, 0}, {0, 0, 1, 0}, {0, 0, 0, 0}};
  EXPECT_EQ(r.confusion, confusion);
  ASSERT_EQ(r.per_class.size(), 4u);
  EXPECT_EQ(r.per_class[0].label, "a");
  EXPECT_EQ(r.per_class[2].label, "");
  EXPECT_DOUBLE_EQ(r.per_class[0].precision, 1.0);
  EXPECT_DOUBLE_EQ(r.per_class[0].recall, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.per_class[0].f1, 0.8);
  EXPECT_EQ(r.per_class[0].support, 3u);
  EXPECT_DOUBLE_EQ(r.per_class[1].f1, 0.5);
  EXPECT_DOUBLE_EQ(r.per_class[2].precision, 0.5);
  EXPECT_DOUBLE_EQ(r.per_class[2].recall, 1.0);
  EXPECT_DOUBLE_EQ(r.per_class[2].f1, 2.0 / 3.0);
  EXPECT_EQ(r.per_class[3].f1, 0.0);  // listed, but not in the macro mean
  EXPECT_DOUBLE_EQ(r.macro_f1, (0.8 + 0.5 + 2.0 / 3.0) / 3);
  EXPECT_DOUBLE_EQ(r.macro_precision, (1.0 + 0.5 + 0.5) / 3);
  EXPECT_DOUBLE_EQ(r.macro_recall, (2.0 / 3.0 + 0.5 + 1.0) / 3);
}

TEST(QualityReportTest, ClassNeverPredictedHasZeroPrecisionAndF1) {
  QualityAccumulator acc;
  acc.add_class(0, 0);
  acc.add_class(1, 0);
  const QualityReport r = acc.report({});
  EXPECT_EQ(r.per_class[1].precision, 0.0);
  EXPECT_EQ(r.per_class[1].recall, 0.0);
  EXPECT_EQ(r.per_class[1].f1, 0.0);
  EXPECT_DOUBLE_EQ(r.per_class[0].precision, 0.5);
  EXPECT_DOUBLE_EQ(r.macro_f1, (2.0 / 3.0 + 0.0) / 2);
}

TEST(QualityReportTest, ConfusionGrowsWithTheClassesSeen) {
  QualityAccumulator acc;
  acc.add_class(0, 0);
  acc.add_class(5, 2);
  EXPECT_EQ(acc.report({}).confusion.size(), 6u);
  EXPECT_EQ(acc.report({}).confusion[5][2], 1u);
}

TEST(QualityReportTest, RegressionErrorsAndRewards) {
  QualityAccumulator acc;
  ASSERT_TRUE(acc.add_value(1.0, 2.0));
  ASSERT_TRUE(acc.add_value(3.0, 0.0));
  EXPECT_FALSE(acc.add_class(0, 0));  // a regression version stays one
  acc.add_reward(1.0);
  acc.add_reward(0.0);
  acc.add_reward(0.5);
  const QualityReport r = acc.report({});
  EXPECT_EQ(r.task, TaskKind::kRegression);
  EXPECT_EQ(r.n, 2u);
  EXPECT_DOUBLE_EQ(r.mae, 2.0);
  EXPECT_DOUBLE_EQ(r.rmse, std::sqrt(5.0));
  EXPECT_EQ(r.reward_n, 3u);
  EXPECT_DOUBLE_EQ(r.mean_reward, 0.5);
  const QualityCounts c = acc.counts();
  EXPECT_EQ(c.n, 2u);
  EXPECT_DOUBLE_EQ(c.abs_err_sum, 4.0);
  EXPECT_DOUBLE_EQ(c.sq_err_sum, 10.0);
  EXPECT_DOUBLE_EQ(c.reward_sum, 1.5);
  EXPECT_DOUBLE_EQ(c.reward_sq_sum, 1.25);
}

TEST(QualityReportTest, JsonShapes) {
  QualityAccumulator cls;
  cls.add_class(1, 1);
  auto j = report_json(cls.report({"x", "y"}));
  EXPECT_EQ(j["task"], "classification");
  EXPECT_EQ(j["n"], 1);
  EXPECT_EQ(j["accuracy"], 1.0);
  EXPECT_EQ(j["per_class"][1]["label"], "y");
  EXPECT_EQ(j["per_class"][1]["class"], 1);
  EXPECT_EQ(j["confusion"], nlohmann::json::parse("[[0,0],[0,1]]"));
  EXPECT_TRUE(j["mean_reward"].is_null());
  EXPECT_EQ(j["reward_n"], 0);

  QualityAccumulator empty;
  empty.set_task(TaskKind::kRegression);
  auto e = report_json(empty.report({}));
  EXPECT_EQ(e["task"], "regression");
  EXPECT_TRUE(e["mae"].is_null());
  EXPECT_TRUE(e["rmse"].is_null());
  EXPECT_EQ(report_json(QualityAccumulator().report({}))["task"], "unknown");
}

TEST(QualityTrackerTest, CountsPerVersionAndGauges) {
  metrics::MetricsRegistry metrics;
  QualityTracker t(&metrics);
  const std::vector<int32_t> pred = {0, 1, 2};
  const std::vector<int64_t> truth = {0, 1, 1};
  ASSERT_TRUE(t.add_classification("m", 1, pred, truth, 3));
  t.add_reward("m", 1, TaskKind::kClassification, 0.25);
  const std::vector<double> vp = {1.0}, vt = {1.5};
  EXPECT_FALSE(t.add_regression("m", 1, vp, vt));  // version 1 is a classifier
  ASSERT_TRUE(t.add_regression("m", 2, vp, vt));

  const QualityCounts c1 = t.counts("m", 1);
  EXPECT_EQ(c1.n, 3u);
  EXPECT_EQ(c1.correct, 2u);
  EXPECT_EQ(c1.reward_n, 1u);
  EXPECT_DOUBLE_EQ(c1.reward_sum, 0.25);
  EXPECT_EQ(t.counts("m", 2).n, 1u);
  EXPECT_DOUBLE_EQ(t.counts("m", 2).abs_err_sum, 0.5);
  EXPECT_EQ(t.counts("m", 3).n, 0u);
  EXPECT_FALSE(t.report("m", 3, {}).has_value());
  EXPECT_EQ(t.report("m", 1, {})->confusion.size(), 3u);

  t.publish_gauges();
  const std::string text = metrics.render();
  EXPECT_NE(text.find("quiver_version_quality{metric=\"accuracy\",model=\"m\",version=\"1\"} 0.666"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("quiver_version_quality{metric=\"mean_reward\",model=\"m\",version=\"1\"} 0.25"),
            std::string::npos);
  EXPECT_NE(text.find("quiver_version_quality{metric=\"mae\",model=\"m\",version=\"2\"} 0.5"), std::string::npos);
  EXPECT_NE(text.find("quiver_version_quality{metric=\"rmse\",model=\"m\",version=\"2\"} 0.5"), std::string::npos);
}

}  // namespace
}  // namespace quiver::quality

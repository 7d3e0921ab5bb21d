#include "quality/evaluation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

namespace quiver::quality {
namespace {

// A classifier over [n, 2] FP32 rows: class = round(x0) mod 3, as one-hot scores [n, 3].
// Records the batches it saw; fails a batch that holds a row with x1 == 99.
struct FakeClassifier {
  std::vector<std::vector<Tensor>> calls;
  bool async = false;
  RunVersion runner() {
    return [this](const std::string& model, int64_t version, std::vector<Tensor> inputs, RunDone done) {
      calls.push_back(inputs);
      auto answer = [inputs, done] {
        const Tensor& x = inputs.at(0);
        const auto v = x.values<float>();
        const int64_t n = x.shape()[0];
        std::vector<float> out(static_cast<size_t>(n) * 3, 0.0f);
        for (int64_t r = 0; r < n; ++r) {
          if (v[r * 2 + 1] == 99) return done(internal_error("row went wrong"));
          out[r * 3 + static_cast<int64_t>(std::lround(v[r * 2])) % 3] = 1.0f;
        }
        done(std::vector<Tensor>{Tensor::from_values<float>("scores", DataType::kFp32, {n, 3}, out)});
      };
      if (async) {
        std::thread(answer).detach();
      } else {
        answer();
      }
    };
  }
};

EvaluationTarget target(std::vector<std::string> labels = {}) {
  EvaluationTarget t;
  t.model = "m";
  t.version = 3;
  t.task.labels = std::move(labels);
  t.inputs = {{"x", DataType::kFp32, {-1, 2}}};
  return t;
}

Dataset csv(const std::string& text) {
  auto ds = parse_dataset(text, std::nullopt);
  EXPECT_TRUE(ds.is_ok()) << ds.status().to_string();
  return std::move(ds).value();
}

TEST(EvaluationTest, RunsInBatchesAndScoresLikeLiveFeedback) {
  // Predictions: 0, 1, 2, 0, 1 (x0 mod 3); truths 0, 1, 1, 0, 2.
  Dataset ds = csv("a,b,y\n0,0,0\n1,0,1\n2,0,1\n3,0,0\n4,0,2\n");
  FakeClassifier model;
  model.async = true;  // answers from another thread, like a servable
  FakeClock clock;
  EvaluationOptions o;
  o.batch_size = 2;
  auto out = run_evaluation(ds, target(), model.runner(), clock, o);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ(out->rows, 5u);
  EXPECT_EQ(out->batches, 3u);
  EXPECT_EQ(out->failed_rows, 0u);
  ASSERT_EQ(model.calls.size(), 3u);
  EXPECT_EQ(model.calls[0][0].name(), "x");  // the declared input's name
  EXPECT_EQ(model.calls[0][0].shape(), (Shape{2, 2}));
  EXPECT_EQ(model.calls[2][0].shape(), (Shape{1, 2}));
  const QualityReport& r = out->metrics;
  EXPECT_EQ(r.task, TaskKind::kClassification);
  EXPECT_EQ(r.n, 5u);
  EXPECT_DOUBLE_EQ(r.accuracy, 3.0 / 5.0);
  const std::vector<std::vector<uint64_t>> confusion = {{2, 0, 0}, {0, 1, 1}, {0, 1, 0}};
  EXPECT_EQ(r.confusion, confusion);

  auto j = evaluation_json(*out, target(), std::string(64, 'a'), ds);
  EXPECT_EQ(j["n"], 5);
  EXPECT_EQ(j["rows"], 5);
  EXPECT_EQ(j["errors"], 0);
  EXPECT_EQ(j["label"], "y");
  EXPECT_EQ(j["dataset"], std::string(64, 'a'));
  EXPECT_EQ(j["metrics"]["confusion"], nlohmann::json(confusion));
  EXPECT_TRUE(j["latency_ms"].contains("p99"));
  EXPECT_FALSE(j.contains("id"));  // the registry assigns it
}

TEST(EvaluationTest, LabelsMapThroughTheTaskAndBadOnesNameTheirLine) {
  Dataset ds = csv("a,b,y\n0,0,setosa\n1,0,versicolor\n");
  FakeClassifier model;
  FakeClock clock;
  auto out = run_evaluation(ds, target({"setosa", "versicolor", "virginica"}), model.runner(), clock, {});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_DOUBLE_EQ(out->metrics.accuracy, 1.0);
  EXPECT_EQ(out->metrics.per_class[1].label, "versicolor");

  Dataset bad = csv("a,b,y\n0,0,setosa\n1,0,rose\n");
  auto err = run_evaluation(bad, target({"setosa", "versicolor", "virginica"}), model.runner(), clock, {});
  ASSERT_FALSE(err.is_ok());
  EXPECT_EQ(err.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(err.status().message().find("line 3, label 'rose'"), std::string::npos) << err.status().message();
}

TEST(EvaluationTest, FailedBatchesCountTheirRows) {
  Dataset ds = csv("a,b,y\n0,0,0\n1,99,1\n2,0,2\n");
  FakeClassifier model;
  FakeClock clock;
  EvaluationOptions o;
  o.batch_size = 1;
  auto out = run_evaluation(ds, target(), model.runner(), clock, o);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ(out->failed_rows, 1u);
  EXPECT_EQ(out->metrics.n, 2u);
  ASSERT_EQ(out->error_samples.size(), 1u);
  EXPECT_EQ(out->error_samples[0].line, 3);
  EXPECT_EQ(out->error_samples[0].error, "row went wrong");

  Dataset all_bad = csv("a,b,y\n0,99,0\n");
  auto err = run_evaluation(all_bad, target(), model.runner(), clock, o);
  ASSERT_FALSE(err.is_ok());
  EXPECT_NE(err.status().message().find("every batch failed: row went wrong"), std::string::npos);
}

TEST(EvaluationTest, RegressionAndLatency) {
  Dataset ds = csv("a,y\n1,1.5\n2,2\n4,3\n");
  FakeClock clock;
  // Doubles its input; takes 5ms per batch on the fake clock.
  RunVersion doubler = [&clock](const std::string&, int64_t, std::vector<Tensor> in, RunDone done) {
    clock.advance(std::chrono::milliseconds(5));
    std::vector<float> out;
    for (float v : in[0].values<float>()) out.push_back(v * 2);
    done(std::vector<Tensor>{Tensor::from_values<float>("y", DataType::kFp32, {in[0].shape()[0]}, out)});
  };
  EvaluationTarget t;
  t.model = "r";
  t.version = 1;  // no declared inputs: the runner names the input
  EvaluationOptions o;
  o.batch_size = 2;
  auto out = run_evaluation(ds, t, doubler, clock, o);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ(out->metrics.task, TaskKind::kRegression);
  // errors: 2-1.5, 4-2, 8-3 -> 0.5, 2, 5
  EXPECT_DOUBLE_EQ(out->metrics.mae, 7.5 / 3);
  EXPECT_DOUBLE_EQ(out->metrics.rmse, std::sqrt((0.25 + 4 + 25) / 3));
  EXPECT_DOUBLE_EQ(out->latency_p50_ms, 5.0);
  EXPECT_DOUBLE_EQ(out->latency_p99_ms, 5.0);
  EXPECT_DOUBLE_EQ(out->latency_mean_ms, 5.0);
  EXPECT_DOUBLE_EQ(out->duration_ms, 10.0);

  Dataset text = csv("a,y\n1,high\n");
  auto err = run_evaluation(text, t, doubler, clock, o);
  ASSERT_FALSE(err.is_ok());
  EXPECT_NE(err.status().message().find("line 2, label 'high'"), std::string::npos);
}

TEST(EvaluationTest, CancellationStopsBetweenBatches) {
  Dataset ds = csv("a,b,y\n0,0,0\n1,0,1\n");
  FakeClassifier model;
  FakeClock clock;
  EvaluationOptions o;
  o.batch_size = 1;
  auto out = run_evaluation(ds, target(), model.runner(), clock, o, [&] { return model.calls.size() == 1; });
  ASSERT_FALSE(out.is_ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(model.calls.size(), 1u);
}

TEST(EvaluationTest, BatchInputsFollowTheDeclaredSignature) {
  Dataset ds = csv("a,b,c,d,y\n1,2,3,4,0\n5,6,7,8,1\n");
  EvaluationTarget t;
  t.inputs = {{"img", DataType::kInt64, {-1, 1, 2, 2}}};
  auto in = batch_inputs(ds, t, 0, 2);
  ASSERT_TRUE(in.is_ok()) << in.status().to_string();
  EXPECT_EQ((*in)[0].name(), "img");
  EXPECT_EQ((*in)[0].dtype(), DataType::kInt64);
  EXPECT_EQ((*in)[0].shape(), (Shape{2, 1, 2, 2}));
  EXPECT_EQ((*in)[0].values<int64_t>()[7], 8);

  Dataset frac = csv("a,y\n1.5,0\n");
  t.inputs = {{"i", DataType::kInt32, {-1, 1}}};
  EXPECT_FALSE(batch_inputs(frac, t, 0, 1).is_ok());

  t.inputs = {{"a", DataType::kFp32, {-1, 4}}, {"b", DataType::kFp32, {-1, 4}}};
  auto two = batch_inputs(ds, t, 0, 1);
  ASSERT_FALSE(two.is_ok());
  EXPECT_NE(two.status().message().find("has 2 inputs (a, b)"), std::string::npos);

  auto named = parse_dataset("{\"inputs\": {\"z\": [1]}, \"label\": 0}\n", std::nullopt);
  ASSERT_TRUE(named.is_ok());
  auto unknown = batch_inputs(*named, t, 0, 1);
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_NE(unknown.status().message().find("input 'z' is not an input"), std::string::npos);
}

}  // namespace
}  // namespace quiver::quality

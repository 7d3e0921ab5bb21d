#include "quality/quality_service.h"

#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <map>
#include <string>

#include "metrics/metrics_registry.h"
#include "unit/store/temp_dir.h"

namespace quiver::quality {
namespace {

using nlohmann::json;

Prediction classes(std::vector<int32_t> c) {
  Prediction p;
  p.kind = TaskKind::kClassification;
  p.num_classes = 3;
  p.classes = std::move(c);
  return p;
}

// A real SQLite registry with model "iris" (v1: a 3-class classifier with labels) and
// "reg" (v1: a regressor); blobs are files in the temp folder named by a fake sha.
class QualityServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = registry::Registry::open(dir_.path() / "registry.db", std::make_shared<FakeClock>());
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    registry_ = std::move(opened).value();
    registry::NewVersion v;
    v.model = "iris";
    v.framework = "onnx";
    v.artifact_sha256 = std::string(64, 'a');
    v.metadata = {{"labels", "setosa,versicolor,virginica"}};
    v.signature.inputs = {{"x", DataType::kFp32, {-1, 2}}};
    v.signature.outputs = {{"p", DataType::kFp32, {-1, 3}}};
    ASSERT_TRUE(registry_->create_version(v, {}).is_ok());
    v.model = "reg";
    v.metadata = {};
    v.signature.outputs = {{"y", DataType::kFp32, {-1, 1}}};
    ASSERT_TRUE(registry_->create_version(v, {}).is_ok());
    make_service(2);
  }
  void TearDown() override {
    if (service_) service_->stop();
  }

  void make_service(size_t max_entries) {
    QualityOptions o;
    o.log.max_entries = max_entries;
    o.evaluation.batch_size = 2;
    service_ = std::make_unique<QualityService>(
        *registry_,
        [this](const std::string& sha) -> Result<std::filesystem::path> {
          auto it = blobs_.find(sha);
          if (it == blobs_.end()) return not_found("no blob " + sha);
          return it->second;
        },
        clock_, &metrics_, o,
        [this](const std::string& model, int64_t version, std::vector<Tensor> in, RunDone done) {
          ++runs_;
          // class = x0 (as an index), one-hot.
          const int64_t n = in[0].shape()[0];
          std::vector<float> out(static_cast<size_t>(n) * 3, 0.0f);
          for (int64_t r = 0; r < n; ++r) out[r * 3 + static_cast<int64_t>(in[0].values<float>()[r * 2])] = 1.0f;
          done(std::vector<Tensor>{Tensor::from_values<float>("p", DataType::kFp32, {n, 3}, out)});
        },
        [this](const std::string& model, int64_t version) {
          released_.push_back(model + "/" + std::to_string(version));
        });
  }

  std::string add_blob(const std::string& text, char c) {
    const std::string sha(64, c);
    const auto path = dir_.path() / sha;
    std::ofstream(path) << text;
    blobs_[sha] = path;
    return sha;
  }

  json feedback_ok(const json& body) {
    auto r = service_->feedback(body.dump());
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? feedback_json(*r) : json();
  }

  Result<json> evaluate(const std::string& model, const std::string& ref, const json& body) {
    std::promise<Result<json>> p;
    service_->evaluate(model, ref, body.dump(), {"test", ""}, [&p](Result<json> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }

  testing::TempDir dir_;
  FakeClock clock_;
  metrics::MetricsRegistry metrics_;
  std::unique_ptr<registry::Registry> registry_;
  std::map<std::string, std::filesystem::path> blobs_;
  std::unique_ptr<QualityService> service_;
  int runs_ = 0;
  std::vector<std::string> released_;
};

TEST_F(QualityServiceTest, FeedbackJoinsByIdAndCountsEveryOutcome) {
  auto& log = service_->predictions();
  log.record("iris", "early", 1, classes({0}));
  log.record("iris", "a", 1, classes({1}));
  log.record("iris", "b", 1, classes({2, 0}));  // evicts "early" (max 2 entries)

  EXPECT_EQ(feedback_ok({{"model", "iris"}, {"id", "a"}, {"truth", "versicolor"}}),
            json::parse(R"({"joined":1,"unknown":0,"expired":0,"duplicate":0,"invalid":0})"));
  const json items = {
      {"model", "iris"},
      {"items",
       {{{"id", "b"}, {"truth", {2, "virginica"}}, {"reward", 0.5}},
        {{"id", "early"}, {"truth", 0}},
        {{"id", "never"}, {"truth", 0}},
        {{"id", "a"}, {"truth", 1}},                       // its truth came already
        {{"id", "a"}, {"reward", 1.0}},                    // its reward did not
        {{"id", "b"}, {"truth", 2}},                       // two rows need two truths
        {{"id", "a"}, {"model", "other"}, {"truth", 1}},   // ids are per model
        {{"id", "a"}}}}};
  const json got = feedback_ok(items);
  EXPECT_EQ(got["joined"], 2);
  EXPECT_EQ(got["expired"], 1);
  EXPECT_EQ(got["unknown"], 2);
  EXPECT_EQ(got["duplicate"], 1);
  EXPECT_EQ(got["invalid"], 2);
  ASSERT_EQ(got["errors"].size(), 2u);
  EXPECT_EQ(got["errors"][0], "items[5]: the request had 2 rows: 'truth' must be an array of 2 values");
  EXPECT_EQ(got["errors"][1], "items[7]: needs 'truth' or 'reward'");

  const QualityCounts c = service_->tracker().counts("iris", 1);
  EXPECT_EQ(c.n, 3u);        // a (1 row) + b (2 rows)
  EXPECT_EQ(c.correct, 2u);  // a: 1 == 1; b: 2 == 2, 0 != 2
  EXPECT_EQ(c.reward_n, 2u);
  EXPECT_DOUBLE_EQ(c.reward_sum, 1.5);

  auto q = service_->quality("iris", "1");
  ASSERT_TRUE(q.is_ok()) << q.status().to_string();
  EXPECT_EQ((*q)["task"], "classification");
  EXPECT_EQ((*q)["n"], 3);
  EXPECT_DOUBLE_EQ((*q)["accuracy"].get<double>(), 2.0 / 3.0);
  EXPECT_EQ((*q)["confusion"], json::parse("[[0,0,0],[0,1,0],[1,0,1]]"));
  EXPECT_EQ((*q)["per_class"][2]["label"], "virginica");
  EXPECT_DOUBLE_EQ((*q)["mean_reward"].get<double>(), 0.75);

  const std::string text = metrics_.render();
  EXPECT_NE(text.find("quiver_feedback_total{result=\"joined\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("quiver_feedback_total{result=\"expired\"} 1"), std::string::npos);
  EXPECT_NE(text.find("quiver_version_quality{metric=\"accuracy\",model=\"iris\",version=\"1\"}"), std::string::npos);
}

TEST_F(QualityServiceTest, MalformedBodiesAreErrors) {
  for (const char* body : {"not json", "[1]", R"({"items": 3})", R"({"model": 1, "items": []})",
                           R"({"model": "iris", "id": "x"})", R"({"model": "iris", "id": "x", "reward": "high"})"}) {
    auto r = service_->feedback(body);
    ASSERT_FALSE(r.is_ok()) << body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << body;
  }
  service_->predictions().record("iris", "x", 1, classes({0}));
  auto bad_label = service_->feedback(R"({"model": "iris", "id": "x", "truth": "rose"})");
  ASSERT_FALSE(bad_label.is_ok());
  EXPECT_NE(bad_label.status().message().find("not one of the version's labels"), std::string::npos);
  EXPECT_EQ(feedback_ok(json::parse(R"({"items": []})"))["joined"], 0);
}

TEST_F(QualityServiceTest, QualityOfAVersionWithoutFeedbackAndUnknownOnes) {
  auto q = service_->quality("iris", "1");
  ASSERT_TRUE(q.is_ok());
  EXPECT_EQ((*q)["task"], "classification");
  EXPECT_EQ((*q)["n"], 0);
  EXPECT_TRUE((*q)["accuracy"].is_null());
  EXPECT_EQ((*q)["confusion"].size(), 3u);
  EXPECT_EQ((*service_->quality("reg", "1"))["task"], "regression");
  EXPECT_EQ(service_->quality("iris", "9").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->quality("nope", "1").status().code(), StatusCode::kNotFound);
}

TEST_F(QualityServiceTest, EvaluationsRunOnTheWorkerAndAreStored) {
  const std::string sha = add_blob("a,b,species\n0,0,setosa\n1,0,1\n2,0,1\n", 'c');
  auto r = evaluate("iris", "1", {{"dataset", sha}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)["n"], 3);
  EXPECT_EQ((*r)["label"], "species");
  EXPECT_EQ((*r)["version"], 1);
  EXPECT_DOUBLE_EQ((*r)["metrics"]["accuracy"].get<double>(), 2.0 / 3.0);
  EXPECT_EQ((*r)["metrics"]["confusion"], json::parse("[[1,0,0],[0,1,1],[0,0,0]]"));
  EXPECT_EQ((*r)["batches"], 2);
  EXPECT_TRUE((*r)["id"].is_number());
  EXPECT_TRUE((*r)["created_at"].is_string());
  EXPECT_EQ(released_, (std::vector<std::string>{"iris/1"}));

  auto second = evaluate("iris", "1", {{"dataset", sha}, {"label", "species"}});
  ASSERT_TRUE(second.is_ok());
  auto list = service_->evaluations("iris", "1");
  ASSERT_TRUE(list.is_ok()) << list.status().to_string();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0]["id"], (*second)["id"]);  // newest first
  EXPECT_EQ((*list)[1], *r);
}

TEST_F(QualityServiceTest, EvaluationErrors) {
  const std::string good = add_blob("a,b,y\n0,0,0\n", 'c');
  const std::string bad = add_blob("a,b,y\n0,zz,0\n", 'd');
  auto code = [&](const std::string& model, const std::string& ref, const json& body) {
    auto r = evaluate(model, ref, body);
    return r.is_ok() ? StatusCode::kOk : r.status().code();
  };
  EXPECT_EQ(code("iris", "1", {{"dataset", std::string(64, 'e')}}), StatusCode::kNotFound);  // unknown blob
  EXPECT_EQ(code("iris", "7", {{"dataset", good}}), StatusCode::kNotFound);
  EXPECT_EQ(code("nope", "1", {{"dataset", good}}), StatusCode::kNotFound);
  EXPECT_EQ(code("iris", "1", {{"dataset", "abc"}}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("iris", "1", {{"dataset", good}, {"extra", 1}}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("iris", "1", json::object()), StatusCode::kInvalidArgument);
  auto r = evaluate("iris", "1", {{"dataset", bad}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("line 2, column 'b': 'zz' is not a number"), std::string::npos);
  auto label = evaluate("iris", "1", {{"dataset", good}, {"label", "nope"}});
  EXPECT_NE(label.status().message().find("label column 'nope' is not in the header"), std::string::npos);
  EXPECT_EQ(runs_, 0);
}

TEST_F(QualityServiceTest, StopAnswersEvaluationsThatWillNotRun) {
  service_->stop();
  const std::string sha = add_blob("a,b,y\n0,0,0\n", 'c');
  auto r = evaluate("iris", "1", {{"dataset", sha}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace quiver::quality

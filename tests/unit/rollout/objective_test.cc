#include "rollout/objective.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace quiver::rollout {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

VersionFacts facts(int64_t v, double accuracy, double p99_ms, double error_rate, int instances = 1,
                   double memory_mb = 100) {
  VersionFacts f;
  f.version = v;
  f.accuracy = accuracy;
  f.p99_ms = p99_ms;
  f.error_rate = error_rate;
  f.instances = instances;
  f.memory_mb = memory_mb;
  return f;
}

std::vector<int64_t> order(const std::vector<ScoreRow>& rows) {
  std::vector<int64_t> out;
  for (const auto& r : rows) out.push_back(r.version);
  return out;
}

TEST(ObjectiveTest, PicksTheBestWeightedScore) {
  ObjectiveConfig c;
  c.weights = {{"accuracy", 2}, {"latency_p99", 1}};
  // v1: most accurate but slowest; v2: fastest, least accurate; v3: in between.
  const std::vector<VersionFacts> vs = {facts(1, 0.90, 100, 0), facts(2, 0.80, 20, 0), facts(3, 0.88, 40, 0)};
  auto rows = score(vs, c);
  ASSERT_TRUE(rows.is_ok()) << rows.status().to_string();
  // v1: 2*1 + 1*0 = 2; v2: 2*0 + 1*1 = 1; v3: 2*0.8 + 1*0.75 = 2.35.
  EXPECT_THAT(order(*rows), ElementsAre(3, 1, 2));
  EXPECT_NEAR((*rows)[0].score, 2.35, 1e-12);
  EXPECT_NEAR((*rows)[0].normalised.at("accuracy"), 0.8, 1e-12);
  EXPECT_NEAR((*rows)[0].normalised.at("latency_p99"), 0.75, 1e-12);
  EXPECT_EQ(best_within_budget(*rows), 3);

  c.weights = {{"accuracy", 1}, {"latency_p99", 2}};  // latency matters more now
  rows = score(vs, c);
  ASSERT_TRUE(rows.is_ok());
  EXPECT_EQ(best_within_budget(*rows), 3);  // 0.8 + 1.5 = 2.3 beats v2's 2
  c.weights = {{"latency_p99", 1}};
  rows = score(vs, c);
  ASSERT_TRUE(rows.is_ok());
  EXPECT_EQ(best_within_budget(*rows), 2);
}

TEST(ObjectiveTest, OverBudgetIsListedButNeverBest) {
  ObjectiveConfig c;
  c.weights = {{"accuracy", 1}, {"error_rate", 1}};
  c.max_instances = 2;
  c.max_memory_mb = 1024;
  const std::vector<VersionFacts> vs = {facts(1, 0.99, 10, 0.00, 4, 512),   // best, too many instances
                                        facts(2, 0.95, 10, 0.01, 2, 2048),  // too much memory
                                        facts(3, 0.90, 10, 0.02, 2, 1024)};
  auto rows = score(vs, c);
  ASSERT_TRUE(rows.is_ok());
  EXPECT_THAT(order(*rows), ElementsAre(3, 1, 2));
  EXPECT_TRUE((*rows)[0].within_budget);
  EXPECT_FALSE((*rows)[1].within_budget);
  EXPECT_EQ((*rows)[1].excluded_reason, "instances 4 > max_instances 2");
  EXPECT_EQ((*rows)[2].excluded_reason, "memory_mb 2048 > max_memory_mb 1024");
  EXPECT_EQ(best_within_budget(*rows), 3);

  c.max_instances = 1;  // nothing fits
  rows = score(vs, c);
  ASSERT_TRUE(rows.is_ok());
  EXPECT_EQ(best_within_budget(*rows), std::nullopt);
}

TEST(ObjectiveTest, EqualValuesScoreOneAndMissingScoresZero) {
  ObjectiveConfig c;
  c.weights = {{"accuracy", 1}, {"f1", 1}, {"cost", 0.5}};
  VersionFacts a = facts(1, 0.9, 10, 0);
  a.f1 = 0.8;
  a.cost = 3;
  VersionFacts b = facts(2, 0.9, 10, 0);  // no f1, no cost measured
  auto rows = score({a, b}, c);
  ASSERT_TRUE(rows.is_ok());
  EXPECT_THAT(order(*rows), ElementsAre(1, 2));
  EXPECT_DOUBLE_EQ((*rows)[0].score, 2.5);
  EXPECT_TRUE((*rows)[0].missing.empty());
  EXPECT_DOUBLE_EQ((*rows)[1].score, 1.0);
  EXPECT_THAT((*rows)[1].missing, ElementsAre("cost", "f1"));
  EXPECT_EQ((*rows)[1].normalised.at("f1"), 0);
}

TEST(ObjectiveTest, TiesGoToTheLowerVersion) {
  ObjectiveConfig c;
  c.weights = {{"accuracy", 1}};
  auto rows = score({facts(5, 0.9, 1, 0), facts(4, 0.9, 1, 0)}, c);
  ASSERT_TRUE(rows.is_ok());
  EXPECT_THAT(order(*rows), ElementsAre(4, 5));
  EXPECT_TRUE(score({}, c)->empty());
}

TEST(ObjectiveTest, RejectsBadInput) {
  ObjectiveConfig c;
  EXPECT_THAT(score({facts(1, 0.9, 1, 0)}, c).status().message(), HasSubstr("objective.weights"));
  c.weights = {{"latency", 1}};
  EXPECT_THAT(score({}, c).status().message(), HasSubstr("objective.weights.latency: unknown metric"));
  c.weights = {{"accuracy", -1}};
  EXPECT_THAT(score({}, c).status().message(), HasSubstr("objective.weights.accuracy"));
  c.weights = {{"accuracy", 1}};
  auto dup = score({facts(1, 0.9, 1, 0), facts(1, 0.8, 1, 0)}, c);
  EXPECT_EQ(dup.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(dup.status().message(), HasSubstr("version 1 is listed twice"));
}

TEST(ObjectiveTest, JsonRoundTrip) {
  const auto j = nlohmann::json::parse(R"({
    "weights": {"accuracy": 2, "latency_p99": 1, "cost": 0.5},
    "budget": {"max_instances": 4, "max_memory_mb": 2048},
    "auto": "promote_best"})");
  auto c = objective_from_json(j);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->weights.at("accuracy"), 2);
  EXPECT_EQ(c->max_instances, 4);
  EXPECT_EQ(c->max_memory_mb, 2048);
  EXPECT_EQ(c->auto_action, ObjectiveConfig::Auto::kPromoteBest);
  EXPECT_EQ(objective_to_json(*c), j);

  auto minimal = objective_from_json(nlohmann::json::parse(R"({"weights": {"f1": 1}})"));
  ASSERT_TRUE(minimal.is_ok());
  EXPECT_EQ(minimal->auto_action, ObjectiveConfig::Auto::kReport);
  EXPECT_FALSE(minimal->max_instances.has_value());
  EXPECT_EQ(objective_to_json(*minimal), nlohmann::json::parse(R"({"weights": {"f1": 1}, "auto": "report"})"));
}

TEST(ObjectiveTest, JsonErrorsNameTheField) {
  auto err = [](const char* text) {
    return objective_from_json(nlohmann::json::parse(text)).status().message();
  };
  EXPECT_THAT(err("[]"), HasSubstr("objective: expected an object"));
  EXPECT_THAT(err("{}"), HasSubstr("objective.weights: missing"));
  EXPECT_THAT(err(R"({"weights": []})"), HasSubstr("objective.weights: expected an object"));
  EXPECT_THAT(err(R"({"weights": {}})"), HasSubstr("objective.weights: at least one"));
  EXPECT_THAT(err(R"({"weights": {"speed": 1}})"), HasSubstr("objective.weights.speed: unknown metric"));
  EXPECT_THAT(err(R"({"weights": {"f1": "high"}})"), HasSubstr("objective.weights.f1: expected a number"));
  EXPECT_THAT(err(R"({"weights": {"f1": 0}})"), HasSubstr("objective.weights.f1: weight must be a positive"));
  EXPECT_THAT(err(R"({"weights": {"f1": 1}, "budget": 3})"), HasSubstr("objective.budget: expected an object"));
  EXPECT_THAT(err(R"({"weights": {"f1": 1}, "budget": {"max_instances": 0}})"),
              HasSubstr("objective.budget.max_instances: expected a positive integer"));
  EXPECT_THAT(err(R"({"weights": {"f1": 1}, "budget": {"max_instances": 1.5}})"),
              HasSubstr("objective.budget.max_instances"));
  EXPECT_THAT(err(R"({"weights": {"f1": 1}, "budget": {"max_memory_mb": -1}})"),
              HasSubstr("objective.budget.max_memory_mb: expected a positive number"));
  EXPECT_THAT(err(R"({"weights": {"f1": 1}, "budget": {"max_gpus": 1}})"),
              HasSubstr("objective.budget.max_gpus: unknown field"));
  EXPECT_THAT(err(R"({"weights": {"f1": 1}, "auto": "promote"})"), HasSubstr("objective.auto: unknown value"));
  EXPECT_THAT(err(R"({"weights": {"f1": 1}, "auto": true})"), HasSubstr("objective.auto: expected"));
  EXPECT_THAT(err(R"({"weights": {"f1": 1}, "mode": "x"})"), HasSubstr("objective.mode: unknown field"));
}

TEST(ObjectiveTest, RowJson) {
  ScoreRow r;
  r.version = 3;
  r.score = 1.5;
  r.normalised = {{"accuracy", 0.5}};
  r.within_budget = false;
  r.excluded_reason = "instances 4 > max_instances 2";
  const auto j = score_row_to_json(r);
  EXPECT_EQ(j["version"], 3);
  EXPECT_EQ(j["normalised"]["accuracy"], 0.5);
  EXPECT_EQ(j["excluded_reason"], "instances 4 > max_instances 2");
  EXPECT_TRUE(j["missing"].is_array());
}

}  // namespace
}  // namespace quiver::rollout

#include "quality/prediction.h"

#include <gtest/gtest.h>

#include <vector>

namespace quiver::quality {
namespace {

Tensor fp32(std::string name, Shape shape, std::vector<float> v) {
  return Tensor::from_values<float>(std::move(name), DataType::kFp32, std::move(shape), v);
}

TEST(PredictionTest, ClassificationIsTheArgMaxOfEachRow) {
  std::vector<Tensor> out = {fp32("p", {3, 3}, {0.1f, 0.7f, 0.2f, 0.9f, 0.05f, 0.05f, 0.3f, 0.3f, 0.4f})};
  auto p = extract_prediction(TaskKind::kAuto, "", out);
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ(p->kind, TaskKind::kClassification);
  EXPECT_EQ(p->num_classes, 3);
  EXPECT_EQ(p->classes, (std::vector<int32_t>{1, 0, 2}));
  EXPECT_EQ(p->rows(), 3u);
}

TEST(PredictionTest, TiesGoToTheFirstMaximumAndNanNeverWins) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<Tensor> out = {fp32("p", {2, 3}, {0.5f, 0.5f, 0.1f, nan, 0.2f, 0.1f})};
  auto p = extract_prediction(TaskKind::kClassification, "", out);
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->classes, (std::vector<int32_t>{0, 1}));
}

TEST(PredictionTest, RegressionReadsOneValuePerRow) {
  std::vector<Tensor> flat = {fp32("v", {2}, {1.5f, -2.0f})};
  auto p = extract_prediction(TaskKind::kAuto, "", flat);
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->kind, TaskKind::kRegression);
  EXPECT_EQ(p->values, (std::vector<double>{1.5, -2.0}));

  std::vector<double> d = {0.25, 4.0, 8.0};
  std::vector<Tensor> column = {Tensor::from_values<double>("v", DataType::kFp64, {3, 1}, d)};
  auto q = extract_prediction(TaskKind::kRegression, "", column);
  ASSERT_TRUE(q.is_ok());
  EXPECT_EQ(q->values, d);
}

TEST(PredictionTest, NamedOutputIsSelected) {
  std::vector<Tensor> out = {fp32("logits", {1, 2}, {0, 1}), fp32("value", {1}, {3.0f})};
  auto p = extract_prediction(TaskKind::kAuto, "value", out);
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->kind, TaskKind::kRegression);
  auto missing = extract_prediction(TaskKind::kAuto, "nope", out);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope"), std::string::npos);
}

TEST(PredictionTest, IntegerClassIndicesUnderAnExplicitClassificationTask) {
  std::vector<int64_t> v = {2, 0, 1};
  std::vector<Tensor> out = {Tensor::from_values<int64_t>("cls", DataType::kInt64, {3}, v)};
  auto p = extract_prediction(TaskKind::kClassification, "", out);
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ(p->classes, (std::vector<int32_t>{2, 0, 1}));
  EXPECT_EQ(p->num_classes, 0);
  // Auto reads the same output as a regression.
  EXPECT_EQ(extract_prediction(TaskKind::kAuto, "", out)->kind, TaskKind::kRegression);
  // Float scores of one column cannot be class indices.
  std::vector<Tensor> floats = {fp32("p", {2}, {0.2f, 0.9f})};
  EXPECT_FALSE(extract_prediction(TaskKind::kClassification, "", floats).is_ok());
}

TEST(PredictionTest, OtherDtypesAndHalfPrecision) {
  // FP16 bits: 1.0 = 0x3C00, 2.0 = 0x4000, -1.0 = 0xBC00.
  std::vector<uint16_t> h = {0x3C00, 0x4000, 0xBC00, 0x3C00};
  std::vector<Tensor> out = {Tensor::from_values<uint16_t>("p", DataType::kFp16, {2, 2}, h)};
  auto p = extract_prediction(TaskKind::kAuto, "", out);
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->classes, (std::vector<int32_t>{1, 1}));
  std::vector<int32_t> i = {5, 9, 7, 1};
  std::vector<Tensor> ints = {Tensor::from_values<int32_t>("p", DataType::kInt32, {2, 2}, i)};
  EXPECT_EQ(extract_prediction(TaskKind::kAuto, "", ints)->classes, (std::vector<int32_t>{1, 0}));
}

TEST(PredictionTest, ShapesThatFitNoTaskAreErrors) {
  std::vector<Tensor> cube = {fp32("p", {1, 2, 2}, {0, 1, 2, 3})};
  auto p = extract_prediction(TaskKind::kAuto, "", cube);
  ASSERT_FALSE(p.is_ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  std::vector<Tensor> matrix = {fp32("p", {1, 3}, {0, 1, 2})};
  EXPECT_FALSE(extract_prediction(TaskKind::kRegression, "", matrix).is_ok());
  std::vector<std::string> s = {"a"};
  std::vector<Tensor> bytes = {Tensor("p", DataType::kBytes, {1}, encode_bytes_elements(s))};
  EXPECT_FALSE(extract_prediction(TaskKind::kAuto, "", bytes).is_ok());
  EXPECT_FALSE(extract_prediction(TaskKind::kAuto, "", {}).is_ok());
}

Truth number(double v) { return Truth{true, v, std::to_string(v)}; }
Truth text(std::string s) { return Truth{false, 0, std::move(s)}; }

TEST(TruthTest, ClassIndicesAndLabels) {
  const std::vector<std::string> labels = {"setosa", "versicolor", "virginica"};
  EXPECT_EQ(*truth_class(number(2), labels, 3), 2);
  EXPECT_EQ(*truth_class(text("versicolor"), labels, 3), 1);
  auto unknown = truth_class(text("rose"), labels, 3);
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_NE(unknown.status().message().find("setosa, versicolor, virginica"), std::string::npos);
  EXPECT_FALSE(truth_class(text("setosa"), {}, 3).is_ok());   // no labels declared
  EXPECT_FALSE(truth_class(number(1.5), labels, 3).is_ok());  // not an index
  EXPECT_FALSE(truth_class(number(-1), labels, 3).is_ok());
  EXPECT_FALSE(truth_class(number(3), labels, 3).is_ok());    // beyond the model's classes
  EXPECT_EQ(*truth_class(number(7), {}, 0), 7);               // class count unknown
  EXPECT_FALSE(truth_class(number(1e9), {}, 0).is_ok());
  EXPECT_EQ(*truth_value(number(2.5)), 2.5);
  EXPECT_FALSE(truth_value(text("x")).is_ok());
}

}  // namespace
}  // namespace quiver::quality

#include "core/signature.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace quiver {
namespace {

Tensor fp32(std::string name, Shape shape) {
  const auto n = element_count(shape).value_or(0);
  return Tensor(std::move(name), DataType::kFp32, std::move(shape), std::vector<std::byte>(static_cast<size_t>(n) * 4));
}

Tensor int64(std::string name, Shape shape) {
  const auto n = element_count(shape).value_or(0);
  return Tensor(std::move(name), DataType::kInt64, std::move(shape), std::vector<std::byte>(static_cast<size_t>(n) * 8));
}

ModelSignature two_inputs() {
  ModelSignature sig;
  sig.inputs = {{"image", DataType::kFp32, {-1, 3}}, {"mask", DataType::kInt64, {-1}}};
  sig.outputs = {{"score", DataType::kFp32, {-1, 1}}};
  return sig;
}

TEST(ShapeMatches, VariableDimsMatchAnySizeButRankMustAgree) {
  EXPECT_TRUE(shape_matches({-1, 3}, {7, 3}));
  EXPECT_TRUE(shape_matches({-1, 3}, {0, 3}));
  EXPECT_FALSE(shape_matches({-1, 3}, {7, 4}));
  EXPECT_FALSE(shape_matches({-1, 3}, {7, 3, 1}));
  EXPECT_TRUE(shape_matches({}, {}));
}

TEST(CheckInputs, AcceptsInputsInAnyOrder) {
  EXPECT_TRUE(check_inputs(two_inputs(), {int64("mask", {2}), fp32("image", {2, 3})}).is_ok());
  EXPECT_TRUE(check_inputs(two_inputs(), {fp32("image", {5, 3}), int64("mask", {5})}).is_ok());
}

TEST(CheckInputs, WrongDatatype) {
  Status st = check_inputs(two_inputs(), {fp32("image", {2, 3}), fp32("mask", {2})});
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "input 'mask' has datatype FP32 but the model expects INT64");
}

TEST(CheckInputs, WrongShape) {
  Status st = check_inputs(two_inputs(), {fp32("image", {2, 4}), int64("mask", {2})});
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "input 'image' has shape [2, 4] but the model expects [-1, 3] (-1 is any size)");
}

TEST(CheckInputs, MissingInput) {
  Status st = check_inputs(two_inputs(), {fp32("image", {2, 3})});
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "missing input 'mask'");
}

TEST(CheckInputs, UnexpectedInputNamesWhatTheModelTakes) {
  Status st = check_inputs(two_inputs(), {fp32("image", {2, 3}), int64("mask", {2}), fp32("extra", {1})});
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "unexpected input 'extra'; the model takes 'image', 'mask'");
}

TEST(CheckInputs, DuplicateInput) {
  Status st = check_inputs(two_inputs(), {fp32("image", {2, 3}), fp32("image", {2, 3}), int64("mask", {2})});
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "input 'image' is given twice");
}

TEST(CheckInputs, BytesThatDisagreeWithShapeFailBeforeSignatureChecks) {
  Tensor bad("image", DataType::kFp32, {2, 3}, std::vector<std::byte>(8));
  Status st = check_inputs(two_inputs(), {bad, int64("mask", {2})});
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("has 8 bytes but shape [2, 3]"), std::string::npos) << st.message();
}

TEST(CheckInputs, EmptySignatureAcceptsAnythingValid) {
  ModelSignature none;
  EXPECT_TRUE(check_inputs(none, {fp32("whatever", {1, 2})}).is_ok());
  EXPECT_TRUE(check_inputs(none, {}).is_ok());
  Tensor bad("whatever", DataType::kFp32, {2}, std::vector<std::byte>(3));
  EXPECT_EQ(check_inputs(none, {bad}).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quiver

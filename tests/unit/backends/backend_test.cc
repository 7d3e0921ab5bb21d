#include "backends/backend.h"

#include <gtest/gtest.h>

#include "example_models.h"

namespace quiver::backends {
namespace {

using quiver::testing::example_models;
using quiver::testing::make_batch;

TEST(BackendTest, KnownFrameworksAndTheirPlatforms) {
  EXPECT_TRUE(is_known_framework("torchscript"));
  EXPECT_TRUE(is_known_framework("onnx"));
  EXPECT_FALSE(is_known_framework("tensorflow"));
  EXPECT_FALSE(is_known_framework("ONNX"));
  EXPECT_EQ(platform_name("torchscript"), "pytorch_torchscript");
  EXPECT_EQ(platform_name("onnx"), "onnx_opencv_dnn");
}

TEST(BackendTest, UnknownFrameworkIsInvalidArgument) {
  auto backend = load_backend({"tensorflow", "/does/not/matter", {}, 1});
  ASSERT_FALSE(backend.is_ok());
  EXPECT_EQ(backend.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(backend.status().message().find("tensorflow"), std::string::npos);
}

TEST(BackendTest, DispatchesOnFrameworkAndBothRunTheSameModel) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  const ModelSignature declared{{{"features", DataType::kFp32, {-1, 8}}}, {{"value", DataType::kFp32, {-1, 1}}}};
  auto ts = load_backend({"torchscript", example_models().path("regressor_v1.pt"), declared, 1});
  auto onnx = load_backend({"onnx", example_models().path("regressor_v1.onnx"), declared, 1});
  ASSERT_TRUE(ts.is_ok()) << ts.status().to_string();
  ASSERT_TRUE(onnx.is_ok()) << onnx.status().to_string();
  Tensor x = make_batch("features", 4, 8);
  auto a = (*ts)->infer({x});
  auto b = (*onnx)->infer({x});
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  ASSERT_EQ((*a)[0].shape(), (Shape{4, 1}));
  ASSERT_EQ((*b)[0].shape(), (Shape{4, 1}));
  for (int i = 0; i < 4; ++i) EXPECT_NEAR((*a)[0].values<float>()[i], (*b)[0].values<float>()[i], 1e-5f);
}

TEST(BackendTest, WrongFrameworkForTheFileIsDataLoss) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  auto onnx_as_ts = load_backend({"torchscript", example_models().path("iris_v1.onnx"), {}, 1});
  EXPECT_EQ(onnx_as_ts.status().code(), StatusCode::kDataLoss) << onnx_as_ts.status().to_string();
  auto ts_as_onnx = load_backend({"onnx", example_models().path("iris_v1.pt"), {}, 1});
  EXPECT_EQ(ts_as_onnx.status().code(), StatusCode::kDataLoss) << ts_as_onnx.status().to_string();
}

}  // namespace
}  // namespace quiver::backends

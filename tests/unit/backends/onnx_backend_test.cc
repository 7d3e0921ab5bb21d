#include "backends/onnx/onnx_backend.h"

#include <gtest/gtest.h>

#include <fstream>

#include "backends/torchscript/torchscript_backend.h"
#include "example_models.h"

namespace quiver::backends {
namespace {

using quiver::testing::example_models;
using quiver::testing::make_batch;
using quiver::testing::reference_tensor;

Result<std::unique_ptr<Backend>> load(const std::filesystem::path& path, ModelSignature declared = {}) {
  LoadRequest request;
  request.framework = "onnx";
  request.artifact_path = path;
  request.declared = std::move(declared);
  return load_onnx(request);
}

void expect_near(const Tensor& actual, const Tensor& expected, float tolerance = 1e-5f) {
  ASSERT_EQ(actual.dtype(), DataType::kFp32);
  ASSERT_EQ(actual.shape(), expected.shape());
  auto a = actual.values<float>();
  auto e = expected.values<float>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], e[i], tolerance) << "element " << i;
}

TEST(OnnxBackendTest, SignatureComesFromTheModelFile) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  auto backend = load(example_models().path("iris_v1.onnx"));
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  const ModelSignature expected{{{"input", DataType::kFp32, {-1, 4}}},
                                {{"probabilities", DataType::kFp32, {-1, 3}}}};
  EXPECT_EQ((*backend)->signature(), expected);

  auto regressor = load(example_models().path("regressor_v2.onnx"));
  ASSERT_TRUE(regressor.is_ok()) << regressor.status().to_string();
  EXPECT_EQ((*regressor)->signature(),
            (ModelSignature{{{"features", DataType::kFp32, {-1, 8}}}, {{"value", DataType::kFp32, {-1, 1}}}}));
}

TEST(OnnxBackendTest, MatchesPyTorchOnEveryExampleModel) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  for (const auto& [key, ref] : example_models().reference.items()) {
    SCOPED_TRACE(key);
    auto backend = load(example_models().path(key + ".onnx"));
    ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
    Tensor expected = reference_tensor(ref["outputs"][0]);
    auto outputs = (*backend)->infer({reference_tensor(ref["inputs"][0])});
    ASSERT_TRUE(outputs.is_ok()) << outputs.status().to_string();
    ASSERT_EQ(outputs->size(), 1u);
    EXPECT_EQ((*outputs)[0].name(), expected.name());
    expect_near((*outputs)[0], expected);
  }
}

TEST(OnnxBackendTest, BatchSizeMayChangeBetweenCallsAndAgreesWithTorchScript) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  auto onnx = load(example_models().path("iris_v2.onnx"));
  ASSERT_TRUE(onnx.is_ok()) << onnx.status().to_string();
  LoadRequest ts_request{"torchscript", example_models().path("iris_v2.pt"), (*onnx)->signature(), 1};
  auto torchscript = load_torchscript(ts_request);
  ASSERT_TRUE(torchscript.is_ok()) << torchscript.status().to_string();
  for (int64_t rows : {1, 7, 3}) {
    SCOPED_TRACE(rows);
    Tensor x = make_batch("input", rows, 4, 0.25f * static_cast<float>(rows));
    auto got = (*onnx)->infer({x});
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    ASSERT_EQ((*got)[0].shape(), (Shape{rows, 3}));
    auto want = (*torchscript)->infer({x});
    ASSERT_TRUE(want.is_ok()) << want.status().to_string();
    expect_near((*got)[0], (*want)[0]);
  }
}

TEST(OnnxBackendTest, CompatibleDeclarationLoadsConflictingOneIsInvalidArgument) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  const auto path = example_models().path("iris_v1.onnx");
  EXPECT_TRUE(load(path, {{{"input", DataType::kFp32, {-1, 4}}}, {}}).is_ok());
  auto wrong_dtype = load(path, {{{"input", DataType::kFp64, {-1, 4}}}, {}});
  EXPECT_EQ(wrong_dtype.status().code(), StatusCode::kInvalidArgument) << wrong_dtype.status().to_string();
  auto wrong_rank = load(path, {{{"input", DataType::kFp32, {-1, 2, 2}}}, {}});
  EXPECT_EQ(wrong_rank.status().code(), StatusCode::kInvalidArgument) << wrong_rank.status().to_string();
}

TEST(OnnxBackendTest, TorchScriptFileCorruptBytesAreDataLossAndMissingFileIsNotFound) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  const auto corrupt = std::filesystem::temp_directory_path() /
                       ("quiver-corrupt-" + std::to_string(::getpid()) + ".onnx");
  {
    std::string bytes = quiver::testing::read_text(example_models().path("wide_v1.onnx"));
    bytes.resize(bytes.size() - 1000);
    std::ofstream(corrupt, std::ios::binary) << bytes;
  }
  for (const auto& path : {example_models().path("iris_v1.pt"), corrupt}) {
    auto backend = load(path);
    ASSERT_FALSE(backend.is_ok()) << path;
    EXPECT_EQ(backend.status().code(), StatusCode::kDataLoss);
    EXPECT_TRUE(backend.status().message().starts_with("artifact is not a valid ONNX model: "))
        << backend.status().message();
  }
  std::filesystem::remove(corrupt);
  EXPECT_EQ(load("/nonexistent/model.onnx").status().code(), StatusCode::kNotFound);
}

TEST(OnnxBackendTest, WrongShapeInsideTheNetworkIsInternalAndTheInstanceRecovers) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  auto backend = load(example_models().path("iris_v1.onnx"));
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  // Bypasses check_inputs on purpose: width 5 does not fit the first Gemm.
  auto out = (*backend)->infer({make_batch("input", 2, 5)});
  ASSERT_FALSE(out.is_ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInternal);
  EXPECT_TRUE(out.status().message().starts_with("model raised: ")) << out.status().message();
  auto good = (*backend)->infer({make_batch("input", 2, 4)});
  EXPECT_TRUE(good.is_ok()) << good.status().to_string();
}

TEST(OnnxBackendTest, NonFloatOrMissingInputIsInvalidArgument) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  auto backend = load(example_models().path("iris_v1.onnx"));
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  const std::vector<double> values(8, 1.0);
  auto out = (*backend)->infer({Tensor::from_values<double>("input", DataType::kFp64, {2, 4}, values)});
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("FP32 inputs only"), std::string::npos) << out.status().message();
  EXPECT_EQ((*backend)->infer({make_batch("other", 2, 4)}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quiver::backends

#include "backends/torchscript/torchscript_backend.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>

#include "backends/backend.h"
#include "example_models.h"

namespace quiver::backends {
namespace {

using quiver::testing::example_models;
using quiver::testing::make_batch;
using quiver::testing::reference_tensor;

// Small TorchScript models that exercise the ways forward() may take and return
// tensors. torch.jit.script reads a module's source from its file, so the source is
// written to a file and run.
constexpr const char* kShapeModelsSource = R"PY(
import sys
from typing import Dict, List, Tuple
import torch

class TwoInputs(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a * 10 + b

class TupleOut(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return x + 1, x.sum(dim=1).to(torch.int64)

class ListOut(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        return [x, x * 3]

class DictOut(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"doubled": x * 2, "positive": x > 0}

class IntOut(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> int:
        return 3

class Identity(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

class InPlace(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x.mul_(2)
        return x

class ThisNamed(torch.nn.Module):
    def forward(this, x: torch.Tensor) -> torch.Tensor:
        return x * 2

class Raises(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(x.sum() > 100):
            raise ValueError("input too large")
        return x

out = sys.argv[1]
for cls in (TwoInputs, TupleOut, ListOut, DictOut, IntOut, Identity, InPlace, ThisNamed, Raises):
    torch.jit.script(cls()).save(out + "/" + cls.__name__ + ".pt")
)PY";

struct ShapeModels {
  bool available = false;
  std::filesystem::path dir;
};

const ShapeModels& shape_models() {
  static const ShapeModels models = [] {
    ShapeModels m;
    const std::string source = kShapeModelsSource;
    const std::string stamp = std::to_string(std::hash<std::string>{}(source));
    // The script itself goes to a file named by its content, so that concurrent
    // processes write identical bytes.
    const auto root = quiver::testing::test_models_root();
    std::filesystem::create_directories(root);
    const auto script = root / ("torchscript_shape_models_" + stamp + ".py");
    if (quiver::testing::read_text(script) != source) {
      const auto partial = script.string() + "." + std::to_string(::getpid());
      std::ofstream(partial) << source;
      std::filesystem::rename(partial, script);
    }
    std::string error;
    auto dir = quiver::testing::build_once("torchscript-shapes", script, stamp, error);
    if (!dir && quiver::testing::python_has_torch()) ADD_FAILURE() << error;
    m.available = dir.has_value();
    if (dir) m.dir = *dir;
    return m;
  }();
  return models;
}

Result<std::unique_ptr<Backend>> load(const std::filesystem::path& path, ModelSignature declared = {}) {
  LoadRequest request;
  request.framework = "torchscript";
  request.artifact_path = path;
  request.declared = std::move(declared);
  return load_torchscript(request);
}

ModelSignature iris_signature() {
  return {{{"input", DataType::kFp32, {-1, 4}}}, {{"probabilities", DataType::kFp32, {-1, 3}}}};
}

void expect_near(const Tensor& actual, const Tensor& expected, float tolerance = 1e-5f) {
  ASSERT_EQ(actual.dtype(), DataType::kFp32);
  ASSERT_EQ(actual.shape(), expected.shape());
  auto a = actual.values<float>();
  auto e = expected.values<float>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], e[i], tolerance) << "element " << i;
}

TEST(TorchScriptBackendTest, MatchesPyTorchOnEveryExampleModel) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  const auto& models = example_models();
  for (const auto& [key, ref] : models.reference.items()) {
    SCOPED_TRACE(key);
    Tensor input = reference_tensor(ref["inputs"][0]);
    Tensor expected = reference_tensor(ref["outputs"][0]);
    ModelSignature declared{{{input.name(), DataType::kFp32, {-1, input.shape()[1]}}},
                            {{expected.name(), DataType::kFp32, {-1, expected.shape()[1]}}}};
    auto backend = load(models.path(key + ".pt"), declared);
    ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
    EXPECT_EQ((*backend)->signature(), declared);
    auto outputs = (*backend)->infer({input});
    ASSERT_TRUE(outputs.is_ok()) << outputs.status().to_string();
    ASSERT_EQ(outputs->size(), 1u);
    EXPECT_EQ((*outputs)[0].name(), expected.name());
    expect_near((*outputs)[0], expected);
  }
}

// The first parameter of forward() is the module, whatever the source named it.
TEST(TorchScriptBackendTest, ForwardsFirstParameterIsTheModuleWhateverItsName) {
  if (!shape_models().available) GTEST_SKIP() << "python3 with torch is not available";
  ModelSignature declared{{{"x", DataType::kFp32, {-1, 2}}}, {{"y", DataType::kFp32, {-1, 2}}}};
  auto backend = load(shape_models().dir / "ThisNamed.pt", declared);
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  const std::vector<float> x = {1.5f, -2.0f};
  auto out = (*backend)->infer({Tensor::from_values<float>("x", DataType::kFp32, {1, 2}, x)});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].values<float>()[0], 3.0f);
  // Declaring two inputs for a one-tensor forward() is still refused, counting right.
  declared.inputs.push_back({"z", DataType::kFp32, {-1, 2}});
  auto refused = load(shape_models().dir / "ThisNamed.pt", declared);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NE(refused.status().message().find("forward() takes 1 tensors"), std::string::npos)
      << refused.status().message();
}

TEST(TorchScriptBackendTest, VersionsHaveDifferentWeights) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  auto v1 = load(example_models().path("iris_v1.pt"), iris_signature());
  auto v2 = load(example_models().path("iris_v2.pt"), iris_signature());
  ASSERT_TRUE(v1.is_ok() && v2.is_ok());
  Tensor x = make_batch("input", 2, 4);
  auto y1 = (*v1)->infer({x});
  auto y2 = (*v2)->infer({x});
  ASSERT_TRUE(y1.is_ok() && y2.is_ok());
  EXPECT_NE((*y1)[0].values<float>()[0], (*y2)[0].values<float>()[0]);
}

TEST(TorchScriptBackendTest, BatchSizeMayChangeBetweenCallsAndRowsAreIndependent) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  auto backend = load(example_models().path("iris_v1.pt"), iris_signature());
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  Tensor seven = make_batch("input", 7, 4);
  auto all = (*backend)->infer({seven});
  ASSERT_TRUE(all.is_ok()) << all.status().to_string();
  for (int64_t rows : {1, 7, 3}) {
    auto out = (*backend)->infer({make_batch("input", rows, 4)});
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    ASSERT_EQ((*out)[0].shape(), (Shape{rows, 3}));
    // make_batch is a prefix of the same sequence, so row r must equal row r of `all`.
    for (int64_t i = 0; i < rows * 3; ++i) {
      EXPECT_NEAR((*out)[0].values<float>()[i], (*all)[0].values<float>()[i], 1e-6f);
    }
  }
}

TEST(TorchScriptBackendTest, UndeclaredOutputsAreNumbered) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  auto backend = load(example_models().path("iris_v1.pt"));
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  EXPECT_TRUE((*backend)->signature().empty());
  auto out = (*backend)->infer({make_batch("whatever", 2, 4)});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].name(), "output__0");
}

TEST(TorchScriptBackendTest, ShapeErrorInsideForwardIsInternalWithTheCause) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  auto backend = load(example_models().path("iris_v1.pt"), iris_signature());
  ASSERT_TRUE(backend.is_ok());
  // Bypasses check_inputs on purpose: width 5 does not fit the first layer.
  auto out = (*backend)->infer({make_batch("input", 2, 5)});
  ASSERT_FALSE(out.is_ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInternal);
  EXPECT_TRUE(out.status().message().starts_with("model raised: RuntimeError: mat1 and mat2"))
      << out.status().message();
  // The instance stays usable.
  EXPECT_TRUE((*backend)->infer({make_batch("input", 2, 4)}).is_ok());
}

TEST(TorchScriptBackendTest, OnnxFileAndCorruptBytesAreDataLossAndMissingFileIsNotFound) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  const auto corrupt =
      std::filesystem::temp_directory_path() / ("quiver-corrupt-" + std::to_string(::getpid()) + ".pt");
  {
    std::string bytes = quiver::testing::read_text(example_models().path("iris_v1.pt"));
    bytes.resize(bytes.size() / 2);
    std::ofstream(corrupt, std::ios::binary) << bytes;
  }
  for (const auto& path : {example_models().path("iris_v1.onnx"), corrupt}) {
    auto backend = load(path, iris_signature());
    ASSERT_FALSE(backend.is_ok()) << path;
    EXPECT_EQ(backend.status().code(), StatusCode::kDataLoss);
    EXPECT_TRUE(backend.status().message().starts_with("artifact is not a loadable TorchScript module: "))
        << backend.status().message();
    EXPECT_EQ(backend.status().message().find('\n'), std::string::npos) << backend.status().message();
  }
  std::filesystem::remove(corrupt);
  EXPECT_EQ(load("/nonexistent/model.pt").status().code(), StatusCode::kNotFound);
}

TEST(TorchScriptBackendTest, DeclaredInputsMustFitForward) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  ModelSignature two_inputs = iris_signature();
  two_inputs.inputs.push_back({"extra", DataType::kFp32, {-1, 4}});
  auto backend = load(example_models().path("iris_v1.pt"), two_inputs);
  EXPECT_EQ(backend.status().code(), StatusCode::kInvalidArgument) << backend.status().to_string();

  ModelSignature unsigned_input{{{"input", DataType::kUint32, {-1, 4}}}, {}};
  backend = load(example_models().path("iris_v1.pt"), unsigned_input);
  EXPECT_EQ(backend.status().code(), StatusCode::kInvalidArgument) << backend.status().to_string();
}

TEST(TorchScriptBackendTest, InputsGoToForwardInDeclaredOrder) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  if (!shape_models().available) GTEST_SKIP() << "TorchScript test models unavailable";
  ModelSignature declared{{{"a", DataType::kFp32, {-1}}, {"b", DataType::kFp32, {-1}}},
                          {{"sum", DataType::kFp32, {-1}}}};
  auto backend = load(shape_models().dir / "TwoInputs.pt", declared);
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  const std::vector<float> a = {1, 2};
  const std::vector<float> b = {3, 4};
  // Given in the other order: matched by name, passed as forward(a, b).
  auto out = (*backend)->infer({Tensor::from_values<float>("b", DataType::kFp32, {2}, b),
                                Tensor::from_values<float>("a", DataType::kFp32, {2}, a)});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].name(), "sum");
  EXPECT_EQ(std::vector<float>((*out)[0].values<float>().begin(), (*out)[0].values<float>().end()),
            (std::vector<float>{13, 24}));
}

TEST(TorchScriptBackendTest, TupleListAndDictOutputsAreNamed) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  if (!shape_models().available) GTEST_SKIP() << "TorchScript test models unavailable";
  const std::vector<float> x = {1, -2, 3, -4};
  Tensor input = Tensor::from_values<float>("x", DataType::kFp32, {2, 2}, x);

  auto tuple = load(shape_models().dir / "TupleOut.pt");
  ASSERT_TRUE(tuple.is_ok()) << tuple.status().to_string();
  auto out = (*tuple)->infer({input});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].name(), "output__0");
  EXPECT_EQ((*out)[1].name(), "output__1");
  EXPECT_EQ((*out)[1].dtype(), DataType::kInt64);  // the model's dtype is returned
  EXPECT_EQ((*out)[1].values<int64_t>()[0], -1);
  EXPECT_EQ((*out)[1].values<int64_t>()[1], -1);

  // Declared names apply in order; a declared dtype does not cast the result.
  ModelSignature declared{{}, {{"shifted", DataType::kFp32, {-1, 2}}, {"row_sum", DataType::kFp32, {-1}}}};
  tuple = load(shape_models().dir / "TupleOut.pt", declared);
  out = (*tuple)->infer({input});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].name(), "shifted");
  EXPECT_EQ((*out)[1].name(), "row_sum");
  EXPECT_EQ((*out)[1].dtype(), DataType::kInt64);

  auto list = load(shape_models().dir / "ListOut.pt");
  out = (*list)->infer({input});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[1].values<float>()[2], 9.0f);

  auto dict = load(shape_models().dir / "DictOut.pt");
  out = (*dict)->infer({input});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].name(), "doubled");
  EXPECT_EQ((*out)[1].name(), "positive");
  EXPECT_EQ((*out)[1].dtype(), DataType::kBool);
  EXPECT_EQ((*out)[1].bytes()[0], std::byte{1});
  EXPECT_EQ((*out)[1].bytes()[1], std::byte{0});

  // Declared outputs pick dict entries by key, in the declared order.
  dict = load(shape_models().dir / "DictOut.pt", {{}, {{"positive", DataType::kBool, {-1, 2}}}});
  out = (*dict)->infer({input});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].name(), "positive");
  dict = load(shape_models().dir / "DictOut.pt", {{}, {{"missing", DataType::kBool, {-1, 2}}}});
  EXPECT_EQ((*dict)->infer({input}).status().code(), StatusCode::kInternal);
}

TEST(TorchScriptBackendTest, NonTensorResultAndRaisedExceptionAreInternal) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  if (!shape_models().available) GTEST_SKIP() << "TorchScript test models unavailable";
  Tensor input = make_batch("x", 1, 2);
  auto int_out = load(shape_models().dir / "IntOut.pt");
  ASSERT_TRUE(int_out.is_ok()) << int_out.status().to_string();
  EXPECT_EQ((*int_out)->infer({input}).status().code(), StatusCode::kInternal);

  auto raises = load(shape_models().dir / "Raises.pt");
  ASSERT_TRUE(raises.is_ok()) << raises.status().to_string();
  const std::vector<float> big = {100, 100};
  auto out = (*raises)->infer({Tensor::from_values<float>("x", DataType::kFp32, {2}, big)});
  EXPECT_EQ(out.status().code(), StatusCode::kInternal);
  EXPECT_EQ(out.status().message(), "model raised: builtins.ValueError: input too large");
}

template <typename T>
void expect_round_trip(Backend& backend, DataType dtype, std::vector<T> values) {
  SCOPED_TRACE(std::string(datatype_name(dtype)));
  auto out = backend.infer({Tensor::from_values<T>("x", dtype, {2, 2}, values)});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].dtype(), dtype);
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 2}));
  auto got = (*out)[0].template values<T>();
  EXPECT_EQ(std::vector<T>(got.begin(), got.end()), values);
}

TEST(TorchScriptBackendTest, EveryTorchDtypeRoundTrips) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  if (!shape_models().available) GTEST_SKIP() << "TorchScript test models unavailable";
  auto backend = load(shape_models().dir / "Identity.pt");
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  Backend& b = **backend;
  expect_round_trip<float>(b, DataType::kFp32, {1.5f, -2, 3, 4});
  expect_round_trip<double>(b, DataType::kFp64, {1.5, -2, 3, 1e300});
  expect_round_trip<uint16_t>(b, DataType::kFp16, {0x3c00, 0xc000, 0x0000, 0x7bff});  // 1, -2, 0, 65504
  expect_round_trip<int8_t>(b, DataType::kInt8, {-128, 0, 1, 127});
  expect_round_trip<uint8_t>(b, DataType::kUint8, {0, 1, 200, 255});
  expect_round_trip<int16_t>(b, DataType::kInt16, {-32768, 0, 1, 32767});
  expect_round_trip<int32_t>(b, DataType::kInt32, {-5, 0, 1, 1 << 30});
  expect_round_trip<int64_t>(b, DataType::kInt64, {-5, 0, 1, int64_t{1} << 40});
  expect_round_trip<uint8_t>(b, DataType::kBool, {0, 1, 1, 0});

  const std::vector<uint32_t> u32 = {1, 2, 3, 4};
  auto out = b.infer({Tensor::from_values<uint32_t>("x", DataType::kUint32, {2, 2}, u32)});
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
}

TEST(TorchScriptBackendTest, InPlaceModelDoesNotModifyTheRequestBytes) {
  QUIVER_REQUIRE_EXAMPLE_MODELS();
  if (!shape_models().available) GTEST_SKIP() << "TorchScript test models unavailable";
  auto backend = load(shape_models().dir / "InPlace.pt");
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  const std::vector<float> values = {1, 2, 3};
  Tensor input = Tensor::from_values<float>("x", DataType::kFp32, {3}, values);
  auto out = (*backend)->infer({input});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].values<float>()[2], 6.0f);
  EXPECT_EQ(input.values<float>()[2], 3.0f);
}

}  // namespace
}  // namespace quiver::backends

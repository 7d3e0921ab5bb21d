// The ONNX signature reader, on ModelProto bytes built here field by field (so these
// tests need no Python and pin the exact wire layout onnx.proto defines).
#include "backends/onnx/onnx_signature.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace quiver::backends::onnx {
namespace {

std::string varint(uint64_t v) {
  std::string out;
  do {
    uint8_t byte = v & 0x7f;
    v >>= 7;
    if (v) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (v);
  return out;
}
std::string varint_field(uint32_t number, uint64_t v) { return varint(uint64_t{number} << 3) + varint(v); }
std::string bytes_field(uint32_t number, const std::string& payload) {
  return varint((uint64_t{number} << 3) | 2) + varint(payload.size()) + payload;
}

// A Dimension: a number, or a symbolic name when `param` is set.
struct Dim {
  int64_t value = 0;
  std::optional<std::string> param;
};

std::string value_info(const std::string& name, int elem_type, std::optional<std::vector<Dim>> dims) {
  std::string tensor_type = varint_field(1, elem_type);
  if (dims) {
    std::string shape;
    for (const auto& d : *dims) {
      shape += bytes_field(1, d.param ? bytes_field(2, *d.param) : varint_field(1, static_cast<uint64_t>(d.value)));
    }
    tensor_type += bytes_field(2, shape);
  }
  return bytes_field(1, name) + bytes_field(2, bytes_field(1, tensor_type));
}

std::string initializer(const std::string& name) {
  // TensorProto: dims=1, data_type=2, raw_data=9 around the name (field 8).
  return varint_field(1, 3) + varint_field(2, 1) + bytes_field(8, name) + bytes_field(9, std::string(12, '\0'));
}

std::string model(const std::string& graph) {
  // ir_version=1, producer_name=2, opset_import=8, then the graph (7).
  return varint_field(1, 8) + bytes_field(2, "test") + bytes_field(8, varint_field(2, 13)) + bytes_field(7, graph);
}

Result<OnnxGraphIo> parse(const std::string& bytes) {
  return parse_onnx_graph_io(std::as_bytes(std::span(bytes.data(), bytes.size())));
}

std::string iris_graph() {
  return bytes_field(1, "node bytes are skipped") + bytes_field(2, "g") +
         bytes_field(11, value_info("input", 1, std::vector<Dim>{{0, "batch"}, {4, {}}})) +
         bytes_field(12, value_info("probabilities", 1, std::vector<Dim>{{0, "batch"}, {3, {}}}));
}

TEST(OnnxSignatureTest, ReadsInputsAndOutputsWithSymbolicBatch) {
  auto io = parse(model(iris_graph()));
  ASSERT_TRUE(io.is_ok()) << io.status().to_string();
  ASSERT_EQ(io->inputs.size(), 1u);
  EXPECT_EQ(io->inputs[0].name, "input");
  EXPECT_EQ(io->inputs[0].elem_type, 1);
  EXPECT_TRUE(io->inputs[0].has_shape);
  EXPECT_EQ(io->inputs[0].shape, (Shape{-1, 4}));
  ASSERT_EQ(io->outputs.size(), 1u);
  EXPECT_EQ(io->outputs[0].name, "probabilities");
  EXPECT_EQ(io->outputs[0].shape, (Shape{-1, 3}));

  auto sig = effective_onnx_signature(*io, {});
  ASSERT_TRUE(sig.is_ok()) << sig.status().to_string();
  EXPECT_EQ(sig->inputs, (std::vector<TensorSpec>{{"input", DataType::kFp32, {-1, 4}}}));
  EXPECT_EQ(sig->outputs, (std::vector<TensorSpec>{{"probabilities", DataType::kFp32, {-1, 3}}}));
}

TEST(OnnxSignatureTest, SkipsGraphInputsThatAreInitializers) {
  const std::string graph = bytes_field(5, initializer("weight")) +
                            bytes_field(11, value_info("x", 1, std::vector<Dim>{{2, {}}})) +
                            bytes_field(11, value_info("weight", 1, std::vector<Dim>{{3, {}}})) +
                            bytes_field(12, value_info("y", 7, std::vector<Dim>{{2, {}}}));
  auto io = parse(model(graph));
  ASSERT_TRUE(io.is_ok()) << io.status().to_string();
  ASSERT_EQ(io->inputs.size(), 1u);
  EXPECT_EQ(io->inputs[0].name, "x");
  EXPECT_EQ(io->outputs[0].elem_type, 7);
}

TEST(OnnxSignatureTest, DimensionWithoutValueIsVariableAndMissingShapeIsUnknownRank) {
  const std::string graph = bytes_field(11, value_info("x", 1, std::vector<Dim>{{0, std::string{}}, {5, {}}})) +
                            bytes_field(11, value_info("scalar_rank_unknown", 1, std::nullopt)) +
                            bytes_field(12, value_info("y", 1, std::vector<Dim>{})) ;
  auto io = parse(model(graph));
  ASSERT_TRUE(io.is_ok()) << io.status().to_string();
  EXPECT_EQ(io->inputs[0].shape, (Shape{-1, 5}));
  EXPECT_FALSE(io->inputs[1].has_shape);
  EXPECT_TRUE(io->outputs[0].has_shape);  // a present but empty shape is a scalar
  EXPECT_TRUE(io->outputs[0].shape.empty());
}

TEST(OnnxSignatureTest, MapsEveryOnnxElementType) {
  EXPECT_EQ(datatype_from_onnx(1), DataType::kFp32);
  EXPECT_EQ(datatype_from_onnx(2), DataType::kUint8);
  EXPECT_EQ(datatype_from_onnx(3), DataType::kInt8);
  EXPECT_EQ(datatype_from_onnx(4), DataType::kUint16);
  EXPECT_EQ(datatype_from_onnx(5), DataType::kInt16);
  EXPECT_EQ(datatype_from_onnx(6), DataType::kInt32);
  EXPECT_EQ(datatype_from_onnx(7), DataType::kInt64);
  EXPECT_EQ(datatype_from_onnx(9), DataType::kBool);
  EXPECT_EQ(datatype_from_onnx(10), DataType::kFp16);
  EXPECT_EQ(datatype_from_onnx(11), DataType::kFp64);
  EXPECT_EQ(datatype_from_onnx(12), DataType::kUint32);
  EXPECT_EQ(datatype_from_onnx(13), DataType::kUint64);
  EXPECT_EQ(datatype_from_onnx(0), std::nullopt);
  EXPECT_EQ(datatype_from_onnx(8), std::nullopt);   // STRING
  EXPECT_EQ(datatype_from_onnx(16), std::nullopt);  // BFLOAT16
}

TEST(OnnxSignatureTest, MalformedBytesAreDataLoss) {
  const std::string good = model(iris_graph());
  const std::vector<std::string> bad = {
      "",                                          // empty file
      good.substr(0, good.size() / 2),             // truncated inside the graph
      std::string("PK\x03\x04\x14\x00\x00\x00", 8),  // a zip (a TorchScript file)
      std::string(40, '\xff'),                     // an endless varint
      model(""),                                   // a graph without outputs
      varint_field(1, 8),                          // no graph at all
      varint_field(7, 3),                          // graph with the wrong wire type
      // an output name listed twice, with different types (found by fuzz_onnx_signature)
      model(bytes_field(12, value_info("y", 7, std::vector<Dim>{{1, {}}})) +
            bytes_field(12, value_info("y", 11, std::vector<Dim>{{1, {}}}))),
      // an input name listed twice
      model(bytes_field(11, value_info("x", 1, std::nullopt)) + bytes_field(11, value_info("x", 1, std::nullopt)) +
            bytes_field(12, value_info("y", 1, std::nullopt))),
  };
  for (const auto& bytes : bad) {
    auto io = parse(bytes);
    ASSERT_FALSE(io.is_ok());
    EXPECT_EQ(io.status().code(), StatusCode::kDataLoss);
    EXPECT_TRUE(io.status().message().starts_with("artifact is not a valid ONNX model: "))
        << io.status().message();
  }
}

class EffectiveSignatureTest : public ::testing::Test {
 protected:
  OnnxGraphIo io_ = parse(model(iris_graph())).value();
};

TEST_F(EffectiveSignatureTest, CompatibleDeclarationIsAcceptedAndModelShapeWins) {
  ModelSignature declared{{{"input", DataType::kFp32, {-1, -1}}}, {{"probabilities", DataType::kFp32, {8, 3}}}};
  auto sig = effective_onnx_signature(io_, declared);
  ASSERT_TRUE(sig.is_ok()) << sig.status().to_string();
  EXPECT_EQ(sig->inputs[0].shape, (Shape{-1, 4}));
  EXPECT_EQ(sig->outputs[0].shape, (Shape{-1, 3}));
}

TEST_F(EffectiveSignatureTest, ConflictingDeclarationsAreInvalidArgument) {
  const std::vector<ModelSignature> conflicts = {
      {{{"input", DataType::kInt64, {-1, 4}}}, {}},  // dtype
      {{{"input", DataType::kFp32, {-1}}}, {}},      // rank
      {{{"input", DataType::kFp32, {-1, 5}}}, {}},   // fixed dimension
      {{{"pixels", DataType::kFp32, {-1, 4}}}, {}},  // not in the model
      {{}, {{"probabilities", DataType::kFp64, {-1, 3}}}},
  };
  for (const auto& declared : conflicts) {
    auto sig = effective_onnx_signature(io_, declared);
    ASSERT_FALSE(sig.is_ok());
    EXPECT_EQ(sig.status().code(), StatusCode::kInvalidArgument) << sig.status().to_string();
  }
  auto sig = effective_onnx_signature(io_, {{{"pixels", DataType::kFp32, {-1, 4}}}, {}});
  EXPECT_NE(sig.status().message().find("'input'"), std::string::npos) << sig.status().message();
}

TEST(OnnxSignatureEffectiveTest, InputWithoutShapeTakesTheDeclaredOneOrIsRefused) {
  const std::string graph = bytes_field(11, value_info("x", 1, std::nullopt)) +
                            bytes_field(12, value_info("y", 1, std::nullopt));
  auto io = parse(model(graph)).value();
  auto undeclared = effective_onnx_signature(io, {});
  EXPECT_EQ(undeclared.status().code(), StatusCode::kInvalidArgument);
  auto declared = effective_onnx_signature(io, {{{"x", DataType::kFp32, {-1, 2}}}, {}});
  ASSERT_TRUE(declared.is_ok()) << declared.status().to_string();
  EXPECT_EQ(declared->inputs[0].shape, (Shape{-1, 2}));
}

TEST(OnnxSignatureEffectiveTest, UnsupportedElementTypeIsInvalidArgument) {
  const std::string graph = bytes_field(11, value_info("text", 8, std::vector<Dim>{{1, {}}})) +
                            bytes_field(12, value_info("y", 1, std::vector<Dim>{{1, {}}}));
  auto sig = effective_onnx_signature(parse(model(graph)).value(), {});
  ASSERT_FALSE(sig.is_ok());
  EXPECT_EQ(sig.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(sig.status().message().find("STRING"), std::string::npos) << sig.status().message();
}

}  // namespace
}  // namespace quiver::backends::onnx

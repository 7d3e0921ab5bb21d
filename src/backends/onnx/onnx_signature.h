// Reads the inputs and outputs an ONNX model declares, straight from the file's
// protobuf bytes, and turns them into the model's effective ModelSignature.
//
// A small wire-format reader instead of the protobuf library: only the few fields on
// the path ModelProto.graph -> GraphProto.{input, output, initializer} are decoded,
// everything else (weights included) is skipped by length. Field numbers follow
// onnx.proto (onnx/onnx.proto in the ONNX repository):
//   ModelProto.graph = 7
//   GraphProto.initializer = 5, input = 11, output = 12
//   TensorProto.name = 8
//   ValueInfoProto.name = 1, type = 2
//   TypeProto.tensor_type = 1; TypeProto.Tensor.elem_type = 1, shape = 2
//   TensorShapeProto.dim = 1; Dimension.dim_value = 1, dim_param = 2
//
// Thread-safety: all functions are pure and may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/signature.h"
#include "core/status.h"
#include "core/tensor.h"

namespace quiver::backends::onnx {

// One graph input or output as the file states it.
struct OnnxValueInfo {
  std::string name;
  int32_t elem_type = 0;   // TensorProto.DataType; 0 when the file gives no tensor type
  bool has_shape = false;  // false: the rank is unknown
  Shape shape;             // -1 for a symbolic (dim_param) or absent dimension
};

struct OnnxGraphIo {
  // Graph inputs that are fed at run time: initializers listed as inputs are left out.
  std::vector<OnnxValueInfo> inputs;
  std::vector<OnnxValueInfo> outputs;
};

// Decodes the graph's inputs and outputs from a serialized ModelProto. DataLoss
// "artifact is not a valid ONNX model: <why>" when the bytes are not a well-formed
// ModelProto with a graph that has at least one output.
Result<OnnxGraphIo> parse_onnx_graph_io(std::span<const std::byte> model_bytes);

// ONNX TensorProto.DataType -> DataType; nullopt for types Quiver has no
// counterpart for (STRING, BFLOAT16, COMPLEX*, UNDEFINED).
std::optional<DataType> datatype_from_onnx(int32_t elem_type);

// The signature to serve: the model's own, with `declared` (the one given at
// registration, possibly empty) only checked against it. InvalidArgument when a
// declared tensor is not in the model or disagrees on dtype, rank or a fixed
// dimension, or when a model tensor has a type Quiver cannot represent. A model
// tensor without a shape takes the declared shape; an input with neither is an
// InvalidArgument (requests could not be checked).
Result<ModelSignature> effective_onnx_signature(const OnnxGraphIo& model,
                                                const ModelSignature& declared);

}  // namespace quiver::backends::onnx

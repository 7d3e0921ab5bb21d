// The request `quiver bench` sends: random input tensors shaped by the model's
// signature, encoded once as an Open Inference Protocol body (JSON, or the binary
// tensor extension) and then sent unchanged on every request, so that the load
// generator spends no time encoding while it measures.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "core/tensor.h"

namespace quiver::cli {

// One input with a concrete shape (no -1 left).
struct BenchInputSpec {
  std::string name;
  DataType dtype = DataType::kFp32;
  Shape shape;
};

// Replaces every variable dimension (-1): the first dimension by `batch` (the batch
// of rows), any other by 1. Precondition: batch >= 1.
Shape concrete_shape(const Shape& declared, int64_t batch);

// From a tensor spec list as model metadata gives it ("inputs" of
// GET /v2/models/M: [{"name", "datatype", "shape"}]). InvalidArgument when the list
// is empty (the model declares no inputs: pass --input) or an entry is malformed.
Result<std::vector<BenchInputSpec>> bench_inputs_from_specs(const nlohmann::json& specs, int64_t batch);

// From --input NAME:DTYPE:DIMS arguments (the `quiver push` syntax).
Result<std::vector<BenchInputSpec>> bench_inputs_from_args(const std::vector<std::string>& args,
                                                           int64_t batch);

// A tensor of `spec` filled from `rng`: floats in [-1, 1), integers in [0, 100)
// (signed and unsigned alike), booleans, and BYTES elements of 8 random letters.
Tensor random_tensor(const BenchInputSpec& spec, std::mt19937_64& rng);

// An encoded inference request body; `json_length` is the
// Inference-Header-Content-Length value when the body carries binary tensor data.
struct BenchRequestBody {
  std::string body;
  std::optional<size_t> json_length;
};

// {"inputs": [{"name", "shape", "datatype", "data"}...]}, or with `binary` the JSON
// header with "parameters": {"binary_data_size": N} per input followed by the raw
// bytes in input order, and "binary_data_output": true so that the outputs come back
// as bytes too (what perf_analyzer's binary mode does).
BenchRequestBody encode_bench_request(const std::vector<Tensor>& inputs, bool binary);

}  // namespace quiver::cli

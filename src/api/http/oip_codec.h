// Open Inference Protocol v2 (KServe v2) JSON codec for the HTTP inference path.
//
// Parsing uses simdjson (DOM, fully validating) and writing uses {fmt}, because
// inference bodies carry large numeric arrays. Supports the binary tensor extension:
// a body is a JSON header of `json_length` bytes (the Inference-Header-Content-Length
// header) followed by raw little-endian tensor bytes in tensor order.
//
// Conventions a client relies on:
//   - "data" may be flat or nested (row-major); nesting is flattened, only the total
//     element count must match the shape.
//   - Numbers are range-checked against the declared datatype; integer types accept
//     integral JSON numbers only (2 and 2.0, not 2.5).
//   - NaN and +-Infinity cannot be written in JSON: the encoder writes them as null,
//     and the parser reads null in FP16/FP32/FP64 data as NaN.
//   - BYTES elements are JSON strings. JSON text must be UTF-8, so the encoder replaces
//     invalid UTF-8 sequences with U+FFFD; ask for binary output to get exact bytes.
//   - BOOL accepts true/false and 0/1 and is written as true/false.
//   - Every problem with a body is an InvalidArgument Status naming the tensor and the
//     problem; no exception escapes.
//
// Thread-safety: all functions are reentrant (each thread parses with its own parser).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/common/output_selection.h"
#include "core/params.h"
#include "core/status.h"
#include "core/tensor.h"

namespace quiver::http {

// Shared with the gRPC frontend (api/common).
using api::RequestedOutput;
using api::select_outputs;

struct InferRequestData {
  std::string id;  // echoed back; "" when absent
  // Request-level "parameters". Strings, booleans and numbers keep their type (integers
  // as int64, other numbers as double); nested objects and arrays are kept as their
  // minified JSON text; null values are dropped.
  Params parameters;
  // Tensors from "data" own their bytes; binary-extension tensors are zero-copy views
  // into the request body, which they keep alive.
  std::vector<Tensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty: return all outputs
  bool binary_output_all = false;        // parameters.binary_data_output
};

// `body` is the whole HTTP body; `json_length` the Inference-Header-Content-Length
// value when the header is present, else nullopt (then the whole body is JSON).
// Declared shapes and the number of inputs are checked against `limits` before any
// tensor memory is allocated.
Result<InferRequestData> parse_infer_request(std::shared_ptr<const std::string> body,
                                             std::optional<size_t> json_length, const TensorLimits& limits = {});

// An encoded body, and the Inference-Header-Content-Length value when the body carries
// binary tensor data after the JSON (nullopt: the body is plain JSON).
struct EncodedBody {
  std::string body;
  std::optional<size_t> json_length;
};
using EncodedResponse = EncodedBody;
using EncodedRequest = EncodedBody;

// Writes {"model_name","model_version","id"(when non-empty),"outputs":[...]}.
// `outputs` are already selected and ordered (select_outputs); an output is binary
// when `binary_output_all` or its entry in `requested` asks for it.
// Precondition: every output passes Tensor::validate(); a tensor that does not is
// still written as valid JSON, holding only the elements its bytes contain.
EncodedResponse encode_infer_response(std::string_view model, std::string_view version, std::string_view id,
                                      const std::vector<Tensor>& outputs,
                                      const std::vector<RequestedOutput>& requested, bool binary_output_all);

// ---- Client side: the CLI, benchmarks and tests speak the same protocol. ----

struct InferResponseData {
  std::string model_name;
  std::string model_version;
  std::string id;
  Params parameters;
  std::vector<Tensor> outputs;
};

// Parses a response body (same rules as requests, with "outputs" for "inputs").
Result<InferResponseData> parse_infer_response(std::shared_ptr<const std::string> body,
                                               std::optional<size_t> json_length);

// Writes a request. With `binary_inputs`, every input goes to the binary section.
// String parameters are written as JSON strings (also those that held nested JSON).
EncodedRequest encode_infer_request(const InferRequestData& request, bool binary_inputs);

// ---- IEEE 754 half precision (FP16 tensors travel as floats in JSON). ----

// Rounds to the nearest half, ties to even; overflow gives +-Inf, NaN stays NaN.
uint16_t fp16_from_double(double value);
float fp16_to_float(uint16_t half);

}  // namespace quiver::http

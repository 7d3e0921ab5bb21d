// Conversion between the gRPC inference messages and Quiver's Tensor and Params.
//
// A ModelInferRequest carries its input values either as raw bytes
// (raw_input_contents: one entry per input, in input order, the tensor's row-major
// little-endian bytes) or as typed repeated fields (InferInputTensor.contents). A
// request uses one form for all its inputs. FP16 has no typed field and travels raw.
//
// Responses mirror the request: raw_output_contents when the inputs were raw (what
// stock clients such as Triton's expect), typed contents when they were typed, and
// raw again when an output has no typed field (FP16).
//
// Every problem is an InvalidArgument Status naming the input and what is wrong.
// Thread-safety: pure functions, safe from any thread.
#pragma once

#include <string>
#include <vector>

#include "core/params.h"
#include "core/status.h"
#include "core/tensor.h"
#include "proto/grpc_predict_v2.pb.h"

namespace quiver::grpc_api {

using ProtoParameters = google::protobuf::Map<std::string, inference::InferParameter>;

struct DecodedInputs {
  std::vector<Tensor> tensors;  // own their bytes: shadow copies may outlive the call
  bool typed = false;           // true when the values came from typed contents
};

// Builds the input tensors, checking datatype, shape (against `limits` too) and the
// size of every value list against the shape. Does not check the model's signature
// (the servable does).
Result<DecodedInputs> decode_inputs(const inference::ModelInferRequest& request, const TensorLimits& limits = {});

// Appends `outputs` to `response` (metadata plus raw or typed values; see above).
// Precondition: every output passes Tensor::validate().
void encode_outputs(const std::vector<Tensor>& outputs, bool typed, inference::ModelInferResponse& response);

// Request parameters as the router sees them. uint64 values above INT64_MAX become
// doubles, as large integers do in the HTTP frontend's JSON; unset values are dropped.
Params decode_parameters(const ProtoParameters& parameters);

}  // namespace quiver::grpc_api

// gRPC inference requests to tensors: a ModelInferRequest parsed from the fuzz bytes
// (protobuf wire format, as a gRPC client would send it) through decode_inputs and
// decode_parameters, the functions the gRPC frontend calls on every request.
// Invariants on success: every tensor validates; encode_outputs writes them back in
// the same form (raw or typed), and decoding that message again gives the same
// tensors byte for byte.
#include <cstddef>
#include <cstdint>

#include <google/protobuf/stubs/logging.h>

#include "api/grpc/infer_tensors.h"
#include "fuzz_check.h"

using namespace quiver;
using namespace quiver::grpc_api;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Invalid UTF-8 in a string field fails the parse (as gRPC would); the library's
  // log line about it would flood the fuzzer's output.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;

  (void)decode_parameters(request.parameters());
  for (const auto& input : request.inputs()) (void)decode_parameters(input.parameters());

  auto decoded = decode_inputs(request);
  if (!decoded.is_ok()) return 0;
  for (const Tensor& t : decoded->tensors) FUZZ_CHECK(t.validate().is_ok(), "input '%s' does not validate", t.name().c_str());

  // Round trip: the response carries the tensors the way a response would; read it
  // back as a request (InferOutputTensor and InferInputTensor share their fields).
  inference::ModelInferResponse response;
  encode_outputs(decoded->tensors, decoded->typed, response);
  inference::ModelInferRequest again;
  for (const auto& out : response.outputs())
    FUZZ_CHECK(again.add_inputs()->ParseFromString(out.SerializeAsString()), "output tensor does not re-parse");
  for (const auto& raw : response.raw_output_contents()) again.add_raw_input_contents(raw);
  auto redecoded = decode_inputs(again);
  FUZZ_CHECK(redecoded.is_ok(), "encoded outputs do not decode: %s", redecoded.status().message().c_str());
  FUZZ_CHECK(redecoded->tensors.size() == decoded->tensors.size(), "tensor count changed in the round trip");
  for (size_t i = 0; i < decoded->tensors.size(); ++i)
    FUZZ_CHECK(fuzz::same_tensor(redecoded->tensors[i], decoded->tensors[i]), "tensor %zu changed in the round trip", i);
  return 0;
}

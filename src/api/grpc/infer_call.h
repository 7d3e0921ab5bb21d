// What ModelInfer and ModelStreamInfer share: a ModelInferRequest (with its call's
// metadata and deadline) turned into the InferenceService's InferCall, and an outcome
// turned into a ModelInferResponse. Internal to the gRPC frontend.
//
// Thread-safety: pure functions, safe from any thread.
#pragma once

#include <chrono>
#include <map>
#include <optional>

#include <grpcpp/grpcpp.h>

#include "api/inference/inference_service.h"
#include "core/status.h"
#include "proto/grpc_predict_v2.pb.h"

namespace quiver::grpc_api {

struct PreparedCall {
  api::InferCall call;
  bool typed = false;  // inputs came as typed contents: answer the same way
};

// Checks and decodes `req` (InvalidArgument naming the problem); headers come from
// the call's metadata, the deadline from the client's.
Result<PreparedCall> prepare_infer_call(const inference::ModelInferRequest& req,
                                        const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                                        std::chrono::system_clock::time_point deadline, const TensorLimits& limits);

// Fills `resp` from a successful outcome: the requested outputs only (InvalidArgument
// for an unknown one), raw or typed as the request was.
Status fill_infer_response(const inference::ModelInferRequest& req, api::InferOutcome outcome, int64_t version,
                           bool typed, inference::ModelInferResponse& resp);

}  // namespace quiver::grpc_api

#include "api/grpc/infer_call.h"

#include <cctype>
#include <string>
#include <vector>

#include "api/common/output_selection.h"
#include "api/grpc/infer_tensors.h"

namespace quiver::grpc_api {
namespace {

// gRPC metadata as the router's headers. Keys arrive lower-cased already; binary
// ("-bin") values and pseudo-headers are not text a rule could match, so they are left out.
Headers headers_from(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  Headers out;
  for (const auto& [key, value] : metadata) {
    std::string name(key.data(), key.size());
    if (name.empty() || name.front() == ':' || name.ends_with("-bin")) continue;
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.emplace(std::move(name), std::string(value.data(), value.size()));
  }
  return out;
}

// The client's gRPC deadline (wall clock; none is the far future) on the steady
// clock the request queue uses.
std::optional<std::chrono::steady_clock::time_point> steady_deadline(std::chrono::system_clock::time_point deadline) {
  if (deadline == std::chrono::system_clock::time_point::max()) return std::nullopt;
  const auto left = deadline - std::chrono::system_clock::now();
  return std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(left);
}

std::vector<api::RequestedOutput> requested_outputs(const inference::ModelInferRequest& req) {
  std::vector<api::RequestedOutput> out;
  for (const auto& o : req.outputs()) out.push_back({o.name(), false});
  return out;
}

}  // namespace

Result<PreparedCall> prepare_infer_call(const inference::ModelInferRequest& req,
                                        const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                                        std::chrono::system_clock::time_point deadline, const TensorLimits& limits) {
  if (req.model_name().empty()) return invalid_argument("invalid inference request: model_name is empty");
  auto inputs = decode_inputs(req, limits);
  if (!inputs.is_ok()) return inputs.status().with_context("invalid inference request");
  PreparedCall out;
  out.typed = inputs->typed;
  api::InferCall& call = out.call;
  call.model = req.model_name();
  if (!req.model_version().empty()) call.version = req.model_version();
  call.headers = headers_from(metadata);
  call.parameters = decode_parameters(req.parameters());
  call.inputs = std::move(inputs->tensors);
  call.deadline = steady_deadline(deadline);
  call.request_id = req.id();
  if (auto it = call.headers.find("x-request-id"); call.request_id.empty() && it != call.headers.end())
    call.request_id = it->second;
  return out;
}

Status fill_infer_response(const inference::ModelInferRequest& req, api::InferOutcome outcome, int64_t version,
                           bool typed, inference::ModelInferResponse& resp) {
  auto outputs = std::move(outcome.outputs);
  QUIVER_RETURN_IF_ERROR(api::select_outputs(requested_outputs(req), outputs));
  resp.set_model_name(req.model_name());
  resp.set_model_version(std::to_string(version));
  resp.set_id(req.id());
  encode_outputs(outputs, typed, resp);
  return Status::ok();
}

}  // namespace quiver::grpc_api

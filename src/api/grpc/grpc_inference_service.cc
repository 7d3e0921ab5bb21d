#include "api/grpc/grpc_inference_service.h"

#include <string>
#include <vector>

#include "api/common/status_mapping.h"
#include "api/grpc/infer_call.h"
#include "api/grpc/infer_tensors.h"
#include "backends/backend.h"
#include "serving/servable.h"

namespace quiver::grpc_api {
namespace {

using inference::ModelMetadataResponse;

void add_specs(const std::vector<TensorSpec>& specs,
               google::protobuf::RepeatedPtrField<ModelMetadataResponse::TensorMetadata>& out) {
  for (const auto& s : specs) {
    auto* t = out.Add();
    t->set_name(s.name);
    t->set_datatype(std::string(datatype_name(s.dtype)));
    for (int64_t d : s.shape) t->add_shape(d);
  }
}

void fill_metadata(const std::string& model, const routing::Endpoint& e, const std::vector<int64_t>& versions,
                   ModelMetadataResponse& resp) {
  resp.set_name(model);
  for (int64_t v : versions) resp.add_versions(std::to_string(v));
  resp.set_platform(backends::platform_name(e.servable->framework()));
  add_specs(e.servable->signature().inputs, *resp.mutable_inputs());
  add_specs(e.servable->signature().outputs, *resp.mutable_outputs());
}

}  // namespace

grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* ctx, const grpc::Status& status) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* ctx, const Status& status) {
  return finish(ctx, to_grpc_status(status));
}

grpc::Status to_grpc_status(const Status& status) {
  if (status.is_ok()) return grpc::Status::OK;
  return {static_cast<grpc::StatusCode>(api::grpc_code_for(status.code())), status.message()};
}

grpc::Status GrpcInferenceService::authorize(grpc::CallbackServerContext* ctx, auth::Permission permission,
                                             const std::string& model) const {
  if (authorizer_ == nullptr || !authorizer_->enabled()) return grpc::Status::OK;
  const auto& metadata = ctx->client_metadata();
  const auto it = metadata.find("authorization");
  const std::string_view credentials = it == metadata.end() ? std::string_view()
                                                            : std::string_view(it->second.data(), it->second.size());
  return to_grpc_status(authorizer_->authorize(credentials, permission, model).status);
}

grpc::ServerUnaryReactor* GrpcInferenceService::ServerLive(grpc::CallbackServerContext* ctx,
                                                           const inference::ServerLiveRequest*,
                                                           inference::ServerLiveResponse* resp) {
  resp->set_live(true);
  return finish(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GrpcInferenceService::ServerReady(grpc::CallbackServerContext* ctx,
                                                            const inference::ServerReadyRequest*,
                                                            inference::ServerReadyResponse* resp) {
  resp->set_ready(manager_.ready());
  return finish(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GrpcInferenceService::ServerMetadata(grpc::CallbackServerContext* ctx,
                                                               const inference::ServerMetadataRequest*,
                                                               inference::ServerMetadataResponse* resp) {
  resp->set_name("quiver");
  resp->set_version("0.1.0");
  resp->add_extensions("binary_tensor_data");
  resp->add_extensions("model_repository");
  return finish(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelReady(grpc::CallbackServerContext* ctx,
                                                           const inference::ModelReadyRequest* req,
                                                           inference::ModelReadyResponse* resp) {
  if (auto denied = authorize(ctx, auth::Permission::kModelMetadata, req->name()); !denied.ok())
    return finish(ctx, denied);
  auto table = routes_.load();
  const std::string& model = req->name();
  if (req->version().empty()) {
    // Unknown models are an error; a known model that is not deployed or not ready
    // yet is simply not ready.
    auto route = table->route_for(model);
    if (!route.is_ok() && route.status().code() == StatusCode::kNotFound && !table->find(model))
      return finish(ctx, route.status());
    resp->set_ready(route.is_ok());
    return finish(ctx, grpc::Status::OK);
  }
  // An unknown version of a known model is simply not ready: HTTP clients see the
  // same (their readiness check is "answered 200"), and stock gRPC clients ask before
  // they know which versions exist.
  if (table->find(model) == nullptr) return finish(ctx, table->route_for(model).status());
  resp->set_ready(table->resolve_pinned(model, req->version()).is_ok());
  return finish(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelMetadata(grpc::CallbackServerContext* ctx,
                                                              const inference::ModelMetadataRequest* req,
                                                              inference::ModelMetadataResponse* resp) {
  if (auto denied = authorize(ctx, auth::Permission::kModelMetadata, req->name()); !denied.ok())
    return finish(ctx, denied);
  auto table = routes_.load();
  const std::string& model = req->name();
  if (req->version().empty()) {
    auto route = table->route_for(model);
    if (!route.is_ok()) return finish(ctx, route.status());
    std::vector<int64_t> versions;
    for (const auto& e : (*route)->endpoints()) versions.push_back(e.version);
    fill_metadata((*route)->model(), (*route)->endpoints().front(), versions, *resp);
    return finish(ctx, grpc::Status::OK);
  }
  auto e = table->resolve_pinned(model, req->version());
  if (!e.is_ok()) return finish(ctx, e.status());
  fill_metadata(model, **e, {(*e)->version}, *resp);
  return finish(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelInfer(grpc::CallbackServerContext* ctx,
                                                           const inference::ModelInferRequest* req,
                                                           inference::ModelInferResponse* resp) {
  if (req->model_name().empty()) return finish(ctx, invalid_argument("invalid inference request: model_name is empty"));
  if (auto denied = authorize(ctx, auth::Permission::kInfer, req->model_name()); !denied.ok())
    return finish(ctx, denied);
  auto prepared = prepare_infer_call(*req, ctx->client_metadata(), ctx->deadline(), limits_);
  if (!prepared.is_ok()) return finish(ctx, prepared.status());

  // The call (ctx, req, resp) stays alive until Finish, so the callback may use it
  // from whichever thread completes the request.
  auto* reactor = ctx->DefaultReactor();
  inference_.infer(std::move(prepared->call), [ctx, req, resp, reactor, typed = prepared->typed](
                                                  Result<api::InferOutcome> r, int64_t version) {
    if (version > 0) ctx->AddInitialMetadata(kVersionMetadataKey, std::to_string(version));
    if (!r.is_ok()) return reactor->Finish(to_grpc_status(r.status()));
    reactor->Finish(to_grpc_status(fill_infer_response(*req, std::move(r).value(), version, typed, *resp)));
  });
  return reactor;
}

}  // namespace quiver::grpc_api

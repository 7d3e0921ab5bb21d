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

grpc::Status to_grpc_status(const Status& status) {
  if (status.is_ok()) return grpc::Status::OK;
  return {static_cast<grpc::StatusCode>(api::grpc_code_for(status.code())), status.message()};
}

grpc::Status GrpcInferenceService::authorize(const grpc::ServerContext& ctx, auth::Permission permission,
                                             const std::string& model) const {
  if (authorizer_ == nullptr || !authorizer_->enabled()) return grpc::Status::OK;
  const auto& metadata = ctx.client_metadata();
  const auto it = metadata.find("authorization");
  const std::string_view credentials = it == metadata.end() ? std::string_view()
                                                            : std::string_view(it->second.data(), it->second.size());
  return to_grpc_status(authorizer_->authorize(credentials, permission, model).status);
}

void GrpcInferenceService::ServerLive(ServerLiveCall& call) {
  call.response().set_live(true);
  return finish(call, grpc::Status::OK);
}

void GrpcInferenceService::ServerReady(ServerReadyCall& call) {
  call.response().set_ready(manager_.ready());
  return finish(call, grpc::Status::OK);
}

void GrpcInferenceService::ServerMetadata(ServerMetadataCall& call) {
  auto& resp = call.response();
  resp.set_name("quiver");
  resp.set_version("0.1.0");
  resp.add_extensions("binary_tensor_data");
  resp.add_extensions("model_repository");
  return finish(call, grpc::Status::OK);
}

void GrpcInferenceService::ModelReady(ModelReadyCall& call) {
  const auto* req = &call.request();
  auto* resp = &call.response();
  if (auto denied = authorize(call.context(), auth::Permission::kModelMetadata, req->name()); !denied.ok())
    return finish(call, denied);
  auto table = routes_.load();
  const std::string& model = req->name();
  if (req->version().empty()) {
    // Unknown models are an error; a known model that is not deployed or not ready
    // yet is simply not ready.
    auto route = table->route_for(model);
    if (!route.is_ok() && route.status().code() == StatusCode::kNotFound && !table->find(model))
      return finish(call, route.status());
    resp->set_ready(route.is_ok());
    return finish(call, grpc::Status::OK);
  }
  // An unknown version of a known model is simply not ready: HTTP clients see the
  // same (their readiness check is "answered 200"), and stock gRPC clients ask before
  // they know which versions exist.
  if (table->find(model) == nullptr) return finish(call, table->route_for(model).status());
  resp->set_ready(table->resolve_pinned(model, req->version()).is_ok());
  return finish(call, grpc::Status::OK);
}

void GrpcInferenceService::ModelMetadata(ModelMetadataCall& call) {
  const auto* req = &call.request();
  auto* resp = &call.response();
  if (auto denied = authorize(call.context(), auth::Permission::kModelMetadata, req->name()); !denied.ok())
    return finish(call, denied);
  auto table = routes_.load();
  const std::string& model = req->name();
  if (req->version().empty()) {
    auto route = table->route_for(model);
    if (!route.is_ok()) return finish(call, route.status());
    std::vector<int64_t> versions;
    for (const auto& e : (*route)->endpoints()) versions.push_back(e.version);
    fill_metadata((*route)->model(), (*route)->endpoints().front(), versions, *resp);
    return finish(call, grpc::Status::OK);
  }
  auto e = table->resolve_pinned(model, req->version());
  if (!e.is_ok()) return finish(call, e.status());
  fill_metadata(model, **e, {(*e)->version}, *resp);
  return finish(call, grpc::Status::OK);
}

void GrpcInferenceService::ModelInfer(ModelInferCall& call) {
  const auto* req = &call.request();
  if (req->model_name().empty()) return finish(call, invalid_argument("invalid inference request: model_name is empty"));
  if (auto denied = authorize(call.context(), auth::Permission::kInfer, req->model_name()); !denied.ok())
    return finish(call, denied);
  auto prepared = prepare_infer_call(*req, call.context().client_metadata(), call.context().deadline(), limits_);
  if (!prepared.is_ok()) return finish(call, prepared.status());

  // The call (its context, request and response) stays valid until it is answered,
  // so the callback may use it from whichever thread completes the request.
  inference_.infer(std::move(prepared->call), [&call, typed = prepared->typed](Result<api::InferOutcome> r,
                                                                                  int64_t version) {
    if (version > 0) call.context().AddInitialMetadata(kVersionMetadataKey, std::to_string(version));
    if (!r.is_ok()) return finish(call, r.status());
    finish(call, fill_infer_response(call.request(), std::move(r).value(), version, typed, call.response()));
  });
}

template <class Req, class Resp, class RequestMember>
const UnaryMethod<Req, Resp>& GrpcInferenceService::method(inference::GRPCInferenceService::AsyncService& async,
                                                           RequestMember request,
                                                           void (GrpcInferenceService::*handle)(UnaryCall<Req, Resp>&),
                                                           Runs runs) {
  auto m = std::make_shared<UnaryMethod<Req, Resp>>();
  m->request = [&async, request](grpc::ServerContext* ctx, Req* req, grpc::ServerAsyncResponseWriter<Resp>* writer,
                                 grpc::ServerCompletionQueue* queue, void* tag) {
    (async.*request)(ctx, req, writer, queue, queue, tag);
  };
  if (runs == Runs::kOffloaded) {
    m->handle = [this, handle](UnaryCall<Req, Resp>& call) { offload_([this, handle, &call] { (this->*handle)(call); }); };
  } else {
    m->handle = [this, handle](UnaryCall<Req, Resp>& call) { (this->*handle)(call); };
  }
  methods_.push_back(m);
  return *m;
}

void GrpcInferenceService::post_calls(inference::GRPCInferenceService::AsyncService& async, CompletionQueues& queues,
                                      Offload offload) {
  using Async = inference::GRPCInferenceService::AsyncService;
  offload_ = std::move(offload);
  constexpr Runs kOffloaded = Runs::kOffloaded;
  // Several inference calls wait on each queue, so that a burst of new calls finds
  // one posted instead of queueing inside gRPC for the next post; one of the others.
  constexpr int kInferPosted = 16, kStreamsPosted = 2;
  const auto& live_m = method(async, &Async::RequestServerLive, &GrpcInferenceService::ServerLive);
  const auto& ready_m = method(async, &Async::RequestServerReady, &GrpcInferenceService::ServerReady);
  const auto& model_ready_m = method(async, &Async::RequestModelReady, &GrpcInferenceService::ModelReady);
  const auto& server_meta_m = method(async, &Async::RequestServerMetadata, &GrpcInferenceService::ServerMetadata);
  const auto& model_meta_m = method(async, &Async::RequestModelMetadata, &GrpcInferenceService::ModelMetadata);
  const auto& infer_m = method(async, &Async::RequestModelInfer, &GrpcInferenceService::ModelInfer);
  const auto& config_m = method(async, &Async::RequestModelConfig, &GrpcInferenceService::ModelConfig, kOffloaded);
  const auto& index_m =
      method(async, &Async::RequestRepositoryIndex, &GrpcInferenceService::RepositoryIndex, kOffloaded);
  const auto& load_m =
      method(async, &Async::RequestRepositoryModelLoad, &GrpcInferenceService::RepositoryModelLoad, kOffloaded);
  const auto& unload_m =
      method(async, &Async::RequestRepositoryModelUnload, &GrpcInferenceService::RepositoryModelUnload, kOffloaded);
  for (size_t i = 0; i < queues.size(); ++i) {
    auto* q = queues.queue(i);
    auto& live = queues.live();
    ServerLiveCall::post(live_m, q, live);
    ServerReadyCall::post(ready_m, q, live);
    ModelReadyCall::post(model_ready_m, q, live);
    ServerMetadataCall::post(server_meta_m, q, live);
    ModelMetadataCall::post(model_meta_m, q, live);
    for (int n = 0; n < kInferPosted; ++n) ModelInferCall::post(infer_m, q, live);
    ModelConfigCall::post(config_m, q, live);
    RepositoryIndexCall::post(index_m, q, live);
    RepositoryModelLoadCall::post(load_m, q, live);
    RepositoryModelUnloadCall::post(unload_m, q, live);
    for (int n = 0; n < kStreamsPosted; ++n) post_stream_infer(async, q, live);
  }
}

}  // namespace quiver::grpc_api

// The Open Inference Protocol's gRPC service (inference.GRPCInferenceService):
// health, server and model metadata, routed / pinned inference (unary and streamed),
// model configuration and the model repository extension.
//
// It mirrors the HTTP frontend (api/http/inference_handlers.cc,
// repository_handlers.cc): metadata and readiness come from the route snapshot,
// inference goes through the same InferenceService (same router, shadows and
// metrics), configuration and the repository through the same ModelRepository
// (lifecycle/model_repository.h), and errors map through the one status table
// (api/common/status_mapping.h) with the same messages.
//
// Every handler uses the callback API: it never blocks a gRPC thread. ModelInfer
// finishes its call from the servable's worker thread when the result arrives;
// repository load and unload finish from the repository's waiter thread.
// Thread-safety: handlers run concurrently on gRPC's threads; the object holds no
// mutable state. The referenced modules must outlive the gRPC server that runs it.
#pragma once

#include <chrono>

#include <grpcpp/grpcpp.h>

#include "api/inference/inference_service.h"
#include "auth/authorizer.h"
#include "core/tensor.h"
#include "lifecycle/manager.h"
#include "lifecycle/model_repository.h"
#include "proto/grpc_predict_v2.grpc.pb.h"
#include "routing/route_table.h"

namespace quiver::grpc_api {

// Sent with every inference answer (and with errors once a version was chosen).
inline constexpr const char* kVersionMetadataKey = "x-quiver-model-version";

class GrpcInferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  GrpcInferenceService(routing::RoutePublisher& routes, lifecycle::LifecycleManager& manager,
                       api::InferenceService& inference, TensorLimits limits = {})
      : routes_(routes), manager_(manager), inference_(inference), limits_(limits) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* ctx, const inference::ServerLiveRequest* req,
                                       inference::ServerLiveResponse* resp) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* ctx, const inference::ServerReadyRequest* req,
                                        inference::ServerReadyResponse* resp) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* ctx, const inference::ModelReadyRequest* req,
                                       inference::ModelReadyResponse* resp) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* ctx,
                                           const inference::ServerMetadataRequest* req,
                                           inference::ServerMetadataResponse* resp) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx, const inference::ModelMetadataRequest* req,
                                          inference::ModelMetadataResponse* resp) override;
  // Checks tokens (metadata `authorization: Bearer qv_...`) when auth is on; null: off.
  // Precondition: before the server starts.
  void set_authorizer(auth::Authorizer* authorizer) { authorizer_ = authorizer; }

  // The model repository behind ModelConfig and Repository*; null: those answer
  // UNIMPLEMENTED with a message. Precondition: before the server starts.
  void set_repository(lifecycle::ModelRepository* repository) { repository_ = repository; }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx, const inference::ModelInferRequest* req,
                                       inference::ModelInferResponse* resp) override;
  // Requests are answered in order; an error fills that answer's error_message and the
  // stream goes on. Inference for later requests runs while earlier ones finish.
  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>* ModelStreamInfer(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* ctx, const inference::ModelConfigRequest* req,
                                        inference::ModelConfigResponse* resp) override;
  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* ctx,
                                            const inference::RepositoryIndexRequest* req,
                                            inference::RepositoryIndexResponse* resp) override;
  // Load and unload answer once the deployment has settled (or after a bound).
  grpc::ServerUnaryReactor* RepositoryModelLoad(grpc::CallbackServerContext* ctx,
                                                const inference::RepositoryModelLoadRequest* req,
                                                inference::RepositoryModelLoadResponse* resp) override;
  grpc::ServerUnaryReactor* RepositoryModelUnload(grpc::CallbackServerContext* ctx,
                                                  const inference::RepositoryModelUnloadRequest* req,
                                                  inference::RepositoryModelUnloadResponse* resp) override;

  // OK, or UNAUTHENTICATED / PERMISSION_DENIED / RESOURCE_EXHAUSTED with the reason.
  grpc::Status authorize(grpc::CallbackServerContext* ctx, auth::Permission permission, const std::string& model) const;
  api::InferenceService& inference() { return inference_; }
  const TensorLimits& limits() const { return limits_; }

 private:
  routing::RoutePublisher& routes_;
  lifecycle::LifecycleManager& manager_;
  api::InferenceService& inference_;
  const TensorLimits limits_;
  auth::Authorizer* authorizer_ = nullptr;
  lifecycle::ModelRepository* repository_ = nullptr;
};

// How long repository load and unload wait for the deployment to settle before they
// answer DEADLINE_EXCEEDED (the change stays applied and keeps going).
inline constexpr std::chrono::seconds kRepositoryWait{120};

// quiver::Status -> grpc::Status, through the shared status table; the message is kept.
grpc::Status to_grpc_status(const Status& status);

// Ends a unary callback call with `status` (the handlers' one way to answer).
grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* ctx, const grpc::Status& status);
grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* ctx, const Status& status);

}  // namespace quiver::grpc_api

// The Open Inference Protocol's gRPC service (inference.GRPCInferenceService):
// health, server and model metadata, and routed / pinned inference.
//
// It mirrors the HTTP frontend (api/http/inference_handlers.cc): metadata and
// readiness come from the route snapshot, inference goes through the same
// InferenceService (same router, shadows and metrics), and errors map through the one
// status table (api/http/status_mapping.h) with the same messages.
//
// Every handler uses the callback API: it never blocks a gRPC thread. ModelInfer
// finishes its call from the servable's worker thread when the result arrives.
// Thread-safety: handlers run concurrently on gRPC's threads; the object holds no
// mutable state. The referenced modules must outlive the gRPC server that runs it.
#pragma once

#include <grpcpp/grpcpp.h>

#include "api/inference/inference_service.h"
#include "auth/authorizer.h"
#include "core/tensor.h"
#include "lifecycle/manager.h"
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

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx, const inference::ModelInferRequest* req,
                                       inference::ModelInferResponse* resp) override;

 private:
  routing::RoutePublisher& routes_;
  lifecycle::LifecycleManager& manager_;
  api::InferenceService& inference_;
  const TensorLimits limits_;
  auth::Authorizer* authorizer_ = nullptr;

  // OK, or UNAUTHENTICATED / PERMISSION_DENIED / RESOURCE_EXHAUSTED with the reason.
  grpc::Status authorize(grpc::CallbackServerContext* ctx, auth::Permission permission, const std::string& model) const;
};

// quiver::Status -> grpc::Status, through the shared status table; the message is kept.
grpc::Status to_grpc_status(const Status& status);

}  // namespace quiver::grpc_api

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
// Handlers run on the completion-queue threads (api/grpc/completion_queues.h) and
// never wait there for a model: ModelInfer answers its call from the servable's worker
// thread when the result arrives (or at once, when a small idle model runs inline);
// repository load and unload answer from the repository's waiter thread.
// Thread-safety: handlers run concurrently on the queue threads; the object's state
// is written only by post_calls(), before the queues start. The referenced modules
// must outlive the gRPC server that runs it.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "api/grpc/completion_queues.h"
#include "api/grpc/unary_call.h"
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

// The calls' types, as handlers see them.
using ServerLiveCall = UnaryCall<inference::ServerLiveRequest, inference::ServerLiveResponse>;
using ServerReadyCall = UnaryCall<inference::ServerReadyRequest, inference::ServerReadyResponse>;
using ModelReadyCall = UnaryCall<inference::ModelReadyRequest, inference::ModelReadyResponse>;
using ServerMetadataCall = UnaryCall<inference::ServerMetadataRequest, inference::ServerMetadataResponse>;
using ModelMetadataCall = UnaryCall<inference::ModelMetadataRequest, inference::ModelMetadataResponse>;
using ModelInferCall = UnaryCall<inference::ModelInferRequest, inference::ModelInferResponse>;
using ModelConfigCall = UnaryCall<inference::ModelConfigRequest, inference::ModelConfigResponse>;
using RepositoryIndexCall = UnaryCall<inference::RepositoryIndexRequest, inference::RepositoryIndexResponse>;
using RepositoryModelLoadCall =
    UnaryCall<inference::RepositoryModelLoadRequest, inference::RepositoryModelLoadResponse>;
using RepositoryModelUnloadCall =
    UnaryCall<inference::RepositoryModelUnloadRequest, inference::RepositoryModelUnloadResponse>;

class GrpcInferenceService {
 public:
  GrpcInferenceService(routing::RoutePublisher& routes, lifecycle::LifecycleManager& manager,
                       api::InferenceService& inference, TensorLimits limits = {})
      : routes_(routes), manager_(manager), inference_(inference), limits_(limits) {}

  // Runs a handler that may block (the registry, a remote database) off the queue
  // threads, so that a slow commit never holds up the inference calls of its queue.
  using Offload = std::function<void(std::function<void()>)>;

  // Posts this service's calls on every queue (the generated AsyncService takes the
  // requests); ModelConfig and the repository calls run through `offload`. `async`,
  // `queues` and whatever `offload` runs on must outlive the queues' stop(), and so
  // must this.
  void post_calls(inference::GRPCInferenceService::AsyncService& async, CompletionQueues& queues, Offload offload);

  void ServerLive(ServerLiveCall& call);
  void ServerReady(ServerReadyCall& call);
  void ModelReady(ModelReadyCall& call);
  void ServerMetadata(ServerMetadataCall& call);
  void ModelMetadata(ModelMetadataCall& call);
  void ModelInfer(ModelInferCall& call);
  void ModelConfig(ModelConfigCall& call);
  void RepositoryIndex(RepositoryIndexCall& call);
  // Load and unload answer once the deployment has settled (or after a bound).
  void RepositoryModelLoad(RepositoryModelLoadCall& call);
  void RepositoryModelUnload(RepositoryModelUnloadCall& call);
  // ModelStreamInfer (grpc_stream_infer.cc): requests are answered in order; an error
  // fills that answer's error_message and the stream goes on. Inference for later
  // requests runs while earlier ones finish. Posts one stream call on `queue`.
  void post_stream_infer(inference::GRPCInferenceService::AsyncService& async, grpc::ServerCompletionQueue* queue,
                         LiveCalls& live);

  // Checks tokens (metadata `authorization: Bearer qv_...`) when auth is on; null: off.
  // Precondition: before the server starts.
  void set_authorizer(auth::Authorizer* authorizer) { authorizer_ = authorizer; }

  // The model repository behind ModelConfig and Repository*; null: those answer
  // UNIMPLEMENTED with a message. Precondition: before the server starts.
  void set_repository(lifecycle::ModelRepository* repository) { repository_ = repository; }

  // OK, or UNAUTHENTICATED / PERMISSION_DENIED / RESOURCE_EXHAUSTED with the reason.
  grpc::Status authorize(const grpc::ServerContext& ctx, auth::Permission permission, const std::string& model) const;
  api::InferenceService& inference() { return inference_; }
  const TensorLimits& limits() const { return limits_; }

 private:
  // Makes the method table entry for one unary method (kept in methods_). `request`:
  // the AsyncService's Request<Method> (a member of one of its bases). A blocking
  // handler runs through offload_.
  enum class Runs { kOnQueue, kOffloaded };
  template <class Req, class Resp, class RequestMember>
  const UnaryMethod<Req, Resp>& method(inference::GRPCInferenceService::AsyncService& async, RequestMember request,
                                       void (GrpcInferenceService::*handle)(UnaryCall<Req, Resp>&),
                                       Runs runs = Runs::kOnQueue);

  routing::RoutePublisher& routes_;
  lifecycle::LifecycleManager& manager_;
  api::InferenceService& inference_;
  const TensorLimits limits_;
  auth::Authorizer* authorizer_ = nullptr;
  lifecycle::ModelRepository* repository_ = nullptr;
  std::vector<std::shared_ptr<const void>> methods_;  // the UnaryMethods the posted calls point to
  Offload offload_;
};

// How long repository load and unload wait for the deployment to settle before they
// answer DEADLINE_EXCEEDED (the change stays applied and keeps going).
inline constexpr std::chrono::seconds kRepositoryWait{120};

// quiver::Status -> grpc::Status, through the shared status table; the message is kept.
grpc::Status to_grpc_status(const Status& status);

// Answers a unary call with `status` (the handlers' one way to answer).
template <class Req, class Resp>
void finish(UnaryCall<Req, Resp>& call, const Status& status) {
  call.answer(to_grpc_status(status));
}
template <class Req, class Resp>
void finish(UnaryCall<Req, Resp>& call, const grpc::Status& status) {
  call.answer(status);
}

}  // namespace quiver::grpc_api

#include "api/grpc/unimplemented_service.h"

#include <string>

namespace quiver::grpc_api {
namespace {

// posted --(a call to a method nobody serves)--> answering --> deleted
class UnimplementedCall final : public CallTag {
 public:
  static void post(grpc::AsyncGenericService& generic, grpc::ServerCompletionQueue* queue, LiveCalls& live) {
    auto* call = new UnimplementedCall(generic, queue, live);
    generic.RequestCall(&call->ctx_, &call->stream_, queue, queue, call);
  }

  void proceed(bool ok) override {
    if (!ok || answered_) {
      delete this;
      return;
    }
    post(generic_, queue_, live_);
    answered_ = true;
    stream_.Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, unimplemented_message(ctx_.method())), this);
  }

 private:
  UnimplementedCall(grpc::AsyncGenericService& generic, grpc::ServerCompletionQueue* queue, LiveCalls& live)
      : generic_(generic), queue_(queue), live_(live), stream_(&ctx_) {
    live_.added();
  }
  ~UnimplementedCall() override { live_.removed(); }

  grpc::AsyncGenericService& generic_;
  grpc::ServerCompletionQueue* const queue_;
  LiveCalls& live_;
  grpc::GenericServerContext ctx_;
  grpc::GenericServerAsyncReaderWriter stream_;
  bool answered_ = false;
};

}  // namespace

std::string unimplemented_message(const std::string& method) {
  return "method " + (method.empty() ? std::string("(unnamed)") : method) +
         " is not implemented by this server; inference.GRPCInferenceService serves ServerLive, ServerReady, "
         "ModelReady, ServerMetadata, ModelMetadata, ModelInfer, ModelStreamInfer, ModelConfig, RepositoryIndex, "
         "RepositoryModelLoad and RepositoryModelUnload";
}

void UnimplementedService::post_calls(CompletionQueues& queues) {
  for (size_t i = 0; i < queues.size(); ++i) UnimplementedCall::post(generic_, queues.queue(i), queues.live());
}

}  // namespace quiver::grpc_api

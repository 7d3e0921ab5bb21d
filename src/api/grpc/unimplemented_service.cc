#include "api/grpc/unimplemented_service.h"

#include <string>

namespace quiver::grpc_api {
namespace {

class UnimplementedReactor final : public grpc::ServerGenericBidiReactor {
 public:
  explicit UnimplementedReactor(const std::string& method) {
    Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, unimplemented_message(method)));
  }
  void OnDone() override { delete this; }
};

}  // namespace

std::string unimplemented_message(const std::string& method) {
  return "method " + (method.empty() ? std::string("(unnamed)") : method) +
         " is not implemented by this server; inference.GRPCInferenceService serves ServerLive, ServerReady, "
         "ModelReady, ServerMetadata, ModelMetadata, ModelInfer, ModelStreamInfer, ModelConfig, RepositoryIndex, "
         "RepositoryModelLoad and RepositoryModelUnload";
}

grpc::ServerGenericBidiReactor* UnimplementedService::CreateReactor(grpc::GenericCallbackServerContext* ctx) {
  return new UnimplementedReactor(ctx->method());
}

}  // namespace quiver::grpc_api

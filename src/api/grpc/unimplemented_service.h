// Answers every gRPC method the server does not serve (another service, or a method
// of the inference service Quiver leaves out, such as ModelStatistics or the shared
// memory calls) with UNIMPLEMENTED and a message naming the method, instead of gRPC's
// bare UNIMPLEMENTED with an empty message.
//
// Thread-safety: stateless; reactors run on gRPC's threads.
#pragma once

#include <grpcpp/generic/async_generic_service.h>

namespace quiver::grpc_api {

class UnimplementedService final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override;
};

// The message for a method this server does not implement.
std::string unimplemented_message(const std::string& method);

}  // namespace quiver::grpc_api

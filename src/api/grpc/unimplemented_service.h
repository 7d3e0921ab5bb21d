// Answers every gRPC method the server does not serve (another service, or a method
// of the inference service Quiver leaves out, such as ModelStatistics or the shared
// memory calls) with UNIMPLEMENTED and a message naming the method, instead of gRPC's
// bare UNIMPLEMENTED with an empty message.
//
// Thread-safety: post_calls() before the queues start; calls then run on the queues'
// threads and hold no shared state.
#pragma once

#include <string>

#include <grpcpp/generic/async_generic_service.h>

#include "api/grpc/completion_queues.h"

namespace quiver::grpc_api {

class UnimplementedService {
 public:
  // Register with the server builder before it is built.
  grpc::AsyncGenericService& generic() { return generic_; }
  // Posts one call for an unknown method on every queue. This object and `queues`
  // must outlive the queues' stop().
  void post_calls(CompletionQueues& queues);

 private:
  grpc::AsyncGenericService generic_;
};

// The message for a method this server does not implement.
std::string unimplemented_message(const std::string& method);

}  // namespace quiver::grpc_api

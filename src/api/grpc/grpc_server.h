// GrpcServer: the gRPC frontend's listener. Serves inference.GRPCInferenceService
// (api/grpc/grpc_inference_service.h) on one address with gRPC's completion-queue
// API: one queue and one thread per core (api/grpc/completion_queues.h), and no
// thread waits for a model: calls finish from the servables' worker threads.
//
// Lifetime: start() once; stop() (or the destructor) stops accepting, waits for
// in-flight calls to finish, then joins the queue threads. The modules passed to the
// constructor must outlive stop(), and the servables must keep running until stop()
// returns, since in-flight calls finish only when their model answers.
// Thread-safety: port() may be called from any thread after start(); start() and
// stop() from one owning thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "api/common/tls_context.h"
#include "core/status.h"
#include "core/tensor.h"

namespace quiver::api { class InferenceService; }
namespace quiver::lifecycle { class LifecycleManager; class ModelRepository; }
namespace quiver::routing { class RoutePublisher; }
namespace grpc { class Server; class ServerCredentials; }
namespace boost::asio { class thread_pool; }
namespace grpc::experimental { class CertificateProviderInterface; }
namespace quiver::auth { class Authorizer; }

namespace quiver::grpc_api {

class CompletionQueues;
class GrpcInferenceService;
class UnimplementedService;

// Largest request or response message, by default; tensors travel inside one message.
inline constexpr int kDefaultMaxMessageBytes = 64 << 20;

struct GrpcServerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 8001;  // 0 picks a free port
  int max_message_bytes = kDefaultMaxMessageBytes;  // larger: RESOURCE_EXHAUSTED
  uint32_t max_metadata_bytes = 16 << 10;           // request metadata (headers) per call
  uint32_t max_concurrent_streams = 100;            // calls in flight on one connection
  int threads = 0;                                  // completion queues and their threads; 0: one per core
  TensorLimits tensor_limits;                       // what a ModelInfer request may declare
  // TLS: PEM files gRPC reads, and re-reads within a second when they change (the
  // HTTP side's TlsContextProvider keeps validated copies current). Empty: plaintext.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;                   // with client_auth optional or require
  api::ClientAuth tls_client_auth = api::ClientAuth::kNone;
};

class GrpcServer {
 public:
  GrpcServer(routing::RoutePublisher& routes, lifecycle::LifecycleManager& manager, api::InferenceService& inference);
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Binds and starts serving. Unavailable when the address cannot be bound (for
  // example a port another process holds: the port is never shared).
  Status start(const GrpcServerOptions& options);
  // The bound port (the chosen one when started on port 0); 0 before start().
  uint16_t port() const { return port_; }
  // Idempotent.
  void stop();
  // Token checks for every call but health (auth/authorizer.h); null: none. Call
  // before start(); `authorizer` must outlive stop().
  void set_authorizer(auth::Authorizer* authorizer) { authorizer_ = authorizer; }
  // Serves ModelConfig and the repository calls (lifecycle/model_repository.h); null:
  // they answer UNIMPLEMENTED with a message. Call before start(); `repository` must
  // be stopped before stop() (it answers the calls waiting on it) and outlive it.
  void set_repository(lifecycle::ModelRepository* repository) { repository_ = repository; }

 private:
  struct AsyncService;  // gRPC's generated service, kept out of this header

  // Plaintext, or TLS from the options' files.
  std::shared_ptr<grpc::ServerCredentials> credentials(const GrpcServerOptions& options);

  routing::RoutePublisher& routes_;
  lifecycle::LifecycleManager& manager_;
  api::InferenceService& inference_;
  // Made by start(). Declared before server_ so that they outlive it: the server's
  // destructor still refers to the registered services and the queues.
  std::unique_ptr<GrpcInferenceService> service_;  // the handlers, with the options' limits
  std::unique_ptr<AsyncService> async_;             // gRPC's generated service: takes the requests
  std::unique_ptr<UnimplementedService> fallback_;  // every other method: UNIMPLEMENTED with a message
  std::unique_ptr<CompletionQueues> queues_;
  std::unique_ptr<boost::asio::thread_pool> blocking_;  // ModelConfig and the repository calls run here
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> certificates_;  // with TLS
  auth::Authorizer* authorizer_ = nullptr;
  lifecycle::ModelRepository* repository_ = nullptr;
  uint16_t port_ = 0;
};

}  // namespace quiver::grpc_api

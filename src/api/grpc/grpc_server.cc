#include "api/grpc/grpc_server.h"

#include <chrono>

#include "api/grpc/grpc_inference_service.h"

namespace quiver::grpc_api {
namespace {

// In-flight calls get this long to finish on stop; after it gRPC cancels them, and
// stop() still waits for their callbacks (the servables are still running then).
constexpr auto kDrainTimeout = std::chrono::seconds(30);

std::string listen_address(const std::string& host, uint16_t port) {
  // IPv6 literals need brackets before the port.
  const bool ipv6 = host.find(':') != std::string::npos && host.front() != '[';
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

GrpcServer::GrpcServer(routing::RoutePublisher& routes, lifecycle::LifecycleManager& manager,
                       api::InferenceService& inference)
    : service_(std::make_unique<GrpcInferenceService>(routes, manager, inference)) {}

GrpcServer::~GrpcServer() { stop(); }

Status GrpcServer::start(const GrpcServerOptions& options) {
  if (server_) return failed_precondition("the gRPC server is already started");
  const std::string address = listen_address(options.host, options.port);
  int bound_port = 0;
  grpc::ServerBuilder builder;
  // gRPC turns SO_REUSEPORT on by default on Linux, which would let a second server
  // silently share a port that is already taken; a taken port must be an error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &bound_port);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || bound_port == 0) {
    server_.reset();
    return unavailable("cannot listen for gRPC on " + address + " (address in use or not available)");
  }
  port_ = static_cast<uint16_t>(bound_port);
  return Status::ok();
}

void GrpcServer::stop() {
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + kDrainTimeout);
  server_->Wait();
  server_.reset();
}

}  // namespace quiver::grpc_api

#include "api/grpc/grpc_server.h"

#include <chrono>

#include <absl/synchronization/mutex.h>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "api/grpc/completion_queues.h"
#include "api/grpc/grpc_inference_service.h"
#include "api/grpc/unimplemented_service.h"

namespace quiver::grpc_api {

struct GrpcServer::AsyncService : inference::GRPCInferenceService::AsyncService {};

namespace {

// In-flight calls get this long to finish on stop; after it gRPC cancels them, and
// stop() still waits for their callbacks (the servables are still running then).
constexpr auto kDrainTimeout = std::chrono::seconds(30);

// Threads for the handlers that may block (ModelConfig and the repository calls read
// and write the registry); as many as the HTTP side's blocking pool.
constexpr int kBlockingThreads = 4;

std::string listen_address(const std::string& host, uint16_t port) {
  // IPv6 literals need brackets before the port.
  const bool ipv6 = host.find(':') != std::string::npos && host.front() != '[';
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// How often gRPC looks at the TLS files for a new certificate (its minimum).
constexpr unsigned kCertificateRefreshSeconds = 1;

grpc_ssl_client_certificate_request_type request_type(api::ClientAuth mode) {
  switch (mode) {
    case api::ClientAuth::kNone: return GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
    case api::ClientAuth::kOptional: return GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
    case api::ClientAuth::kRequire: return GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
}

}  // namespace

std::shared_ptr<grpc::ServerCredentials> GrpcServer::credentials(const GrpcServerOptions& options) {
  if (options.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  // A file watcher rather than fixed PEM strings, so that a reloaded certificate
  // reaches new connections without restarting the listener (open ones keep theirs).
  certificates_ = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      options.tls_key_file, options.tls_cert_file, options.tls_client_ca_file, kCertificateRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions tls(certificates_);
  tls.watch_identity_key_cert_pairs();
  if (!options.tls_client_ca_file.empty()) tls.watch_root_certs();
  tls.set_cert_request_type(request_type(options.tls_client_auth));
  return grpc::experimental::TlsServerCredentials(tls);
}

GrpcServer::GrpcServer(routing::RoutePublisher& routes, lifecycle::LifecycleManager& manager,
                       api::InferenceService& inference)
    : routes_(routes), manager_(manager), inference_(inference) {}

GrpcServer::~GrpcServer() { stop(); }

Status GrpcServer::start(const GrpcServerOptions& options) {
  if (server_) return failed_precondition("the gRPC server is already started");
  // gRPC's locks are absl::Mutex. Debian builds absl without NDEBUG, which leaves its
  // debug-only lock-order checking on: every lock and unlock then records the lock
  // graph under one process-wide mutex, a serialisation point shared by every gRPC
  // thread (it showed in the profile of gRPC calls). The setting is process-wide;
  // nothing else in the server uses absl::Mutex, and TSan builds find lock inversions.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::string address = listen_address(options.host, options.port);
  int bound_port = 0;
  grpc::ServerBuilder builder;
  // gRPC turns SO_REUSEPORT on by default on Linux, which would let a second server
  // silently share a port that is already taken; a taken port must be an error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(address, credentials(options), &bound_port);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, static_cast<int>(options.max_concurrent_streams));
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, static_cast<int>(options.max_metadata_bytes));
  service_ = std::make_unique<GrpcInferenceService>(routes_, manager_, inference_, options.tensor_limits);
  service_->set_authorizer(authorizer_);
  service_->set_repository(repository_);
  async_ = std::make_unique<AsyncService>();
  builder.RegisterService(async_.get());
  fallback_ = std::make_unique<UnimplementedService>();
  builder.RegisterAsyncGenericService(&fallback_->generic());
  queues_ = std::make_unique<CompletionQueues>();
  queues_->add_to(builder, options.threads);
  server_ = builder.BuildAndStart();
  if (!server_ || bound_port == 0) {
    server_.reset();
    queues_.reset();
    return unavailable("cannot listen for gRPC on " + address + " (address in use or not available)");
  }
  blocking_ = std::make_unique<boost::asio::thread_pool>(kBlockingThreads);
  service_->post_calls(*async_, *queues_, [pool = blocking_.get()](std::function<void()> run) {
    boost::asio::post(*pool, std::move(run));
  });
  fallback_->post_calls(*queues_);
  queues_->start();
  port_ = static_cast<uint16_t>(bound_port);
  return Status::ok();
}

void GrpcServer::stop() {
  if (!server_) return;
  // Stops accepting and fails the posted calls; a call a model is still computing
  // keeps its queue thread's work going until it is answered.
  server_->Shutdown(std::chrono::system_clock::now() + kDrainTimeout);
  queues_->stop();  // every call answered: nothing is left for the blocking pool
  blocking_->join();
  server_.reset();
  queues_.reset();
  blocking_.reset();
}

}  // namespace quiver::grpc_api

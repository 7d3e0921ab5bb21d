// QuiverServer: assembles one serving process from its modules (blob store,
// registry, lifecycle manager, route snapshot, HTTP and gRPC frontends) and owns them
// in the order they must stop: gRPC and HTTP first (no new requests; in-flight ones
// finish), then the lifecycle manager (drains and unloads servables), then the
// registry and store.
#pragma once

#include <memory>

#include "api/common/serve_options.h"
#include "core/status.h"

namespace quiver::server {

using api::ServeOptions;

class QuiverServer {
 public:
  static Result<std::unique_ptr<QuiverServer>> start(const ServeOptions& options);
  ~QuiverServer();
  uint16_t http_port() const;
  uint16_t grpc_port() const;
  // The management listener's port; 0 when there is none.
  uint16_t management_port() const;
  // Re-reads the TLS certificate, key and client CA (SIGHUP). New connections use
  // them; open ones keep theirs. An error keeps the previous ones. OK without TLS.
  Status reload_tls();
  // Re-reads --trusted-keys (SIGHUP): registrations and loads from then on check
  // against the new set. An error keeps the previous set.
  Status reload_trusted_keys();
  // Stops accepting, drains in-flight requests and unloads models. Idempotent.
  void stop();

 private:
  struct Parts;
  explicit QuiverServer(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace quiver::server

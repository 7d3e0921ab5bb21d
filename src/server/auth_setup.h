// The server's auth parts, assembled in one place so QuiverServer only calls two
// functions: the key store (with the first admin token), the access log, and the
// authorizer that HTTP and gRPC share.
//
// Lifetime: the parts must outlive the HTTP and gRPC servers that use them; stop()
// after those servers stopped writes the queued audit records and last-used times.
#pragma once

#include <memory>

#include "server/quiver_server.h"
#include "auth/access_log.h"
#include "auth/authorizer.h"
#include "auth/key_store.h"
#include "core/clock.h"
#include "metrics/metrics_registry.h"
#include "registry/registry.h"
#include "routing/route_table.h"

namespace quiver::http { class HttpServer; }

namespace quiver::server {

struct AuthParts {
  std::unique_ptr<auth::KeyStore> keys;
  std::unique_ptr<auth::AccessLog> access_log;
  std::unique_ptr<auth::Authorizer> authorizer;

  void stop();
};

// Loads the keys and, with --auth and no usable admin key, writes the admin token
// file. Per-model inference access is read from `routes` (the live deployments).
Result<std::unique_ptr<AuthParts>> start_auth(const ServeOptions& options, registry::Registry& registry,
                                              routing::RoutePublisher& routes, const Clock& clock,
                                              metrics::MetricsRegistry& metrics);

// Installs the request guard and registers the token and audit-verify routes.
void install_auth(http::HttpServer& server, registry::Registry& registry, AuthParts& parts);

}  // namespace quiver::server

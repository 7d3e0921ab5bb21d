#include "server/auth_setup.h"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "api/http/authz.h"
#include "api/http/http_server.h"
#include "auth/bootstrap.h"

namespace quiver::server {

void AuthParts::stop() {
  if (access_log) access_log->stop();
  if (keys) keys->stop();
}

Result<std::unique_ptr<AuthParts>> start_auth(const ServeOptions& o, registry::Registry& registry,
                                              routing::RoutePublisher& routes, const Clock& clock,
                                              metrics::MetricsRegistry& metrics) {
  auto parts = std::make_unique<AuthParts>();
  parts->keys = std::make_unique<auth::KeyStore>(registry, clock);
  QUIVER_RETURN_IF_ERROR(parts->keys->refresh());
  if (o.auth) {
    QUIVER_ASSIGN_OR_RETURN(auto written, auth::ensure_admin_token(*parts->keys, o.data_dir, clock));
    if (written) {
      // The path only: the token itself never goes to a log.
      spdlog::warn("wrote a one-time admin token to {} (mode 0600): use it to create the tokens you need "
                   "(`quiver token create`), then keep it safe or delete the file",
                   written->string());
    }
    parts->keys->start();
  } else if (!auth::is_loopback_host(o.host)) {
    spdlog::warn("serving on {} WITHOUT authentication (--insecure-no-auth): anyone who can reach the port can "
                 "push, deploy and delete",
                 o.host);
  }
  parts->access_log = std::make_unique<auth::AccessLog>(registry, &metrics);
  auth::AuthOptions ao;
  ao.enabled = o.auth;
  ao.public_inference = o.public_inference;
  ao.rate_limit = {o.rate_limit, o.rate_burst};
  parts->authorizer = std::make_unique<auth::Authorizer>(
      ao, parts->keys.get(), clock, [&routes](std::string_view model) {
        const auto table = routes.load();
        const routing::ModelEntry* entry = table->find(model);
        if (entry == nullptr || !entry->route) return InferenceAccess::kServerDefault;
        return entry->route->spec().access.inference;
      });
  return parts;
}

void install_auth(http::HttpServer& server, registry::Registry& registry, AuthParts& parts) {
  server.set_request_guard(http::make_request_guard(*parts.authorizer, parts.access_log.get()));
  http::register_auth_routes(server, registry, *parts.keys);
}

}  // namespace quiver::server

// Access control and the access audit for the HTTP API.
//
// Every route needs one permission (auth/roles.h); the table in authz.cc maps each
// (method, route pattern) to it and names the path parameter that holds the model,
// whose name is checked against the token's scope. A route missing from the table
// needs the admin role: new endpoints fail closed.
//
// Every call to a management route (/v1/..., /v2/repository/...), allowed or denied,
// becomes an access record in the audit chain (auth/access_log.h): time, key id and
// role, peer address, TLS client identity, action (method and route), resource
// (path), request id, decision, HTTP status, reason and latency. Never a token, a
// query string or a body.
//
// Thread-safety: the guard may run on any number of I/O threads at once.
#pragma once

#include <string_view>

#include "api/http/http_types.h"
#include "api/http/request_guard.h"
#include "auth/access_log.h"
#include "auth/authorizer.h"
#include "auth/roles.h"
#include "registry/registry.h"

namespace quiver::http {

struct RoutePolicy {
  auth::Permission permission = auth::Permission::kAdmin;
  bool audited = false;  // a management route: every call is recorded
};

// The policy of a route; unknown routes get {kAdmin, audited}.
RoutePolicy route_policy(std::string_view method, std::string_view pattern);

// The guard to install with HttpServer::set_request_guard. `access_log` may be null
// (nothing recorded). Both must outlive the server.
RequestGuard make_request_guard(auth::Authorizer& authorizer, auth::AccessLog* access_log);

// For handlers whose models are in the body (POST /v1/feedback): PermissionDenied
// unless the request's token may use `model`.
Status check_model_scope(const HttpRequest& request, std::string_view model, std::string_view what);
// Whether the request's token may see `model` (lists show a scoped token its models only).
inline bool in_scope(const HttpRequest& request, std::string_view model) {
  return request.model_scope.empty() || auth::scope_allows(request.model_scope, model);
}
// POST /v1/feedback: every model its body names ("model", items[].model) must be in
// the token's scope. A body that is not JSON passes (the handler reports it).
Status check_feedback_scope(const HttpRequest& request);

class HttpServer;

// POST/GET /v1/tokens, DELETE /v1/tokens/{id} and GET /v1/audit/verify
// (auth_handlers.cc). `registry` and `keys` must outlive the server.
void register_auth_routes(HttpServer& server, registry::Registry& registry, auth::KeyStore& keys);

// GET /v1/audit's query: ?model=, ?kind=change|access|all, ?limit= (1..10000), ?before=.
Result<registry::AuditQuery> audit_query_of(const HttpRequest& request);

}  // namespace quiver::http

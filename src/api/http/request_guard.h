// The server's one hook for access control and auditing (api/http/authz.h installs
// it): asked once per request whose route matched, after the header has arrived and
// before any of the body is read, so a refused upload costs nothing.
//
// Thread-safety: the guard runs on I/O threads, concurrently for different
// connections, and must not block. on_response runs on the connection's I/O thread
// just before the response is written.
#pragma once

#include <functional>
#include <optional>
#include <string_view>

#include "api/http/http_types.h"

namespace quiver::http {

struct GuardVerdict {
  std::optional<HttpResponse> refusal;              // set: answer this instead of running the route
  std::function<void(HttpResponse&)> on_response;   // optional; called once with the final response
};

// `route_pattern` is the matched route as registered, e.g. "/v1/deployments/{model}".
// The guard may fill the request's request_id, actor and model_scope.
using RequestGuard = std::function<GuardVerdict(HttpRequest& request, std::string_view route_pattern)>;

}  // namespace quiver::http

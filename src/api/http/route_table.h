// Method + path-pattern routing for the HTTP server.
//
// Patterns are literal segments and {name} segments, e.g.
// "/v2/models/{model}/versions/{version}/infer". Matching is a linear scan of a small
// table comparing segments (no regex). When several patterns match a path, the one
// whose first differing segment is a literal wins ("/v1/blobs/upload" beats
// "/v1/blobs/{sha256}").
//
// Thread-safety: add() is not thread-safe; the table is filled before the server
// starts and only read afterwards (match() is const and safe from any thread).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/http/http_types.h"
#include "core/status.h"

namespace quiver::http {

// What a route leads to: exactly one of the two is set.
struct RouteTarget {
  Handler handler;        // whole body buffered
  UploadHandler upload;   // body streamed into an UploadSink
  bool blocking = false;  // handler / UploadSink::finish run on the server's blocking pool
};

struct RouteMatch {
  enum class Kind { kFound, kWrongMethod, kNoPath };
  Kind kind = Kind::kNoPath;
  const RouteTarget* target = nullptr;             // kFound: points into the table
  std::map<std::string, std::string> path_params;  // kFound: decoded values
  std::string pattern;                             // kFound: the route as registered, "/v1/models/{model}"
  std::string allowed_methods;                     // kWrongMethod: "GET, POST"
};

class RouteTable {
 public:
  // Rejects a malformed pattern (not starting with '/', empty or duplicate {name})
  // and a (method, pattern) pair that is already registered.
  Status add(std::string method, std::string_view pattern, RouteTarget target);

  // `raw_path` is the request path still percent-encoded, without the query;
  // segments are split before decoding so "%2F" stays inside its segment.
  // Errors: InvalidArgument for a malformed percent-encoding.
  Result<RouteMatch> match(std::string_view method, std::string_view raw_path) const;

 private:
  struct Segment {
    std::string text;   // literal text, or the parameter name
    bool is_param = false;
  };
  struct Route {
    std::string method;
    std::vector<Segment> segments;
    RouteTarget target;
  };

  std::vector<Route> routes_;
};

}  // namespace quiver::http

// The request/response types that HTTP endpoint handlers see, independent of the
// HTTP library underneath (no Boost in this header), plus small helpers for JSON
// error bodies and URL decoding.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/common/json_text.h"
#include "core/params.h"
#include "core/status.h"

namespace quiver::http {

// One parsed request. Handlers receive it as shared_ptr so they can keep it (and
// tensors that view `body`) alive past the handler call, e.g. on a model worker.
// Immutable once handed to a handler; safe to read from any thread.
struct HttpRequest {
  std::string method;                               // "GET", "POST", ...
  std::string path;                                 // percent-decoded, without the query
  std::map<std::string, std::string> query;         // decoded query parameters
  Headers headers;                                  // names lower-cased
  std::map<std::string, std::string> path_params;   // from {name} segments, decoded
  std::shared_ptr<const std::string> body;          // whole body; never null
  std::string remote;                               // peer, e.g. "127.0.0.1:53422"
  // The TLS client certificate's subject common name (CN; the whole subject in RFC 2253
  // form when it has no CN), when TLS client authentication verified one (set by the
  // connection, api/http/tls_context.h); "" otherwise. Recorded in the audit log.
  std::string tls_client_identity;
  // Set by the request guard (api/http/authz.h) before the handler runs:
  std::string request_id;                // x-request-id, or one the server made up
  std::string actor;                     // "token <id> (role <r>)" when a token came; else ""
  std::vector<std::string> model_scope;  // that token's model globs; empty: no restriction

  // The header's value, "" when absent. `name` is matched case-insensitively.
  std::string header(std::string_view name) const;
};

// A response body produced piece by piece while it is written (a backup archive), so
// it never sits in memory whole. Its size is known before the first byte (it is the
// Content-Length). read() runs on the connection's I/O thread, so each call must be
// short: a buffered file read is fine.
class BodySource {
 public:
  virtual ~BodySource() = default;
  virtual uint64_t size() const = 0;
  // Fills the front of `out` with the next bytes and returns how many. An error, or 0
  // before size() bytes were produced, aborts the connection mid-body: the client sees
  // a short body, never a wrong one.
  virtual Result<size_t> read(std::span<std::byte> out) = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Extra headers. Content-Length, Transfer-Encoding and Connection are managed by
  // the server and ignored here.
  std::vector<std::pair<std::string, std::string>> headers;
  // For HEAD answers: the Content-Length a GET would carry, when the handler does not
  // build the body (e.g. a large blob). Unset: the body's size.
  std::optional<uint64_t> head_content_length;
  // When set, the body is streamed from it and `body` is ignored.
  std::shared_ptr<BodySource> stream;

  static HttpResponse json(int status, std::string body);
  // Status from status_mapping.h; body {"error": "<message>"}.
  static HttpResponse error(const Status& status);
};

// Sends the response. Call it exactly once, from any thread; further calls are
// ignored. If every copy is destroyed without a call, the client gets
// 500 {"error": "internal error: handler did not respond"}.
using Responder = std::function<void(HttpResponse)>;

// Runs on a server I/O thread: must not block. Hand slow work to another thread
// and call the Responder from there.
using Handler = std::function<void(const std::shared_ptr<HttpRequest>&, Responder)>;

// Receives a streamed request body (routes registered with route_upload) without
// the server buffering it. Calls run on a server I/O thread, one at a time per
// upload, in pieces of up to ~64 KiB: keep them short (a buffered file write is fine).
// The server destroys the sink without calling finish() when the client disconnects
// or the body is rejected, so a sink must clean up (e.g. remove a temporary file)
// in its destructor unless finish() ran. After finish() the sink is kept alive until
// the response has been written.
class UploadSink {
 public:
  virtual ~UploadSink() = default;
  // The next chunk of the body, in order. An error aborts the upload: the client
  // gets HttpResponse::error(status) and the connection is closed.
  virtual Status append(std::span<const std::byte> chunk) = 0;
  // The whole body has been received; respond like a Handler.
  virtual void finish(Responder respond) = 0;
};

// Called once the request header has arrived (`body` is empty). Returns the sink
// that will receive the body, or an error that becomes the response.
using UploadHandler =
    std::function<Result<std::unique_ptr<UploadSink>>(const std::shared_ptr<HttpRequest>& header_only)>;

// JSON string escaping (api/common/json_text.h).
using api::json_escape;

// Decodes %XX escapes; with plus_as_space, '+' becomes ' ' (query strings).
// A truncated or non-hex escape is an InvalidArgument error.
Result<std::string> percent_decode(std::string_view text, bool plus_as_space);

// Parses "a=1&b=x%20y&flag" into {a: "1", b: "x y", flag: ""}. A repeated name keeps
// its last value.
Result<std::map<std::string, std::string>> parse_query(std::string_view query);

}  // namespace quiver::http

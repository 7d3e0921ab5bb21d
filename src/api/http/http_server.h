// HTTP/1.1 server: keep-alive connections served asynchronously by a fixed pool of
// threads (no thread per connection), routing by method and path pattern to
// handlers that may answer from any thread.
//
// Per connection, requests are handled one at a time (the next one is read only
// after the previous response is written), which keeps pipelined clients correct.
// Bodies are buffered up to max_body_bytes; routes registered with route_upload
// stream their body into an UploadSink instead (up to max_upload_bytes).
//
// Thread-safety: route(), route_upload() and start() must be called before serving
// and from one thread. stop() and the destructor may be called from any thread
// except a server I/O thread (i.e. not from inside a handler).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "api/http/http_types.h"
#include "api/http/request_guard.h"
#include "core/status.h"

namespace quiver::api { class TlsContextProvider; }
namespace quiver::http { class AccessLogWriter; }

namespace quiver::http {

using api::TlsContextProvider;

// Every limit answers with its own status and a JSON error naming the limit; those
// that leave unread input close the connection after the answer. docs/security.md
// lists them with their defaults.
struct HttpServerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 8000;                          // 0 picks a free port; see port()
  int threads = 0;                               // 0: half the cores, at least 1 (see start())
  uint64_t max_body_bytes = 64ull << 20;         // buffered routes, on the wire and inflated: 413
  uint64_t max_upload_bytes = 8ull << 30;        // route_upload routes: 413
  uint32_t max_header_bytes = 16 << 10;          // request line + header fields: 431
  uint32_t max_header_fields = 100;              // header fields in one request: 431
  uint32_t max_url_bytes = 8 << 10;              // the request target: 414
  uint32_t max_json_depth = 64;                  // nesting of a buffered JSON body: 400
  // Chunks under 1 KiB in one chunked body (a flood of tiny chunks costs more to
  // parse than it carries): 400. Large chunks are bounded by the body limits alone.
  uint32_t max_small_chunks = 65536;
  uint32_t max_connections = 10000;              // open connections; one more gets 503 and is closed
  // From a new connection, or the first byte of a later request, to the end of the
  // request header (TLS handshake included): 408 and close.
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};  // no byte of the body for this long: 408 and close
  std::chrono::seconds idle_timeout{60};         // keep-alive wait for the next request; each response write
  std::chrono::milliseconds stop_grace{5000};    // stop() waits this long for in-flight responses
  // Routes this server registers: when set, route() and route_upload() skip the
  // patterns it refuses (one set of endpoint groups split over two listeners).
  std::function<bool(std::string_view method, std::string_view pattern)> route_filter;
  // Routes whose handlers may block (registry commits, disk, a remote database): their
  // handler, or an upload's finish(), runs on a pool of `blocking_threads` instead of
  // the I/O thread that read the request, so a slow commit never holds up the
  // requests of other connections. Unset: every handler runs on an I/O thread.
  std::function<bool(std::string_view method, std::string_view pattern)> blocking_route;
  int blocking_threads = 4;
  // When set, connections speak TLS with the provider's current context (tls_context.h).
  std::shared_ptr<TlsContextProvider> tls;
  // When set, every request is written to it as one JSON line (access_log.h). Every
  // response carries a W3C traceparent header either way (trace_context.h).
  std::shared_ptr<AccessLogWriter> access_log;
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();  // stop()s and joins
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Registers a route. Patterns are literal segments and {name} segments, e.g.
  // "/v2/models/{model}/versions/{version}/infer"; matched values land in
  // HttpRequest::path_params. Precondition: before start(). A malformed or duplicate
  // route makes start() fail with that error.
  void route(std::string method, std::string pattern, Handler handler);
  void route_upload(std::string method, std::string pattern, UploadHandler handler);

  // Installs the access-control and audit hook (request_guard.h). Precondition:
  // before start().
  void set_request_guard(RequestGuard guard);

  // Binds, listens and starts the I/O threads. Fails when a route was invalid, the
  // address cannot be bound, or the server was already started.
  Status start();

  // The bound port (useful with port 0); 0 before start().
  uint16_t port() const;

  // Stops accepting, closes idle connections, lets in-flight responses finish for
  // up to stop_grace, then closes what is left and joins the threads. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quiver::http

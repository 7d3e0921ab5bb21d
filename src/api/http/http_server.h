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
#include <memory>
#include <string>

#include "api/http/http_types.h"
#include "core/status.h"

namespace quiver::http {

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 8000;                          // 0 picks a free port; see port()
  int threads = 0;                               // 0: hardware concurrency, at least 2
  uint64_t max_body_bytes = 64ull << 20;         // buffered routes
  uint64_t max_upload_bytes = 8ull << 30;        // route_upload routes
  uint32_t max_header_bytes = 16 << 10;          // request line + header fields
  std::chrono::seconds idle_timeout{60};         // no byte read/written for this long: close
  std::chrono::milliseconds stop_grace{5000};    // stop() waits this long for in-flight responses
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

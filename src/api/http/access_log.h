// The structured access log (`quiver serve --access-log PATH|-`): one JSON object per
// line and per HTTP request, e.g.
//
//   {"time":"2026-12-02T01:02:03.456Z","request_id":"9f2c...","trace_id":"4bf9...",
//    "span_id":"00f0...","method":"POST","path":"/v2/models/iris/infer","kind":"infer",
//    "route":"routed","model":"iris","version":"2","status":200,"latency_ms":1.84,
//    "bytes_in":112,"bytes_out":164,"remote":"127.0.0.1:53422"}
//
// What it never holds: header values other than the ids above (no Authorization,
// no cookies), query strings (they may carry keys), bodies (tensors, tokens of text),
// and the secret part of anything shaped like an API token in the path.
//
// Cost on the request path: formatting one short line and appending it to a memory
// buffer under a mutex. A background thread writes the buffer out; a slow or full
// disk never blocks serving. When more than `max_buffered_bytes` wait, new lines are
// dropped and counted (quiver_access_log_dropped_total) rather than queued without
// bound.
//
// Thread-safety: write() and flush() may be called from any thread. The destructor
// writes out what is buffered and joins the thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "api/http/http_types.h"
#include "core/status.h"
#include "metrics/metrics.h"

namespace quiver::http {

struct AccessEntry {
  std::string time;        // UTC, ISO 8601 with milliseconds
  std::string request_id;  // x-request-id (given or made up); else the server's span id
  std::string trace_id;    // W3C trace id (trace_context.h)
  std::string span_id;     // the server's span id for this request
  std::string method;
  std::string path;        // decoded, without the query string, token secrets redacted
  std::string kind;        // endpoint group: infer, metadata, health, management, metrics, ui, other
  std::string route;       // inference only: "routed" (the deployment chose) or "pinned"
  std::string model;       // "" when the route names none
  std::string version;     // the version that answered (or was asked for); "" when none
  int status = 0;
  double latency_ms = 0;   // header received to response handed to the socket
  uint64_t bytes_in = 0;   // request body as sent (Content-Length, or as read)
  uint64_t bytes_out = 0;  // response body
  std::string remote;      // peer address
};

// One JSON line, '\n' included. Empty strings are left out.
std::string format_access_line(const AccessEntry& entry);

// Hides the secret of path segments shaped like an API token ("qv_<id>_<secret>").
std::string redact_path(std::string path);

// The endpoint group of a request path, for the "kind" field.
std::string endpoint_kind(std::string_view method, std::string_view path);

struct AccessLogOptions {
  uint64_t max_buffered_bytes = 8ull << 20;
  std::chrono::milliseconds flush_interval{200};
  metrics::Counter* dropped = nullptr;  // counts lines dropped over the buffer limit; may be null
};

class AccessLogWriter {
 public:
  // "-" writes to standard output; any other path is opened for appending (created
  // when missing).
  static Result<std::shared_ptr<AccessLogWriter>> open(const std::string& path, AccessLogOptions options = {});
  ~AccessLogWriter();
  AccessLogWriter(const AccessLogWriter&) = delete;
  AccessLogWriter& operator=(const AccessLogWriter&) = delete;

  // Formats and buffers one line; never waits for I/O.
  void write(const AccessEntry& entry);
  // Writes out everything buffered so far (tests, shutdown).
  void flush();
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  AccessLogWriter(std::FILE* file, bool owned, AccessLogOptions options);
  void run();

  std::FILE* const file_;
  const bool owned_;
  const AccessLogOptions options_;
  std::mutex mu_;  // guards pending_ and stopping_
  std::condition_variable wake_;
  std::string pending_;
  bool stopping_ = false;
  std::mutex write_mu_;  // one writer of file_ at a time
  std::atomic<uint64_t> dropped_{0};
  std::thread thread_;
};

// What the server does for every request whose header parsed: gives the request a
// span (W3C traceparent, trace_context.h) and returns the hook to run on its final
// response, which adds the `traceparent` response header and, when `log` is set,
// writes the access log line. `request` is read when the hook runs, so the path
// parameters and request id set after this call are seen.
std::function<void(HttpResponse&)> observe_request(std::shared_ptr<AccessLogWriter> log,
                                                   std::shared_ptr<const HttpRequest> request,
                                                   std::optional<uint64_t> content_length);

// Runs `first` then `second` (either may be empty).
std::function<void(HttpResponse&)> chain_hooks(std::function<void(HttpResponse&)> first,
                                               std::function<void(HttpResponse&)> second);

}  // namespace quiver::http

// The load generator behind `quiver bench`: a fixed number of HTTP/1.1 keep-alive
// connections, one worker thread each, sending the same pre-encoded inference
// request over and over and timing each one with steady_clock.
//
// Two modes:
//   - closed loop (rate == 0): every worker sends its next request as soon as the
//     previous answer is in, so `connections` requests are always in flight;
//   - fixed rate (rate > 0): request i is due at start + i/rate, taken by whichever
//     worker is free; its latency counts from when it was due, so a server that falls
//     behind shows it in the latency instead of silently getting fewer requests.
//
// The request bytes (request line, headers, body) are built once; a request is one
// send() and the answer is parsed only as far as its status and length, so the
// client adds little to the measured latency. Sockets use TCP_NODELAY and a receive
// timeout, so a stuck server ends the run with "timeout" errors rather than a hang.
//
// Thread-safety: run_load() is blocking and owns its threads; call from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "cli/bench_stats.h"
#include "core/params.h"
#include "core/status.h"

namespace quiver::cli {

struct LoadTarget {
  std::string host;    // a name or address; resolved once
  std::string port;
  std::string target;  // request target, e.g. "/v2/models/iris/infer"
  Headers headers;     // extra headers (content type, Inference-Header-Content-Length)
  std::string body;
};

struct LoadOptions {
  int connections = 1;
  double rate = 0;                                   // requests/s; 0: closed loop
  std::chrono::nanoseconds warmup{0};                // answers before this are not counted
  std::chrono::nanoseconds duration{std::chrono::seconds(10)};  // the measured window
  int64_t max_requests = 0;                          // > 0: stop after this many measured requests
  std::chrono::milliseconds request_timeout{30'000}; // per answer
  int64_t batch = 1;                                 // rows per request, for the report
};

// Builds the bytes of one HTTP/1.1 POST of `target` (Host, Content-Length and the
// extra headers set). Exposed for tests.
std::string build_http_request(const LoadTarget& target);

// Runs one load level. The measured window starts after the warmup and ends after
// `duration` or `max_requests`, whichever comes first (with max_requests alone, the
// duration still bounds the run). A Status only when the run could not start (the
// host does not resolve); refused connections and failed requests are counted as
// errors in the result, each worker reconnecting after a short pause.
Result<LevelResult> run_load(const LoadTarget& target, const LoadOptions& options);

}  // namespace quiver::cli

// The load generator behind `quiver bench`: a fixed number of workers, one thread
// each, each keeping one request in flight on its own connection, sending the same
// pre-encoded inference request over and over and timing each one with steady_clock.
// How a request travels is the worker's RequestSender: HTTP/1.1 keep-alive here,
// gRPC in bench_grpc.h; the scheduling, timing and counting are shared.
//
// Two modes:
//   - closed loop (rate == 0): every worker sends its next request as soon as the
//     previous answer is in, so `connections` requests are always in flight;
//   - fixed rate (rate > 0): request i is due at start + i/rate, taken by whichever
//     worker is free; its latency counts from when it was due, so a server that falls
//     behind shows it in the latency instead of silently getting fewer requests.
//
// The HTTP request bytes (request line, headers, body) are built once; a request is
// one send() and the answer is parsed only as far as its status and length, so the
// client adds little to the measured latency. Sockets use TCP_NODELAY and a receive
// timeout, so a stuck server ends the run with "timeout" errors rather than a hang.
//
// Thread-safety: run_load() and run_load_with() are blocking and own their threads;
// call from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
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

// What one request came to: success, or the kind of failure, which is the key of the
// error breakdown ("HTTP 503", "timeout", "gRPC UNAVAILABLE", ...).
struct RequestOutcome {
  bool ok = false;
  std::string error;     // set when !ok
  bool back_off = false; // the server looks unreachable: pause before the next try
};

// One worker's way of sending the request, owning its connection. Used only from
// that worker's thread.
class RequestSender {
 public:
  virtual ~RequestSender() = default;
  // Called before each request, outside the timed span: (re)connects when needed.
  // An outcome with !ok is counted as an error and followed by a short pause.
  virtual RequestOutcome prepare() { return {true, {}, false}; }
  // Sends the request and waits for its answer; this span is the latency.
  virtual RequestOutcome send() = 0;
};

// Makes the sender of one worker; called once per worker, from the calling thread.
using SenderFactory = std::function<std::unique_ptr<RequestSender>()>;

// Runs one load level with `options.connections` workers, each with a sender from
// `make_sender`. The measured window starts after the warmup and ends after
// `duration` or `max_requests`, whichever comes first (with max_requests alone, the
// duration still bounds the run). Failed requests are counted as errors by kind.
Result<LevelResult> run_load_with(const SenderFactory& make_sender, const LoadOptions& options);

// Runs one HTTP load level (see run_load_with). A Status only when the run could not
// start (the host does not resolve); refused connections and failed requests are counted as
// errors in the result, each worker reconnecting after a short pause.
Result<LevelResult> run_load(const LoadTarget& target, const LoadOptions& options);

}  // namespace quiver::cli

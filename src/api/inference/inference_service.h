// InferenceService: the one request path shared by every frontend (HTTP, gRPC).
// It loads the current route snapshot, picks the version (pinned, or routed by the
// deployment's rules, sticky key and weights), answers from the model's response
// cache when the deployment enables one, otherwise mirrors shadows, queues the
// request on the chosen servable and reports which version answered.
//
// Deadlines: a request may bound its time in the queue with the parameter
// "timeout_ms" or the header "x-quiver-timeout-ms" (milliseconds; 0 means none), or
// a frontend may set InferCall::deadline from its transport; the earliest wins. A
// request still queued at its deadline fails with DeadlineExceeded (HTTP 504).
// A cache hit skips shadows: nothing ran, so there is nothing to compare.
//
// It never touches the registry or a control-plane lock.
// Thread-safety: infer() may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/inference/response_cache.h"
#include "core/params.h"
#include "core/status.h"
#include "core/tensor.h"
#include "routing/route_kind.h"

namespace quiver::metrics { class MetricsRegistry; }
namespace quiver::quality { class PredictionLog; }
namespace quiver::routing {
class RoutePublisher;
class ShadowTracker;
struct Endpoint;
}  // namespace quiver::routing

namespace quiver::api {

struct InferCall {
  std::string model;
  std::optional<std::string> version;  // set: pinned to this version number or alias
  Headers headers;                     // for rules and sticky keys (names lower-cased)
  Params parameters;                   // the request's parameters, same purpose
  std::vector<Tensor> inputs;
  // A deadline the transport carries (e.g. gRPC's); combined with "timeout_ms".
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // The request's id (OIP "id", else the x-request-id header); when set, what the
  // answering version predicted is logged so feedback can join it later.
  std::string request_id;
};

struct InferOutcome {
  int64_t version = 0;  // the version that answered
  routing::RouteKind route = routing::RouteKind::kDefault;
  std::vector<Tensor> outputs;
};

// Called exactly once, from any thread. On failure `version` says which version
// failed when one was chosen (0 otherwise).
using InferCallback = std::function<void(Result<InferOutcome> outcome, int64_t version)>;

class InferenceService {
 public:
  // `predictions` (may be null: nothing is logged) must outlive the service.
  InferenceService(routing::RoutePublisher& routes, routing::ShadowTracker& shadows,
                   metrics::MetricsRegistry& metrics, quality::PredictionLog* predictions = nullptr)
      : routes_(routes), shadows_(shadows), metrics_(metrics), predictions_(predictions) {}

  void infer(InferCall call, InferCallback done);

 private:
  void count_cache(const std::string& model, int64_t version, bool hit);
  // Wraps `done` so a successful answer to a request with an id is logged in
  // predictions_ (by the version that answered, read with `endpoint`'s task); returns
  // `done` itself when there is nothing to log. (prediction_recording.cc)
  InferCallback log_predictions(InferCallback done, const InferCall& call, const routing::Endpoint& endpoint) const;
  // retry_on_baseline: runs a request that failed on a rollout's candidate again on
  // the baseline, resolved from the current route snapshot (the callback that calls
  // this must not hold a servable).
  void retry_on(const std::string& model, int64_t version, std::vector<Tensor> inputs, routing::RouteKind kind,
                std::optional<std::chrono::steady_clock::time_point> deadline, InferCallback done);

  ResponseCaches caches_;

  routing::RoutePublisher& routes_;
  routing::ShadowTracker& shadows_;
  metrics::MetricsRegistry& metrics_;
  quality::PredictionLog* predictions_;
};

}  // namespace quiver::api

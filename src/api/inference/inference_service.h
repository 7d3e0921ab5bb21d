// InferenceService: the one request path shared by every frontend (HTTP, gRPC).
// It loads the current route snapshot, picks the version (pinned, or routed by the
// deployment's rules, sticky key and weights), mirrors shadows, queues the request
// on the chosen servable and reports which version answered.
//
// It never touches the registry or a control-plane lock.
// Thread-safety: infer() may be called from any thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/params.h"
#include "core/status.h"
#include "core/tensor.h"
#include "routing/route_kind.h"

namespace quiver::metrics { class MetricsRegistry; }
namespace quiver::routing {
class RoutePublisher;
class ShadowTracker;
}  // namespace quiver::routing

namespace quiver::api {

struct InferCall {
  std::string model;
  std::optional<std::string> version;  // set: pinned to this version number or alias
  Headers headers;                     // for rules and sticky keys (names lower-cased)
  Params parameters;                   // the request's parameters, same purpose
  std::vector<Tensor> inputs;
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
  InferenceService(routing::RoutePublisher& routes, routing::ShadowTracker& shadows,
                   metrics::MetricsRegistry& metrics)
      : routes_(routes), shadows_(shadows), metrics_(metrics) {}

  void infer(InferCall call, InferCallback done);

 private:
  void count_route(const std::string& model, int64_t version, routing::RouteKind kind);

  routing::RoutePublisher& routes_;
  routing::ShadowTracker& shadows_;
  metrics::MetricsRegistry& metrics_;
};

}  // namespace quiver::api

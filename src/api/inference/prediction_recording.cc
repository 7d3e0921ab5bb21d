// The inference path's side of feedback joins: a request that carries an id has what
// its version predicted logged in the PredictionLog (quality/), per row, never the
// tensors. Kept apart from inference_service.cc so the request path reads plainly.
#include "api/inference/inference_service.h"
#include "quality/prediction.h"
#include "quality/prediction_log.h"
#include "routing/model_route.h"

namespace quiver::api {

InferCallback InferenceService::log_predictions(InferCallback done, const InferCall& call,
                                                const routing::Endpoint& endpoint) const {
  if (!predictions_ || call.request_id.empty()) return done;
  // Only what reading the prediction needs is captured (labels are looked up when
  // feedback arrives). An answer from a retry's baseline is read the same way.
  return [log = predictions_, model = call.model, id = call.request_id, kind = endpoint.task.kind,
          output = endpoint.task.output, done = std::move(done)](Result<InferOutcome> r, int64_t version) {
    if (r.is_ok()) {
      // An output that fits no task is simply not logged: feedback for it reads unknown.
      if (auto p = quality::extract_prediction(kind, output, r->outputs); p.is_ok())
        log->record(model, id, r->version, std::move(p).value());
    }
    done(std::move(r), version);
  };
}

}  // namespace quiver::api

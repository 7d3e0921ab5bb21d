// The server's SignalSource for the rollout controller and the bandit: reads the live
// route snapshot (the servables' stats), the shadow tracker and the feedback counts.
// Control plane only: it takes the shadow tracker's and quality tracker's locks.
//
// Thread-safety: read() and serving_revision() may be called from any thread.
#pragma once

#include <functional>

#include "routing/route_table.h"
#include "routing/shadow_compare.h"
#include "rollout/signals.h"

namespace quiver::server {

class RolloutSignals final : public rollout::SignalSource {
 public:
  // Adds a version's feedback counts (n, correct, rewards) to `out`.
  using FeedbackReader = std::function<void(const std::string& model, int64_t version, rollout::VersionCounters& out)>;

  RolloutSignals(routing::RoutePublisher& routes, routing::ShadowTracker& shadows, FeedbackReader feedback)
      : routes_(routes), shadows_(shadows), feedback_(std::move(feedback)) {}

  rollout::VersionCounters read(const std::string& model, int64_t version, int64_t shadow_of) const override;
  const std::vector<double>& latency_bounds() const override;
  int64_t serving_revision(const std::string& model) const override;

 private:
  routing::RoutePublisher& routes_;
  routing::ShadowTracker& shadows_;
  FeedbackReader feedback_;
};

}  // namespace quiver::server

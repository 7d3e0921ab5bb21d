#include "server/rollout_signals.h"

#include "serving/servable.h"

namespace quiver::server {

rollout::VersionCounters RolloutSignals::read(const std::string& model, int64_t version, int64_t shadow_of) const {
  rollout::VersionCounters c;
  auto table = routes_.load();
  if (const auto* entry = table->find(model); entry && entry->route) {
    if (const auto* e = entry->route->find(version)) {
      const auto& stats = e->servable->stats();
      c.requests = stats.requests();
      c.errors = stats.errors();
      c.latency_buckets = stats.latency_bucket_counts();
    }
  }
  if (shadow_of > 0)
    for (const auto& p : shadows_.stats(model))
      if (p.primary == shadow_of && p.shadow == version) {
        c.shadow_compared = p.compared;
        c.shadow_top1_rows = p.top1_rows;
        c.shadow_top1_agree = p.top1_agree;
        c.shadow_mad_sum = p.request_mad_sum;
        c.shadow_mad_sq_sum = p.request_mad_sq_sum;
      }
  if (feedback_) feedback_(model, version, c);
  return c;
}

const std::vector<double>& RolloutSignals::latency_bounds() const {
  return serving::ServableStats::latency_bucket_bounds();
}

int64_t RolloutSignals::serving_revision(const std::string& model) const {
  auto table = routes_.load();
  const auto* entry = table->find(model);
  return entry && entry->route ? entry->route->revision() : 0;
}

}  // namespace quiver::server

#include "rollout/signals.h"

#include <algorithm>

namespace quiver::rollout {
namespace {

uint64_t sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }
double subd(double a, double b) { return std::max(0.0, a - b); }

}  // namespace

VersionCounters VersionCounters::minus(const VersionCounters& e) const {
  VersionCounters d;
  d.requests = sub(requests, e.requests);
  d.errors = sub(errors, e.errors);
  d.latency_buckets = latency_buckets;
  for (size_t i = 0; i < d.latency_buckets.size() && i < e.latency_buckets.size(); ++i)
    d.latency_buckets[i] = sub(latency_buckets[i], e.latency_buckets[i]);
  d.shadow_compared = sub(shadow_compared, e.shadow_compared);
  d.shadow_top1_rows = sub(shadow_top1_rows, e.shadow_top1_rows);
  d.shadow_top1_agree = sub(shadow_top1_agree, e.shadow_top1_agree);
  d.shadow_mad_sum = subd(shadow_mad_sum, e.shadow_mad_sum);
  d.shadow_mad_sq_sum = subd(shadow_mad_sq_sum, e.shadow_mad_sq_sum);
  d.feedback_n = sub(feedback_n, e.feedback_n);
  d.correct = sub(correct, e.correct);
  d.reward_n = sub(reward_n, e.reward_n);
  d.reward_sum = subd(reward_sum, e.reward_sum);
  d.reward_sq_sum = subd(reward_sq_sum, e.reward_sq_sum);
  return d;
}

}  // namespace quiver::rollout

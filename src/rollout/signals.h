// What the rollout controller and the bandit read about live versions: cumulative
// per-version counters since the process started. The controller keeps snapshots per
// tick and differences them, so a window's numbers are exact counts, not samples.
//
// The server implements SignalSource over the servables' stats, the shadow tracker and
// the quality tracker; tests implement it with synthetic traffic.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace quiver::rollout {

struct VersionCounters {
  uint64_t requests = 0;                  // answered (success or error)
  uint64_t errors = 0;                    // server-side errors
  std::vector<uint64_t> latency_buckets;  // cumulative counts, bounds from SignalSource
  // This version as a shadow of the baseline (pair baseline -> this version).
  uint64_t shadow_compared = 0;
  uint64_t shadow_top1_rows = 0;
  uint64_t shadow_top1_agree = 0;
  double shadow_mad_sum = 0;     // sum over compared requests of each one's mean abs diff
  double shadow_mad_sq_sum = 0;
  // Feedback joined to this version's predictions.
  uint64_t feedback_n = 0;
  uint64_t correct = 0;
  uint64_t reward_n = 0;
  double reward_sum = 0;
  double reward_sq_sum = 0;

  // this - earlier, field by field (counters only grow; a restart resets them, and a
  // negative difference is read as 0).
  VersionCounters minus(const VersionCounters& earlier) const;
};

class SignalSource {
 public:
  virtual ~SignalSource() = default;
  // `shadow_of`: the baseline whose traffic this version may mirror (0: none).
  virtual VersionCounters read(const std::string& model, int64_t version, int64_t shadow_of) const = 0;
  // Upper bounds (seconds) of the latency buckets, ascending.
  virtual const std::vector<double>& latency_bounds() const = 0;
  // The revision whose route is serving the model now (0: none yet).
  virtual int64_t serving_revision(const std::string& model) const = 0;
};

}  // namespace quiver::rollout

// Replicas: the rollout controller's SignalSource over the traffic of every replica.
// It adds the other replicas' published counters (cluster/counter_exchange.h) to this
// replica's own live ones, so the leader judges a candidate on all of its traffic.
//
// local_rows() names what every replica publishes: for each live rollout, the
// baseline's counters and the candidate's (with the baseline as its shadow source),
// exactly what the controller reads; for each bandit, every arm's (its rewards).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "cluster/counter_exchange.h"
#include "registry/registry.h"
#include "rollout/signals.h"

namespace quiver::server {

class PooledSignals final : public rollout::SignalSource {
 public:
  PooledSignals(const rollout::SignalSource& local, registry::Registry& registry)
      : local_(local), registry_(registry) {}

  rollout::VersionCounters read(const std::string& model, int64_t version, int64_t shadow_of) const override;
  const std::vector<double>& latency_bounds() const override { return local_.latency_bounds(); }
  int64_t serving_revision(const std::string& model) const override { return local_.serving_revision(model); }

  // This replica's counters for every live rollout, to publish.
  std::vector<cluster::CounterRow> local_rows() const;
  // The other replicas' rows, replacing the previous set.
  void set_remote(std::vector<cluster::CounterRow> rows);

 private:
  using Key = std::tuple<std::string, int64_t, int64_t>;  // model, version, shadow_of
  const rollout::SignalSource& local_;
  registry::Registry& registry_;
  mutable std::mutex mu_;
  std::map<Key, rollout::VersionCounters> remote_;  // summed over the other replicas
};

// Field-by-field sum (counters and latency buckets).
void add_counters(rollout::VersionCounters& into, const rollout::VersionCounters& more);
std::string counters_to_json(const rollout::VersionCounters& c);
rollout::VersionCounters counters_from_json(const std::string& text);

}  // namespace quiver::server

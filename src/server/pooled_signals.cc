#include "server/pooled_signals.h"

#include <nlohmann/json.hpp>

#include "registry/deployment_spec_json.h"

namespace quiver::server {

using nlohmann::json;

void add_counters(rollout::VersionCounters& into, const rollout::VersionCounters& more) {
  into.requests += more.requests;
  into.errors += more.errors;
  if (into.latency_buckets.size() < more.latency_buckets.size()) into.latency_buckets.resize(more.latency_buckets.size());
  for (size_t i = 0; i < more.latency_buckets.size(); ++i) into.latency_buckets[i] += more.latency_buckets[i];
  into.shadow_compared += more.shadow_compared;
  into.shadow_top1_rows += more.shadow_top1_rows;
  into.shadow_top1_agree += more.shadow_top1_agree;
  into.shadow_mad_sum += more.shadow_mad_sum;
  into.shadow_mad_sq_sum += more.shadow_mad_sq_sum;
  into.feedback_n += more.feedback_n;
  into.correct += more.correct;
  into.reward_n += more.reward_n;
  into.reward_sum += more.reward_sum;
  into.reward_sq_sum += more.reward_sq_sum;
}

std::string counters_to_json(const rollout::VersionCounters& c) {
  return json{{"requests", c.requests},
              {"errors", c.errors},
              {"latency_buckets", c.latency_buckets},
              {"shadow_compared", c.shadow_compared},
              {"shadow_top1_rows", c.shadow_top1_rows},
              {"shadow_top1_agree", c.shadow_top1_agree},
              {"shadow_mad_sum", c.shadow_mad_sum},
              {"shadow_mad_sq_sum", c.shadow_mad_sq_sum},
              {"feedback_n", c.feedback_n},
              {"correct", c.correct},
              {"reward_n", c.reward_n},
              {"reward_sum", c.reward_sum},
              {"reward_sq_sum", c.reward_sq_sum}}
      .dump();
}

rollout::VersionCounters counters_from_json(const std::string& text) {
  rollout::VersionCounters c;
  const json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return c;
  const auto u = [&j](const char* k) { return j.contains(k) && j[k].is_number_unsigned() ? j[k].get<uint64_t>() : 0; };
  const auto d = [&j](const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : 0.0; };
  c.requests = u("requests");
  c.errors = u("errors");
  if (j.contains("latency_buckets") && j["latency_buckets"].is_array())
    for (const auto& b : j["latency_buckets"]) c.latency_buckets.push_back(b.is_number_unsigned() ? b.get<uint64_t>() : 0);
  c.shadow_compared = u("shadow_compared");
  c.shadow_top1_rows = u("shadow_top1_rows");
  c.shadow_top1_agree = u("shadow_top1_agree");
  c.shadow_mad_sum = d("shadow_mad_sum");
  c.shadow_mad_sq_sum = d("shadow_mad_sq_sum");
  c.feedback_n = u("feedback_n");
  c.correct = u("correct");
  c.reward_n = u("reward_n");
  c.reward_sum = d("reward_sum");
  c.reward_sq_sum = d("reward_sq_sum");
  return c;
}

rollout::VersionCounters PooledSignals::read(const std::string& model, int64_t version, int64_t shadow_of) const {
  rollout::VersionCounters out = local_.read(model, version, shadow_of);
  std::lock_guard lock(mu_);
  if (auto it = remote_.find({model, version, shadow_of}); it != remote_.end()) add_counters(out, it->second);
  return out;
}

std::vector<cluster::CounterRow> PooledSignals::local_rows() const {
  std::vector<cluster::CounterRow> rows;
  auto live = registry_.live_deployments();
  if (!live.is_ok()) return rows;
  for (const auto& rev : *live) {
    auto spec = registry::parse_deployment_spec(rev.spec_json);
    if (!spec.is_ok()) continue;
    if (spec->bandit) {  // the leader's bandit learns from every replica's rewards
      for (const auto& arm : spec->bandit->arms)
        rows.push_back({"", rev.model, arm.version, 0, counters_to_json(local_.read(rev.model, arm.version, 0))});
    }
    if (!spec->rollout) continue;
    const int64_t baseline = spec->rollout->baseline.version;
    const int64_t candidate = spec->rollout->candidate.version;
    rows.push_back({"", rev.model, baseline, 0, counters_to_json(local_.read(rev.model, baseline, 0))});
    rows.push_back({"", rev.model, candidate, baseline, counters_to_json(local_.read(rev.model, candidate, baseline))});
  }
  return rows;
}

void PooledSignals::set_remote(std::vector<cluster::CounterRow> rows) {
  std::map<Key, rollout::VersionCounters> summed;
  for (const auto& r : rows) add_counters(summed[{r.model, r.version, r.shadow_of}], counters_from_json(r.counters_json));
  std::lock_guard lock(mu_);
  remote_ = std::move(summed);
}

}  // namespace quiver::server

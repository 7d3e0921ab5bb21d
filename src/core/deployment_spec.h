// A deployment: which versions of one model are live and how routed traffic is
// split between them. Plain data shared by the control plane (registry parses and
// stores it, lifecycle loads it) and the data plane (routing compiles it into a
// route snapshot). The JSON form is API.md §3; registry/deployment_spec_json.h
// parses and validates it.
//
// Every version reference keeps what the user wrote (`ref`: "3" or "canary") and the
// number it resolved to when the revision was made, so a revision is reproducible
// even after an alias moves.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/prediction_task.h"

namespace quiver {

struct VersionRef {
  std::string ref;      // as written: a number or an alias
  int64_t version = 0;  // resolved; 0 until resolved
  bool operator==(const VersionRef&) const = default;
};

// Dynamic batching: requests to one version are merged along the first dimension.
struct BatchingConfig {
  int max_batch_size = 1;               // 1: batching off
  int64_t max_queue_delay_us = 0;       // how long the first request may wait for others
  std::vector<int> preferred_batch_sizes;  // run as soon as one of these sizes is reached
  bool operator==(const BatchingConfig&) const = default;
};

// Where a version's instances run: in the server process (fastest) or in a worker
// process of its own (a crash or OOM there touches only that version).
enum class Isolation { kInProcess, kProcess };

// When a version's instances load: with the deployment (eager), or on its first
// request, after which it may be evicted when unused under a memory budget
// (lifecycle/on_demand_loader.h).
enum class LoadPolicy { kEager, kOnDemand };

struct DeployedVersion {
  VersionRef version;
  int instances = 1;  // with max_instances: the minimum the autoscaler keeps
  // > 0: instances scale between `instances` and this with queue depth
  // (lifecycle/autoscaler.h); written `instances: {min: 1, max: 4}`. 0: fixed.
  int max_instances = 0;
  LoadPolicy load = LoadPolicy::kEager;
  BatchingConfig batching;
  int max_queue = 1024;       // queued requests beyond this get 429
  int64_t timeout_ms = 0;     // per-request deadline in the queue; 0: none
  Isolation isolation = Isolation::kInProcess;
  int64_t memory_limit_mb = 0;  // per worker process; 0: no limit
  // isolation: process only: the longest one backend call in a worker process may
  // take; then its requests fail with 504 and the worker is killed and restarted. 0: no
  // limit. (timeout_ms bounds the wait in the queue; this bounds the run.)
  int64_t worker_timeout_ms = 30'000;
  bool operator==(const DeployedVersion&) const = default;
};

// Health probes and outlier ejection for the deployment's versions.
struct HealthConfig {
  int64_t probe_interval_ms = 1000;
  int failure_threshold = 3;       // consecutive probe failures that eject a version
  double max_error_rate = 0.5;     // error share over the window that ejects a version
  int min_requests = 20;           // requests in the window before the error rate counts
  int64_t window_ms = 10000;
  bool operator==(const HealthConfig&) const = default;
};

// Optional response cache: LRU keyed by model, version and input bytes.
struct CacheConfig {
  int64_t max_entries = 0;  // 0: off
  bool operator==(const CacheConfig&) const = default;
};

// Who may call the model's inference when the server requires tokens (`access:`):
// anyone, only a token's holder, or whatever the server's --public-inference says.
enum class InferenceAccess { kServerDefault, kPublic, kToken };

struct AccessConfig {
  InferenceAccess inference = InferenceAccess::kServerDefault;
  bool operator==(const AccessConfig&) const = default;
};

struct TrafficWeight {
  VersionRef version;
  uint32_t weight = 0;
  bool operator==(const TrafficWeight&) const = default;
};

// Where a routing key or a rule's operand comes from.
enum class KeySource { kHeader, kParameter };

struct StickyConfig {
  KeySource source = KeySource::kHeader;
  std::string key;  // header name (lower case) or request parameter name
  bool operator==(const StickyConfig&) const = default;
};

enum class MatchOp { kEquals, kNotEquals, kIn, kGt, kGte, kLt, kLte };

struct RuleMatch {
  KeySource source = KeySource::kHeader;
  std::string key;
  MatchOp op = MatchOp::kEquals;
  std::vector<std::string> values;  // one for equals/not_equals, several for in
  double number = 0;                // for gt/gte/lt/lte
  bool operator==(const RuleMatch&) const = default;
};

struct RouteRule {
  RuleMatch match;
  VersionRef version;
  bool operator==(const RouteRule&) const = default;
};

struct ShadowTarget {
  VersionRef version;
  double percent = 100;  // share of routed requests mirrored, 0..100
  bool operator==(const ShadowTarget&) const = default;
};

// --- Progressive rollout (API.md §4): the controller in rollout/ walks the steps and
// writes each step's traffic as a new revision of this same spec. ---

// One step: mirror `shadow` percent to the candidate and/or give it `weight` percent of
// live traffic, then hold for `pause_ms` (or until promoted, when `manual`).
struct RolloutStep {
  std::optional<double> shadow;  // percent 0..100
  std::optional<double> weight;  // percent 0..100
  int64_t pause_ms = 0;
  bool manual = false;
  bool operator==(const RolloutStep&) const = default;
};

enum class RolloutAction { kRollback, kPause, kContinue };

// One analysis metric. Exactly one limit applies: vs the baseline (max_increase,
// max_ratio, max_decrease) or absolute (max, min).
struct AnalysisMetric {
  std::string name;  // error_rate, latency_p50, latency_p99, shadow_top1_agreement,
                     // shadow_mean_abs_diff, accuracy, mean_reward
  std::optional<double> max_increase, max_ratio, max_decrease, max, min;
  bool critical = false;  // a failure acts at once, whatever failure_limit says
  bool operator==(const AnalysisMetric&) const = default;
};

struct AnalysisConfig {
  int64_t tick_ms = 1000;
  int64_t window_ms = 30000;
  uint64_t min_samples = 100;  // per side, before a metric can pass or fail
  double alpha = 0.01;
  int failure_limit = 0;       // failing ticks tolerated before acting
  RolloutAction on_inconclusive = RolloutAction::kPause;  // at a step's end
  RolloutAction on_no_data = RolloutAction::kPause;       // at a step's end, with no candidate samples
  std::vector<AnalysisMetric> metrics;
  bool operator==(const AnalysisConfig&) const = default;
};

struct RolloutSpec {
  std::string id;  // assigned by the server when a person applies the rollout
  VersionRef baseline;
  VersionRef candidate;
  std::vector<RolloutStep> steps;
  AnalysisConfig analysis;
  RolloutAction on_failure = RolloutAction::kRollback;
  uint64_t max_candidate_errors = 0;  // hard budget over the whole rollout; 0: none
  bool retry_on_baseline = false;
  int64_t progress_deadline_ms = 0;   // 0: none
  bool operator==(const RolloutSpec&) const = default;
};

// --- Bandit routing: shares recomputed from feedback rewards every tick. ---
struct BanditSpec {
  std::vector<VersionRef> arms;
  std::string policy = "thompson";  // thompson | epsilon_greedy | ucb1
  double discount = 1.0;
  uint64_t warmup_per_arm = 50;
  double min_share = 0.02;
  double epsilon = 0.1;
  int64_t tick_ms = 1000;
  bool operator==(const BanditSpec&) const = default;
};

struct DeploymentSpec {
  std::vector<DeployedVersion> versions;  // live versions; the first is the default
  std::vector<TrafficWeight> traffic;     // empty: all to versions[0]
  std::optional<StickyConfig> sticky;
  std::vector<RouteRule> rules;  // first match wins
  std::vector<ShadowTarget> shadow;
  HealthConfig health;
  CacheConfig cache;
  std::optional<RolloutSpec> rollout;
  std::optional<BanditSpec> bandit;
  std::optional<PredictionTask> quality;  // model-wide task; a version's metadata wins
  std::string objective_json;             // the `objective:` section as JSON; empty: none
  AccessConfig access;
  // Bytes the model's on-demand versions may keep resident together; least recently
  // used ones are evicted beyond it. 0: only the server's --memory-budget applies.
  int64_t memory_budget_bytes = 0;
  bool operator==(const DeploymentSpec&) const = default;
};

}  // namespace quiver

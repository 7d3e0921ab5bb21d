// The objective: one number per version, sum of w_i * P_i over normalised metrics, so
// that "which version is best" has an answer that trades accuracy against latency,
// errors and cost the way the operator weighted them, within a resource budget.
//
// Normalisation is min-max across the versions being compared: the best value of a
// metric scores 1, the worst 0, linearly between (inverted where lower is better); when
// every version has the same value, all score 1. So scores compare versions with each
// other only; they are not absolute. A version without a weighted metric scores 0 for
// that term and the row says which metrics were missing. A version over the budget is
// scored and listed (so the operator sees what it would give) but is never the best.
//
// Thread-safety: pure functions over value types.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/status.h"

namespace quiver::rollout {

// The measured facts about one version; a metric is absent when nothing measured it.
struct VersionFacts {
  int64_t version = 0;
  std::optional<double> accuracy;    // higher is better
  std::optional<double> f1;          // higher is better
  std::optional<double> p99_ms;      // "latency_p99", lower is better
  std::optional<double> error_rate;  // lower is better
  std::optional<double> cost;        // instances x measured compute seconds; lower is better
  int instances = 0;
  double memory_mb = 0;
};

// The metric names accepted as weight keys, in a fixed order.
inline constexpr std::string_view kObjectiveMetrics[] = {"accuracy", "f1", "latency_p99", "error_rate", "cost"};

struct ObjectiveConfig {
  enum class Auto { kReport, kPromoteBest };

  std::map<std::string, double> weights;  // keys from kObjectiveMetrics; each > 0
  std::optional<int> max_instances;       // per version
  std::optional<double> max_memory_mb;    // per version
  Auto auto_action = Auto::kReport;       // what the controller does with the best
};

struct ScoreRow {
  int64_t version = 0;
  double score = 0;                          // sum of weight x normalised value
  std::map<std::string, double> normalised;  // per weighted metric, in [0, 1]
  std::vector<std::string> missing;          // weighted metrics this version lacks
  bool within_budget = true;
  std::string excluded_reason;  // why not within budget, e.g. "instances 4 > max_instances 2"
};

// InvalidArgument for an unknown metric, a weight that is not a positive finite number,
// no weights, or a non-positive budget.
Status validate(const ObjectiveConfig& config);

// Scores every version (InvalidArgument for a bad config or a version listed twice;
// an empty list gives no rows). A non-finite metric value counts as missing.
// Rows sorted best first: versions within the budget before the others, then by score
// (higher first), then by version number (lower first) so ties are stable.
Result<std::vector<ScoreRow>> score(const std::vector<VersionFacts>& versions, const ObjectiveConfig& config);

// The best version within the budget, if any (the first such row of score()'s order).
std::optional<int64_t> best_within_budget(const std::vector<ScoreRow>& rows);

// {"weights": {"accuracy": 1, ...}, "budget": {"max_instances": n, "max_memory_mb": x},
//  "auto": "promote_best" | "report"}; "budget" and "auto" are optional (default
// "report"). InvalidArgument naming the field (e.g. "objective.weights.latency: unknown
// metric ...") for anything else, unknown keys included.
Result<ObjectiveConfig> objective_from_json(const nlohmann::json& j);
nlohmann::json objective_to_json(const ObjectiveConfig& config);

std::string_view auto_action_name(ObjectiveConfig::Auto a);  // "report" | "promote_best"

// A row as JSON for the API: {"version", "score", "normalised", "missing",
// "within_budget", "excluded_reason"?}.
nlohmann::json score_row_to_json(const ScoreRow& row);

}  // namespace quiver::rollout

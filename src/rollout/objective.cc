#include "rollout/objective.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace quiver::rollout {
namespace {

bool known_metric(std::string_view name) {
  return std::find(std::begin(kObjectiveMetrics), std::end(kObjectiveMetrics), name) != std::end(kObjectiveMetrics);
}

bool lower_is_better(std::string_view metric) { return metric == "latency_p99" || metric == "error_rate" || metric == "cost"; }

std::optional<double> metric_value(const VersionFacts& f, std::string_view metric) {
  std::optional<double> v;
  if (metric == "accuracy") v = f.accuracy;
  if (metric == "f1") v = f.f1;
  if (metric == "latency_p99") v = f.p99_ms;
  if (metric == "error_rate") v = f.error_rate;
  if (metric == "cost") v = f.cost;
  if (v && !std::isfinite(*v)) v.reset();
  return v;
}

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string metric_list() {
  std::string out;
  for (std::string_view m : kObjectiveMetrics) {
    if (!out.empty()) out += ", ";
    out += m;
  }
  return out;
}

std::string budget_violation(const VersionFacts& f, const ObjectiveConfig& c) {
  std::string why;
  if (c.max_instances && f.instances > *c.max_instances) {
    why = "instances " + std::to_string(f.instances) + " > max_instances " + std::to_string(*c.max_instances);
  }
  if (c.max_memory_mb && f.memory_mb > *c.max_memory_mb) {
    if (!why.empty()) why += "; ";
    why += "memory_mb " + num(f.memory_mb) + " > max_memory_mb " + num(*c.max_memory_mb);
  }
  return why;
}

Status parse_weights(const nlohmann::json& w, ObjectiveConfig& c) {
  if (!w.is_object()) return invalid_argument("objective.weights: expected an object of metric: weight");
  if (w.empty()) return invalid_argument("objective.weights: at least one metric needs a weight");
  for (const auto& [key, value] : w.items()) {
    const std::string field = "objective.weights." + key;
    if (!known_metric(key)) return invalid_argument(field + ": unknown metric (expected one of " + metric_list() + ")");
    if (!value.is_number()) return invalid_argument(field + ": expected a number");
    const double v = value.get<double>();
    if (!(v > 0) || !std::isfinite(v)) return invalid_argument(field + ": weight must be a positive number");
    c.weights[key] = v;
  }
  return Status::ok();
}

Status parse_budget(const nlohmann::json& b, ObjectiveConfig& c) {
  if (!b.is_object()) return invalid_argument("objective.budget: expected an object");
  for (const auto& [key, value] : b.items()) {
    const std::string field = "objective.budget." + key;
    if (key == "max_instances") {
      if (!value.is_number_integer() || value.get<int64_t>() < 1 || value.get<int64_t>() > 1000000) {
        return invalid_argument(field + ": expected a positive integer");
      }
      c.max_instances = static_cast<int>(value.get<int64_t>());
    } else if (key == "max_memory_mb") {
      if (!value.is_number() || !(value.get<double>() > 0) || !std::isfinite(value.get<double>())) {
        return invalid_argument(field + ": expected a positive number");
      }
      c.max_memory_mb = value.get<double>();
    } else {
      return invalid_argument(field + ": unknown field (expected max_instances or max_memory_mb)");
    }
  }
  return Status::ok();
}

}  // namespace

std::string_view auto_action_name(ObjectiveConfig::Auto a) {
  return a == ObjectiveConfig::Auto::kPromoteBest ? "promote_best" : "report";
}

Status validate(const ObjectiveConfig& c) {
  if (c.weights.empty()) return invalid_argument("objective.weights: at least one metric needs a weight");
  for (const auto& [metric, w] : c.weights) {
    if (!known_metric(metric)) {
      return invalid_argument("objective.weights." + metric + ": unknown metric (expected one of " + metric_list() +
                              ")");
    }
    if (!(w > 0) || !std::isfinite(w)) {
      return invalid_argument("objective.weights." + metric + ": weight must be a positive number");
    }
  }
  if (c.max_instances && *c.max_instances < 1) {
    return invalid_argument("objective.budget.max_instances: expected a positive integer");
  }
  if (c.max_memory_mb && !(*c.max_memory_mb > 0)) {
    return invalid_argument("objective.budget.max_memory_mb: expected a positive number");
  }
  return Status::ok();
}

Result<std::vector<ScoreRow>> score(const std::vector<VersionFacts>& versions, const ObjectiveConfig& config) {
  QUIVER_RETURN_IF_ERROR(validate(config));
  std::set<int64_t> seen;
  for (const VersionFacts& f : versions) {
    if (!seen.insert(f.version).second) {
      return invalid_argument("objective: version " + std::to_string(f.version) + " is listed twice");
    }
  }

  // Range of each weighted metric across the versions that have it.
  std::map<std::string, std::pair<double, double>> range;
  for (const auto& [metric, w] : config.weights) {
    for (const VersionFacts& f : versions) {
      const auto v = metric_value(f, metric);
      if (!v) continue;
      auto [it, inserted] = range.try_emplace(metric, *v, *v);
      if (!inserted) {
        it->second.first = std::min(it->second.first, *v);
        it->second.second = std::max(it->second.second, *v);
      }
    }
  }

  std::vector<ScoreRow> rows;
  rows.reserve(versions.size());
  for (const VersionFacts& f : versions) {
    ScoreRow row;
    row.version = f.version;
    for (const auto& [metric, w] : config.weights) {
      const auto v = metric_value(f, metric);
      double p = 0;
      if (!v) {
        row.missing.push_back(metric);
      } else {
        const auto [lo, hi] = range.at(metric);
        if (hi > lo) {
          p = lower_is_better(metric) ? (hi - *v) / (hi - lo) : (*v - lo) / (hi - lo);
        } else {
          p = 1;  // every version that has it is equally good
        }
      }
      row.normalised[metric] = p;
      row.score += w * p;
    }
    row.excluded_reason = budget_violation(f, config);
    row.within_budget = row.excluded_reason.empty();
    rows.push_back(std::move(row));
  }
  std::sort(rows.begin(), rows.end(), [](const ScoreRow& a, const ScoreRow& b) {
    if (a.within_budget != b.within_budget) return a.within_budget;
    if (a.score != b.score) return a.score > b.score;
    return a.version < b.version;
  });
  return rows;
}

std::optional<int64_t> best_within_budget(const std::vector<ScoreRow>& rows) {
  for (const ScoreRow& r : rows) {
    if (r.within_budget) return r.version;
  }
  return std::nullopt;
}

Result<ObjectiveConfig> objective_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return invalid_argument("objective: expected an object with \"weights\"");
  ObjectiveConfig c;
  if (!j.contains("weights")) return invalid_argument("objective.weights: missing");
  for (const auto& [key, value] : j.items()) {
    if (key == "weights") {
      QUIVER_RETURN_IF_ERROR(parse_weights(value, c));
    } else if (key == "budget") {
      QUIVER_RETURN_IF_ERROR(parse_budget(value, c));
    } else if (key == "auto") {
      if (!value.is_string()) return invalid_argument("objective.auto: expected \"promote_best\" or \"report\"");
      const auto name = value.get<std::string>();
      if (name == "promote_best") {
        c.auto_action = ObjectiveConfig::Auto::kPromoteBest;
      } else if (name == "report") {
        c.auto_action = ObjectiveConfig::Auto::kReport;
      } else {
        return invalid_argument("objective.auto: unknown value '" + name + "' (expected promote_best or report)");
      }
    } else {
      return invalid_argument("objective." + key + ": unknown field (expected weights, budget or auto)");
    }
  }
  return c;
}

nlohmann::json objective_to_json(const ObjectiveConfig& c) {
  nlohmann::json j;
  j["weights"] = nlohmann::json::object();
  for (const auto& [metric, w] : c.weights) j["weights"][metric] = w;
  if (c.max_instances || c.max_memory_mb) {
    j["budget"] = nlohmann::json::object();
    if (c.max_instances) j["budget"]["max_instances"] = *c.max_instances;
    if (c.max_memory_mb) j["budget"]["max_memory_mb"] = *c.max_memory_mb;
  }
  j["auto"] = std::string(auto_action_name(c.auto_action));
  return j;
}

nlohmann::json score_row_to_json(const ScoreRow& r) {
  nlohmann::json j = {{"version", r.version},
                      {"score", r.score},
                      {"normalised", r.normalised},
                      {"missing", r.missing},
                      {"within_budget", r.within_budget}};
  if (!r.within_budget) j["excluded_reason"] = r.excluded_reason;
  return j;
}

}  // namespace quiver::rollout

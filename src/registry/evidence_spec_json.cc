#include "registry/evidence_spec_json.h"

#include "registry/spec_json_fields.h"

#include <cctype>
#include <cmath>
#include <set>

namespace quiver::registry {
namespace {

using nlohmann::json;
using ordered_json = nlohmann::ordered_json;

const std::set<std::string> kMetricNames = {"error_rate",           "latency_p50",          "latency_p99",
                                            "shadow_top1_agreement", "shadow_mean_abs_diff", "accuracy",
                                            "mean_reward"};

Result<double> number_in(const json& v, const std::string& where, double lo, double hi) {
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < lo || v.get<double>() > hi)
    return invalid_argument(where + " must be a number from " + json(lo).dump() + " to " + json(hi).dump() +
                            ", not " + v.dump());
  return v.get<double>();
}

Result<uint64_t> count_of(const json& v, const std::string& where) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0)
    return invalid_argument(where + " must be a non-negative integer, not " + v.dump());
  return v.get<uint64_t>();
}

Result<VersionRef> ref_of(const json& v, const std::string& where) {
  VersionRef ref;
  if (v.is_string() && !v.get<std::string>().empty()) {
    ref.ref = v.get<std::string>();
  } else if (v.is_number_integer() && v.get<int64_t>() > 0) {
    ref.ref = std::to_string(v.get<int64_t>());
  } else {
    return invalid_argument(where + " must be a version number or an alias, not " + v.dump());
  }
  return ref;
}

Result<RolloutAction> action_of(const json& v, const std::string& where, bool allow_continue) {
  if (v == "rollback") return RolloutAction::kRollback;
  if (v == "pause") return RolloutAction::kPause;
  if (allow_continue && v == "continue") return RolloutAction::kContinue;
  return invalid_argument(where + " must be " + std::string(allow_continue ? "pause, rollback or continue" : "rollback or pause") +
                          ", not " + v.dump());
}

std::string_view action_name(RolloutAction a) {
  switch (a) {
    case RolloutAction::kRollback: return "rollback";
    case RolloutAction::kPause: return "pause";
    case RolloutAction::kContinue: return "continue";
  }
  return "pause";
}

Status parse_metric(const json& m, const std::string& where, AnalysisMetric& metric) {
  QUIVER_RETURN_IF_ERROR(
      only_fields(m, {"name", "max_increase", "max_ratio", "max_decrease", "max", "min", "critical"}, where));
  if (!m.contains("name") || !m["name"].is_string()) return invalid_argument(where + ": missing field 'name'");
  metric.name = m["name"].get<std::string>();
  if (!kMetricNames.count(metric.name))
    return invalid_argument(where + ".name '" + metric.name +
                            "' is not a metric; use error_rate, latency_p50, latency_p99, shadow_top1_agreement, "
                            "shadow_mean_abs_diff, accuracy or mean_reward");
  int limits = 0;
  auto take = [&](const char* key, std::optional<double>& out, double lo, double hi) -> Status {
    if (!m.contains(key)) return Status::ok();
    QUIVER_ASSIGN_OR_RETURN(double v, number_in(m[key], where + "." + key, lo, hi));
    out = v;
    ++limits;
    return Status::ok();
  };
  QUIVER_RETURN_IF_ERROR(take("max_increase", metric.max_increase, 0, 1e9));
  QUIVER_RETURN_IF_ERROR(take("max_ratio", metric.max_ratio, 1, 1e6));
  QUIVER_RETURN_IF_ERROR(take("max_decrease", metric.max_decrease, 0, 1e9));
  QUIVER_RETURN_IF_ERROR(take("max", metric.max, -1e12, 1e12));
  QUIVER_RETURN_IF_ERROR(take("min", metric.min, -1e12, 1e12));
  if (limits != 1)
    return invalid_argument(where + " must set exactly one limit: max_increase, max_ratio, max_decrease, max or min");
  const bool lower_is_worse = metric.name == "shadow_top1_agreement" || metric.name == "accuracy" ||
                              metric.name == "mean_reward";
  if (lower_is_worse && (metric.max_increase || metric.max_ratio || metric.max))
    return invalid_argument(where + ": " + metric.name + " is better when higher; limit it with min or max_decrease");
  if (!lower_is_worse && (metric.max_decrease || metric.min))
    return invalid_argument(where + ": " + metric.name + " is better when lower; limit it with max, max_increase or max_ratio");
  if (metric.name.rfind("shadow_", 0) == 0 && !(metric.max || metric.min))
    return invalid_argument(where + ": " + metric.name + " compares the candidate with the baseline already; give an absolute min or max");
  if (m.contains("critical")) {
    if (!m["critical"].is_boolean()) return invalid_argument(where + ".critical must be true or false");
    metric.critical = m["critical"].get<bool>();
  }
  return Status::ok();
}

Status parse_analysis(const json& a, AnalysisConfig& cfg) {
  const std::string w = "rollout.analysis";
  QUIVER_RETURN_IF_ERROR(only_fields(
      a, {"tick", "window", "min_samples", "alpha", "failure_limit", "on_inconclusive", "on_no_data", "metrics"}, w));
  if (a.contains("tick")) {
    QUIVER_ASSIGN_OR_RETURN(cfg.tick_ms, parse_duration_ms(a["tick"], w + ".tick"));
  }
  if (a.contains("window")) {
    QUIVER_ASSIGN_OR_RETURN(cfg.window_ms, parse_duration_ms(a["window"], w + ".window"));
  }
  if (a.contains("min_samples")) {
    QUIVER_ASSIGN_OR_RETURN(cfg.min_samples, count_of(a["min_samples"], w + ".min_samples"));
  }
  if (a.contains("alpha")) {
    QUIVER_ASSIGN_OR_RETURN(cfg.alpha, number_in(a["alpha"], w + ".alpha", 1e-9, 0.5));
  }
  if (a.contains("failure_limit")) {
    QUIVER_ASSIGN_OR_RETURN(auto n, count_of(a["failure_limit"], w + ".failure_limit"));
    cfg.failure_limit = static_cast<int>(std::min<uint64_t>(n, 1'000'000));
  }
  if (a.contains("on_inconclusive")) {
    QUIVER_ASSIGN_OR_RETURN(cfg.on_inconclusive, action_of(a["on_inconclusive"], w + ".on_inconclusive", true));
  }
  if (a.contains("on_no_data")) {
    QUIVER_ASSIGN_OR_RETURN(cfg.on_no_data, action_of(a["on_no_data"], w + ".on_no_data", true));
  }
  if (cfg.tick_ms < 10) return invalid_argument(w + ".tick must be at least 10ms");
  if (cfg.window_ms < cfg.tick_ms) return invalid_argument(w + ".window must be at least one tick");
  if (a.contains("metrics")) {
    if (!a["metrics"].is_array()) return invalid_argument(w + ".metrics must be an array");
    std::set<std::string> seen;
    for (size_t i = 0; i < a["metrics"].size(); ++i) {
      AnalysisMetric metric;
      QUIVER_RETURN_IF_ERROR(parse_metric(a["metrics"][i], w + ".metrics[" + std::to_string(i) + "]", metric));
      if (!seen.insert(metric.name).second) return invalid_argument(w + ".metrics names " + metric.name + " twice");
      cfg.metrics.push_back(std::move(metric));
    }
  }
  return Status::ok();
}

Status parse_step(const json& s, const std::string& where, RolloutStep& step) {
  QUIVER_RETURN_IF_ERROR(only_fields(s, {"shadow", "weight", "pause"}, where));
  if (s.contains("shadow")) {
    QUIVER_ASSIGN_OR_RETURN(step.shadow, number_in(s["shadow"], where + ".shadow", 0, 100));
  }
  if (s.contains("weight")) {
    QUIVER_ASSIGN_OR_RETURN(step.weight, number_in(s["weight"], where + ".weight", 0, 100));
  }
  if (s.contains("pause")) {
    if (s["pause"] == "manual") {
      step.manual = true;
    } else {
      QUIVER_ASSIGN_OR_RETURN(step.pause_ms, parse_duration_ms(s["pause"], where + ".pause"));
    }
  }
  if (!step.shadow && !step.weight && !step.manual && step.pause_ms == 0)
    return invalid_argument(where + " must set shadow, weight or pause");
  return Status::ok();
}

ordered_json metric_json(const AnalysisMetric& m) {
  ordered_json j;
  j["name"] = m.name;
  if (m.max_increase) j["max_increase"] = number_json(*m.max_increase);
  if (m.max_ratio) j["max_ratio"] = number_json(*m.max_ratio);
  if (m.max_decrease) j["max_decrease"] = number_json(*m.max_decrease);
  if (m.max) j["max"] = number_json(*m.max);
  if (m.min) j["min"] = number_json(*m.min);
  if (m.critical) j["critical"] = true;
  return j;
}

ordered_json ref_json(const VersionRef& ref) {
  if (ref.version > 0) return ordered_json{{"version", ref.ref}, {"resolved_version", ref.version}};
  return ordered_json{{"version", ref.ref}};
}

// Refs in these sections are objects when stored ({"version", "resolved_version"}), so
// a stored revision keeps the number an alias meant; users write a bare ref.
Result<VersionRef> section_ref(const json& v, const std::string& where) {
  if (!v.is_object()) return ref_of(v, where);
  QUIVER_RETURN_IF_ERROR(only_fields(v, {"version", "resolved_version"}, where));
  if (!v.contains("version")) return invalid_argument(where + ": missing field 'version'");
  QUIVER_ASSIGN_OR_RETURN(VersionRef ref, ref_of(v["version"], where + ".version"));
  if (v.contains("resolved_version")) {
    if (!v["resolved_version"].is_number_integer() || v["resolved_version"].get<int64_t>() <= 0)
      return invalid_argument(where + ".resolved_version must be a positive integer");
    ref.version = v["resolved_version"].get<int64_t>();
  }
  return ref;
}

}  // namespace

Result<int64_t> parse_duration_ms(const json& value, const std::string& where) {
  if (value.is_number()) {
    const double s = value.get<double>();
    if (!std::isfinite(s) || s < 0 || s > 1e9) return invalid_argument(where + " must be a non-negative duration");
    return static_cast<int64_t>(std::llround(s * 1000));
  }
  if (!value.is_string()) return invalid_argument(where + " must be a duration like \"30s\", not " + value.dump());
  const std::string text = value.get<std::string>();
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  const std::string number = text.substr(0, i), unit = text.substr(i);
  double scale = 0;
  if (unit == "ms") scale = 1;
  else if (unit == "s" || unit.empty()) scale = 1000;
  else if (unit == "m") scale = 60'000;
  else if (unit == "h") scale = 3'600'000;
  double n = 0;
  try {
    size_t used = 0;
    n = number.empty() ? -1 : std::stod(number, &used);
    if (used != number.size()) n = -1;
  } catch (...) {
    n = -1;
  }
  if (scale == 0 || n < 0 || n * scale > 1e12)
    return invalid_argument(where + ": '" + text + "' is not a duration; write e.g. \"500ms\", \"30s\", \"15m\" or \"1h\"");
  return static_cast<int64_t>(std::llround(n * scale));
}

std::string format_duration_ms(int64_t ms) {
  if (ms % 3'600'000 == 0 && ms > 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0 && ms > 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

Status parse_rollout(const json& r, RolloutSpec& rollout) {
  QUIVER_RETURN_IF_ERROR(only_fields(r, {"id", "baseline", "candidate", "steps", "analysis", "on_failure",
                                         "max_candidate_errors", "retry_on_baseline", "progress_deadline"},
                                     "rollout"));
  if (!r.contains("baseline")) return invalid_argument("rollout: missing field 'baseline'");
  if (!r.contains("candidate")) return invalid_argument("rollout: missing field 'candidate'");
  QUIVER_ASSIGN_OR_RETURN(rollout.baseline, section_ref(r["baseline"], "rollout.baseline"));
  QUIVER_ASSIGN_OR_RETURN(rollout.candidate, section_ref(r["candidate"], "rollout.candidate"));
  if (r.contains("id")) {
    if (!r["id"].is_string()) return invalid_argument("rollout.id must be a string");
    rollout.id = r["id"].get<std::string>();
  }
  if (!r.contains("steps") || !r["steps"].is_array() || r["steps"].empty())
    return invalid_argument("rollout.steps must list at least one step");
  for (size_t i = 0; i < r["steps"].size(); ++i) {
    RolloutStep step;
    QUIVER_RETURN_IF_ERROR(parse_step(r["steps"][i], "rollout.steps[" + std::to_string(i) + "]", step));
    rollout.steps.push_back(step);
  }
  if (r.contains("analysis")) QUIVER_RETURN_IF_ERROR(parse_analysis(r["analysis"], rollout.analysis));
  if (r.contains("on_failure")) {
    QUIVER_ASSIGN_OR_RETURN(rollout.on_failure, action_of(r["on_failure"], "rollout.on_failure", false));
  }
  if (r.contains("max_candidate_errors")) {
    QUIVER_ASSIGN_OR_RETURN(rollout.max_candidate_errors, count_of(r["max_candidate_errors"], "rollout.max_candidate_errors"));
  }
  if (r.contains("retry_on_baseline")) {
    if (!r["retry_on_baseline"].is_boolean()) return invalid_argument("rollout.retry_on_baseline must be true or false");
    rollout.retry_on_baseline = r["retry_on_baseline"].get<bool>();
  }
  if (r.contains("progress_deadline")) {
    QUIVER_ASSIGN_OR_RETURN(rollout.progress_deadline_ms,
                            parse_duration_ms(r["progress_deadline"], "rollout.progress_deadline"));
  }
  return Status::ok();
}

Status parse_bandit(const json& b, BanditSpec& bandit) {
  QUIVER_RETURN_IF_ERROR(
      only_fields(b, {"arms", "policy", "discount", "warmup_per_arm", "min_share", "epsilon", "tick"}, "bandit"));
  if (!b.contains("arms") || !b["arms"].is_array() || b["arms"].size() < 2)
    return invalid_argument("bandit.arms must list at least two versions");
  for (size_t i = 0; i < b["arms"].size(); ++i) {
    QUIVER_ASSIGN_OR_RETURN(auto ref, section_ref(b["arms"][i], "bandit.arms[" + std::to_string(i) + "]"));
    bandit.arms.push_back(ref);
  }
  if (b.contains("policy")) {
    const json& p = b["policy"];
    if (p != "thompson" && p != "epsilon_greedy" && p != "ucb1")
      return invalid_argument("bandit.policy must be thompson, epsilon_greedy or ucb1, not " + p.dump());
    bandit.policy = p.get<std::string>();
  }
  if (b.contains("discount")) {
    QUIVER_ASSIGN_OR_RETURN(bandit.discount, number_in(b["discount"], "bandit.discount", 0.5, 1));
  }
  if (b.contains("warmup_per_arm")) {
    QUIVER_ASSIGN_OR_RETURN(bandit.warmup_per_arm, count_of(b["warmup_per_arm"], "bandit.warmup_per_arm"));
  }
  if (b.contains("min_share")) {
    QUIVER_ASSIGN_OR_RETURN(bandit.min_share, number_in(b["min_share"], "bandit.min_share", 0, 1));
  }
  if (b.contains("epsilon")) {
    QUIVER_ASSIGN_OR_RETURN(bandit.epsilon, number_in(b["epsilon"], "bandit.epsilon", 0, 1));
  }
  if (b.contains("tick")) {
    QUIVER_ASSIGN_OR_RETURN(bandit.tick_ms, parse_duration_ms(b["tick"], "bandit.tick"));
  }
  if (bandit.min_share * static_cast<double>(bandit.arms.size()) > 1)
    return invalid_argument("bandit.min_share times the number of arms must not exceed 1");
  if (bandit.tick_ms < 10) return invalid_argument("bandit.tick must be at least 10ms");
  return Status::ok();
}

Status parse_quality(const json& q, PredictionTask& task) {
  QUIVER_RETURN_IF_ERROR(only_fields(q, {"task", "output", "labels"}, "quality"));
  if (q.contains("task")) {
    if (q["task"] == "classification") task.kind = TaskKind::kClassification;
    else if (q["task"] == "regression") task.kind = TaskKind::kRegression;
    else return invalid_argument("quality.task must be classification or regression, not " + q["task"].dump());
  }
  if (q.contains("output")) {
    if (!q["output"].is_string()) return invalid_argument("quality.output must be an output name");
    task.output = q["output"].get<std::string>();
  }
  if (q.contains("labels")) {
    if (!q["labels"].is_array()) return invalid_argument("quality.labels must be an array of class names");
    for (const auto& l : q["labels"]) {
      if (!l.is_string()) return invalid_argument("quality.labels must be an array of class names");
      task.labels.push_back(l.get<std::string>());
    }
  }
  return Status::ok();
}

Status parse_objective(const json& o, std::string& objective_json) {
  // The rollout module validates the weights and budget (it owns their meaning); the
  // registry only keeps the section.
  if (!o.is_object()) return invalid_argument("'objective' must be an object");
  objective_json = o.dump();
  return Status::ok();
}

Status validate_evidence_sections(const DeploymentSpec& spec) {
  auto listed = [&](const VersionRef& ref) {
    for (const auto& dv : spec.versions)
      if (dv.version.version == ref.version) return true;
    return false;
  };
  if (spec.rollout) {
    const RolloutSpec& r = *spec.rollout;
    for (const auto* ref : {&r.baseline, &r.candidate}) {
      const char* which = ref == &r.baseline ? "baseline" : "candidate";
      if (ref->version <= 0) return invalid_argument(std::string("rollout.") + which + " is not resolved to a version");
      if (!listed(*ref))
        return invalid_argument(std::string("rollout.") + which + " names version " + std::to_string(ref->version) +
                                ", which is not in versions");
    }
    if (r.baseline.version == r.candidate.version)
      return invalid_argument("rollout.candidate must differ from rollout.baseline");
    if (spec.bandit) return invalid_argument("a deployment may have a rollout or a bandit, not both");
  }
  if (spec.bandit) {
    std::set<int64_t> arms;
    for (size_t i = 0; i < spec.bandit->arms.size(); ++i) {
      const auto& arm = spec.bandit->arms[i];
      const std::string where = "bandit.arms[" + std::to_string(i) + "]";
      if (arm.version <= 0 || !listed(arm)) return invalid_argument(where + " names a version that is not in versions");
      if (!arms.insert(arm.version).second) return invalid_argument(where + " names version " + std::to_string(arm.version) + " twice");
    }
  }
  return Status::ok();
}

void write_evidence_sections(const DeploymentSpec& spec, ordered_json& out) {
  if (spec.rollout) {
    const RolloutSpec& r = *spec.rollout;
    ordered_json j;
    if (!r.id.empty()) j["id"] = r.id;
    j["baseline"] = ref_json(r.baseline);
    j["candidate"] = ref_json(r.candidate);
    ordered_json steps = ordered_json::array();
    for (const auto& s : r.steps) {
      ordered_json e = ordered_json::object();
      if (s.shadow) e["shadow"] = number_json(*s.shadow);
      if (s.weight) e["weight"] = number_json(*s.weight);
      if (s.manual) e["pause"] = "manual";
      else if (s.pause_ms > 0) e["pause"] = format_duration_ms(s.pause_ms);
      steps.push_back(std::move(e));
    }
    j["steps"] = std::move(steps);
    const AnalysisConfig& a = r.analysis;
    ordered_json aj;
    aj["tick"] = format_duration_ms(a.tick_ms);
    aj["window"] = format_duration_ms(a.window_ms);
    aj["min_samples"] = a.min_samples;
    aj["alpha"] = a.alpha;
    aj["failure_limit"] = a.failure_limit;
    aj["on_inconclusive"] = action_name(a.on_inconclusive);
    aj["on_no_data"] = action_name(a.on_no_data);
    ordered_json metrics = ordered_json::array();
    for (const auto& m : a.metrics) metrics.push_back(metric_json(m));
    aj["metrics"] = std::move(metrics);
    j["analysis"] = std::move(aj);
    j["on_failure"] = action_name(r.on_failure);
    if (r.max_candidate_errors > 0) j["max_candidate_errors"] = r.max_candidate_errors;
    if (r.retry_on_baseline) j["retry_on_baseline"] = true;
    if (r.progress_deadline_ms > 0) j["progress_deadline"] = format_duration_ms(r.progress_deadline_ms);
    out["rollout"] = std::move(j);
  }
  if (spec.bandit) {
    const BanditSpec& b = *spec.bandit;
    ordered_json j;
    ordered_json arms = ordered_json::array();
    for (const auto& arm : b.arms) arms.push_back(ref_json(arm));
    j["arms"] = std::move(arms);
    j["policy"] = b.policy;
    j["discount"] = number_json(b.discount);
    j["warmup_per_arm"] = b.warmup_per_arm;
    j["min_share"] = number_json(b.min_share);
    // Written whenever it was given a non-default value, whatever the policy, so that
    // reading back what was written gives the same spec.
    if (b.policy == "epsilon_greedy" || b.epsilon != BanditSpec{}.epsilon) j["epsilon"] = number_json(b.epsilon);
    j["tick"] = format_duration_ms(b.tick_ms);
    out["bandit"] = std::move(j);
  }
  if (spec.quality) {
    ordered_json j = ordered_json::object();
    if (spec.quality->kind != TaskKind::kAuto) j["task"] = std::string(task_kind_name(spec.quality->kind));
    if (!spec.quality->output.empty()) j["output"] = spec.quality->output;
    if (!spec.quality->labels.empty()) j["labels"] = spec.quality->labels;
    out["quality"] = std::move(j);
  }
  if (!spec.objective_json.empty()) out["objective"] = ordered_json::parse(spec.objective_json);
}

}  // namespace quiver::registry

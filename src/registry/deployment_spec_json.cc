#include "registry/deployment_spec_json.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "registry/evidence_spec_json.h"
#include "registry/registry.h"
#include "registry/serving_options_json.h"
#include "registry/spec_json_fields.h"

namespace quiver::registry {
namespace {

using nlohmann::json;
using ordered_json = nlohmann::ordered_json;

constexpr int kMaxInstances = 1024;

struct OpName {
  MatchOp op;
  std::string_view name;
};
constexpr std::array<OpName, 7> kOps = {{{MatchOp::kEquals, "equals"},
                                         {MatchOp::kNotEquals, "not_equals"},
                                         {MatchOp::kIn, "in"},
                                         {MatchOp::kGt, "gt"},
                                         {MatchOp::kGte, "gte"},
                                         {MatchOp::kLt, "lt"},
                                         {MatchOp::kLte, "lte"}}};

std::string_view op_name(MatchOp op) {
  for (const auto& o : kOps)
    if (o.op == op) return o.name;
  return "equals";
}

bool is_numeric_op(MatchOp op) {
  return op == MatchOp::kGt || op == MatchOp::kGte || op == MatchOp::kLt || op == MatchOp::kLte;
}

std::string indexed(std::string_view field, size_t i) { return std::string(field) + "[" + std::to_string(i) + "]"; }

std::string lower_case(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Shortest text that reads back as the same double: 1000 (not 1000.0), 0.1, 1e+21.
std::string shortest_number(double d) {
  std::array<char, 64> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), d);
  return ec == std::errc() ? std::string(buf.data(), end) : std::to_string(d);
}

Status check_fields(const json& obj, std::initializer_list<std::string_view> allowed, const std::string& where) {
  for (const auto& item : obj.items())
    if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end())
      return invalid_argument("unknown field '" + item.key() + "' in " + where);
  return Status::ok();
}

Result<const json*> require_object(const json& value, const std::string& where, std::string_view expected) {
  if (!value.is_object()) return invalid_argument(where + " must be an object " + std::string(expected));
  return &value;
}

// A positive integer from JSON (ints only; 3.0 is refused to keep numbers exact).
std::optional<int64_t> positive_integer(const json& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u == 0 || u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i <= 0) return std::nullopt;
    return i;
  }
  return std::nullopt;
}

std::optional<int64_t> parse_decimal(std::string_view s) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

// Reads "version" (and "resolved_version" when present) of an entry.
Result<VersionRef> parse_ref(const json& entry, const std::string& where) {
  if (!entry.contains("version")) return invalid_argument(where + ": missing field 'version'");
  const json& v = entry["version"];
  const std::string field = where + ".version";
  VersionRef ref;
  if (v.is_string()) {
    ref.ref = v.get<std::string>();
    if (ref.ref.empty()) return invalid_argument(field + " must not be empty");
    if (all_digits(ref.ref)) {
      const auto n = parse_decimal(ref.ref);
      if (!n || *n <= 0) return invalid_argument(field + ": '" + ref.ref + "' is not a positive version number");
    } else if (Status st = validate_alias_name(ref.ref); !st.is_ok()) {
      return st.with_context(field);
    }
  } else if (v.is_number_float()) {
    return invalid_argument(field + " must be a positive integer or an alias, not " + v.dump());
  } else if (v.is_number()) {
    const auto n = positive_integer(v);
    if (!n) return invalid_argument(field + " must be a positive integer, not " + v.dump());
    ref.ref = std::to_string(*n);
  } else {
    return invalid_argument(field + " must be a version number or an alias string, not " + std::string(v.type_name()));
  }

  if (entry.contains("resolved_version")) {
    const auto n = positive_integer(entry["resolved_version"]);
    if (!n) return invalid_argument(where + ".resolved_version must be a positive integer");
    if (all_digits(ref.ref) && parse_decimal(ref.ref) != n)
      return invalid_argument(where + ".resolved_version " + std::to_string(*n) + " contradicts version '" + ref.ref +
                              "'");
    ref.version = *n;
  }
  return ref;
}

Result<const json*> require_array(const json& doc, std::string_view key) {
  const json& v = doc[std::string(key)];
  if (!v.is_array()) return invalid_argument("'" + std::string(key) + "' must be an array");
  return &v;
}

// `instances: 2` (fixed) or `instances: {min: 1, max: 4}` (autoscaled).
Status parse_instances(const json& v, const std::string& where, DeployedVersion& dv) {
  const std::string range = " from 1 to " + std::to_string(kMaxInstances);
  if (v.is_object()) {
    QUIVER_RETURN_IF_ERROR(only_fields(v, {"min", "max"}, where + ".instances"));
    std::optional<int64_t> lo = v.contains("min") ? positive_integer(v["min"]) : std::optional<int64_t>(1);
    std::optional<int64_t> hi = v.contains("max") ? positive_integer(v["max"]) : std::nullopt;
    if (!lo || *lo > kMaxInstances)
      return invalid_argument(where + ".instances.min must be an integer" + range + ", not " + v["min"].dump());
    if (!hi || *hi > kMaxInstances || *hi < *lo)
      return invalid_argument(where + ".instances.max must be an integer from instances.min to " +
                              std::to_string(kMaxInstances) + ", not " + (v.contains("max") ? v["max"].dump() : "absent"));
    dv.instances = static_cast<int>(*lo);
    dv.max_instances = static_cast<int>(*hi);
    return Status::ok();
  }
  const auto n = positive_integer(v);
  if (!n || *n > kMaxInstances)
    return invalid_argument(where + ".instances must be an integer" + range + " or {min, max}, not " + v.dump());
  dv.instances = static_cast<int>(*n);
  return Status::ok();
}

Status parse_versions(const json& doc, DeploymentSpec& spec) {
  if (!doc.contains("versions"))
    return invalid_argument("missing field 'versions' in deployment spec (the versions to serve)");
  QUIVER_ASSIGN_OR_RETURN(const json* list, require_array(doc, "versions"));
  if (list->empty()) return invalid_argument("'versions' must list at least one version");
  std::set<std::string> seen;
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string where = indexed("versions", i);
    QUIVER_ASSIGN_OR_RETURN(const json* e, require_object((*list)[i], where, "such as {\"version\": \"3\"}"));
    QUIVER_RETURN_IF_ERROR(check_fields(*e, {"version", "resolved_version", "instances", "batching", "max_queue",
                                             "timeout_ms", "isolation", "memory_limit_mb", "worker_timeout_ms",
                                             "load"},
                                        where));
    DeployedVersion dv;
    QUIVER_ASSIGN_OR_RETURN(dv.version, parse_ref(*e, where));
    if (e->contains("instances")) QUIVER_RETURN_IF_ERROR(parse_instances((*e)["instances"], where, dv));
    QUIVER_RETURN_IF_ERROR(parse_version_options(*e, where, dv));
    if (!seen.insert(dv.version.ref).second)
      return invalid_argument(where + ": version '" + dv.version.ref + "' is listed twice");
    spec.versions.push_back(std::move(dv));
  }
  return Status::ok();
}

Status parse_traffic(const json& doc, DeploymentSpec& spec) {
  QUIVER_ASSIGN_OR_RETURN(const json* list, require_array(doc, "traffic"));
  std::set<std::string> seen;
  uint64_t sum = 0;
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string where = indexed("traffic", i);
    QUIVER_ASSIGN_OR_RETURN(const json* e,
                            require_object((*list)[i], where, "such as {\"version\": \"3\", \"weight\": 90}"));
    QUIVER_RETURN_IF_ERROR(check_fields(*e, {"version", "resolved_version", "weight"}, where));
    TrafficWeight tw;
    QUIVER_ASSIGN_OR_RETURN(tw.version, parse_ref(*e, where));
    if (!e->contains("weight")) return invalid_argument(where + ": missing field 'weight'");
    const json& w = (*e)["weight"];
    const bool non_negative_int = w.is_number_unsigned() || (w.is_number_integer() && w.get<int64_t>() >= 0);
    if (!non_negative_int || w.get<uint64_t>() > std::numeric_limits<uint32_t>::max())
      return invalid_argument(where + ".weight must be a non-negative integer, not " + w.dump());
    tw.weight = static_cast<uint32_t>(w.get<uint64_t>());
    sum += tw.weight;
    if (!seen.insert(tw.version.ref).second)
      return invalid_argument(where + ": version '" + tw.version.ref + "' is listed twice in traffic");
    spec.traffic.push_back(std::move(tw));
  }
  if (!spec.traffic.empty() && sum == 0)
    return invalid_argument("traffic weights sum to 0; at least one weight must be positive");
  return Status::ok();
}

// Exactly one of "header" / "parameter" in `obj`, as a non-empty string.
Status parse_key_source(const json& obj, const std::string& where, KeySource& source, std::string& key) {
  const bool has_header = obj.contains("header");
  const bool has_parameter = obj.contains("parameter");
  if (has_header == has_parameter) return invalid_argument(where + ": give exactly one of 'header' or 'parameter'");
  const char* field = has_header ? "header" : "parameter";
  const json& v = obj[field];
  if (!v.is_string() || v.get<std::string>().empty())
    return invalid_argument(where + "." + field + " must be a non-empty string");
  source = has_header ? KeySource::kHeader : KeySource::kParameter;
  // HTTP header names are case-insensitive; store one spelling so matching is exact.
  key = has_header ? lower_case(v.get<std::string>()) : v.get<std::string>();
  return Status::ok();
}

Status parse_sticky(const json& doc, DeploymentSpec& spec) {
  QUIVER_ASSIGN_OR_RETURN(const json* s, require_object(doc["sticky"], "sticky", "such as {\"header\": \"x-user-id\"}"));
  QUIVER_RETURN_IF_ERROR(check_fields(*s, {"header", "parameter"}, "sticky"));
  StickyConfig sticky;
  QUIVER_RETURN_IF_ERROR(parse_key_source(*s, "sticky", sticky.source, sticky.key));
  spec.sticky = std::move(sticky);
  return Status::ok();
}

// A rule operand compared as text: strings as given, numbers in shortest form, booleans.
Result<std::string> operand_text(const json& v, const std::string& where) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) return shortest_number(v.get<double>());
  return invalid_argument(where + " must be a string, a number or a boolean, not " + std::string(v.type_name()));
}

Result<RuleMatch> parse_match(const json& rule, const std::string& rule_where) {
  const std::string where = rule_where + ".match";
  if (!rule.contains("match")) return invalid_argument(rule_where + ": missing field 'match'");
  QUIVER_ASSIGN_OR_RETURN(const json* m,
                          require_object(rule["match"], where, "such as {\"header\": \"x-beta\", \"equals\": \"1\"}"));
  QUIVER_RETURN_IF_ERROR(
      check_fields(*m, {"header", "parameter", "equals", "not_equals", "in", "gt", "gte", "lt", "lte"}, where));
  RuleMatch match;
  QUIVER_RETURN_IF_ERROR(parse_key_source(*m, where, match.source, match.key));

  std::vector<const OpName*> found;
  for (const auto& o : kOps)
    if (m->contains(std::string(o.name))) found.push_back(&o);
  if (found.size() != 1) {
    std::string names;
    for (const OpName* o : found) names += (names.empty() ? "'" : "' and '") + std::string(o->name);
    return invalid_argument(where + ": give exactly one comparison (equals, not_equals, in, gt, gte, lt, lte); found " +
                            (found.empty() ? std::string("none") : names + "'"));
  }
  match.op = found[0]->op;
  const std::string op_field = where + "." + std::string(found[0]->name);
  const json& operand = (*m)[std::string(found[0]->name)];
  if (match.op == MatchOp::kIn) {
    if (!operand.is_array() || operand.empty()) return invalid_argument(op_field + " must be a non-empty array");
    for (size_t i = 0; i < operand.size(); ++i) {
      QUIVER_ASSIGN_OR_RETURN(std::string text, operand_text(operand[i], indexed(op_field, i)));
      match.values.push_back(std::move(text));
    }
  } else if (is_numeric_op(match.op)) {
    if (!operand.is_number()) return invalid_argument(op_field + " must be a number, not " + operand.dump());
    match.number = operand.get<double>();
  } else {
    QUIVER_ASSIGN_OR_RETURN(std::string text, operand_text(operand, op_field));
    match.values.push_back(std::move(text));
  }
  return match;
}

Status parse_rules(const json& doc, DeploymentSpec& spec) {
  QUIVER_ASSIGN_OR_RETURN(const json* list, require_array(doc, "rules"));
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string where = indexed("rules", i);
    QUIVER_ASSIGN_OR_RETURN(const json* e, require_object((*list)[i], where, "with 'match' and 'version'"));
    QUIVER_RETURN_IF_ERROR(check_fields(*e, {"match", "version", "resolved_version"}, where));
    RouteRule rule;
    QUIVER_ASSIGN_OR_RETURN(rule.match, parse_match(*e, where));
    QUIVER_ASSIGN_OR_RETURN(rule.version, parse_ref(*e, where));
    spec.rules.push_back(std::move(rule));
  }
  return Status::ok();
}

Status parse_shadow(const json& doc, DeploymentSpec& spec) {
  QUIVER_ASSIGN_OR_RETURN(const json* list, require_array(doc, "shadow"));
  std::set<std::string> seen;
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string where = indexed("shadow", i);
    QUIVER_ASSIGN_OR_RETURN(const json* e, require_object((*list)[i], where, "such as {\"version\": \"4\"}"));
    QUIVER_RETURN_IF_ERROR(check_fields(*e, {"version", "resolved_version", "percent"}, where));
    ShadowTarget target;
    QUIVER_ASSIGN_OR_RETURN(target.version, parse_ref(*e, where));
    if (e->contains("percent")) {
      const json& p = (*e)["percent"];
      if (!p.is_number() || p.get<double>() < 0 || p.get<double>() > 100)
        return invalid_argument(where + ".percent must be a number from 0 to 100, not " + p.dump());
      target.percent = p.get<double>();
    }
    if (!seen.insert(target.version.ref).second)
      return invalid_argument(where + ": version '" + target.version.ref + "' is listed twice in shadow");
    spec.shadow.push_back(std::move(target));
  }
  return Status::ok();
}

// Deeper than any spec needs. nlohmann parses iteratively, but dump() and comparisons
// recurse: an "objective" nested 200,000 levels deep overflowed the stack (found by
// fuzz_spec_json), so deeper documents are refused while parsing.
constexpr int kMaxSpecDepth = 64;

// Parses JSON, refusing an object that repeats a key (nlohmann would keep the last
// one silently, hiding a typo'd copy-paste) and nesting deeper than kMaxSpecDepth.
Result<json> parse_json_without_duplicate_keys(std::string_view text) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  bool too_deep = false;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    // Returning false discards the value, so nothing below the limit is built; the
    // rest of the text is still scanned (without recursion) and the result refused.
    if (too_deep) return false;
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxSpecDepth) {
      too_deep = true;
      return false;
    }
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty()) {
      if (!open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty())
        duplicate = parsed.get<std::string>();
    }
    return true;
  };
  json doc;
  try {
    doc = json::parse(text, callback);
  } catch (const json::exception& e) {
    std::string what = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix; keep line/column.
    if (const auto close = what.find("] "); what.starts_with("[json.exception") && close != std::string::npos)
      what = what.substr(close + 2);
    return invalid_argument("deployment spec is not valid JSON: " + what);
  }
  if (too_deep)
    return invalid_argument("deployment spec nests deeper than " + std::to_string(kMaxSpecDepth) + " levels");
  if (!duplicate.empty()) return invalid_argument("field '" + duplicate + "' is given twice in deployment spec");
  return doc;
}

// --- validation helpers ---

std::string describe(const VersionRef& ref) {
  if (all_digits(ref.ref) && parse_decimal(ref.ref) == ref.version) return "'" + ref.ref + "'";
  return "'" + ref.ref + "' (" + std::to_string(ref.version) + ")";
}

ordered_json ref_json(const VersionRef& ref) {
  ordered_json out;
  out["version"] = ref.ref;
  if (ref.version > 0) out["resolved_version"] = ref.version;
  return out;
}

}  // namespace

Result<DeploymentSpec> parse_deployment_spec(std::string_view json_text) {
  QUIVER_ASSIGN_OR_RETURN(json doc, parse_json_without_duplicate_keys(json_text));
  if (!doc.is_object()) return invalid_argument("deployment spec must be a JSON object with a 'versions' list");
  QUIVER_RETURN_IF_ERROR(check_fields(doc,
                                      {"versions", "traffic", "sticky", "rules", "shadow", "health", "cache",
                                       "rollout", "bandit", "quality", "objective", "access", "memory_budget"},
                                      "deployment spec"));
  DeploymentSpec spec;
  QUIVER_RETURN_IF_ERROR(parse_versions(doc, spec));
  if (doc.contains("traffic")) QUIVER_RETURN_IF_ERROR(parse_traffic(doc, spec));
  if (doc.contains("sticky")) QUIVER_RETURN_IF_ERROR(parse_sticky(doc, spec));
  if (doc.contains("rules")) QUIVER_RETURN_IF_ERROR(parse_rules(doc, spec));
  if (doc.contains("shadow")) QUIVER_RETURN_IF_ERROR(parse_shadow(doc, spec));
  if (doc.contains("health")) QUIVER_RETURN_IF_ERROR(parse_health(doc["health"], spec.health));
  if (doc.contains("cache")) QUIVER_RETURN_IF_ERROR(parse_cache(doc["cache"], spec.cache));
  if (doc.contains("access")) QUIVER_RETURN_IF_ERROR(parse_access(doc["access"], spec.access));
  if (doc.contains("memory_budget")) {
    QUIVER_ASSIGN_OR_RETURN(spec.memory_budget_bytes, parse_memory_budget(doc["memory_budget"], "memory_budget"));
  }
  if (doc.contains("rollout")) QUIVER_RETURN_IF_ERROR(parse_rollout(doc["rollout"], spec.rollout.emplace()));
  if (doc.contains("bandit")) QUIVER_RETURN_IF_ERROR(parse_bandit(doc["bandit"], spec.bandit.emplace()));
  if (doc.contains("quality")) QUIVER_RETURN_IF_ERROR(parse_quality(doc["quality"], spec.quality.emplace()));
  if (doc.contains("objective")) QUIVER_RETURN_IF_ERROR(parse_objective(doc["objective"], spec.objective_json));
  return spec;
}

Status validate_deployment_spec(const DeploymentSpec& spec) {
  if (spec.versions.empty()) return invalid_argument("'versions' must list at least one version");

  std::map<int64_t, const VersionRef*> listed;  // resolved number -> how it was written
  for (size_t i = 0; i < spec.versions.size(); ++i) {
    const DeployedVersion& dv = spec.versions[i];
    const std::string where = indexed("versions", i);
    if (dv.version.version <= 0)
      return invalid_argument(where + ": version '" + dv.version.ref + "' is not resolved to a version number");
    if (dv.instances < 1 || dv.instances > kMaxInstances)
      return invalid_argument(where + ".instances must be from 1 to " + std::to_string(kMaxInstances));
    if (dv.max_instances != 0 && (dv.max_instances < dv.instances || dv.max_instances > kMaxInstances))
      return invalid_argument(where + ".instances.max must be from instances.min to " + std::to_string(kMaxInstances));
    auto [it, inserted] = listed.emplace(dv.version.version, &dv.version);
    if (!inserted)
      return invalid_argument("versions lists version " + std::to_string(dv.version.version) + " twice (as '" +
                              it->second->ref + "' and '" + dv.version.ref + "')");
  }

  auto check_listed = [&](const VersionRef& ref, std::string_view section) -> Status {
    if (ref.version <= 0)
      return invalid_argument(std::string(section) + " names version '" + ref.ref +
                              "', which is not resolved to a version number");
    if (!listed.count(ref.version))
      return invalid_argument(std::string(section) + " names version " + describe(ref) + ", which is not in versions");
    return Status::ok();
  };

  std::set<int64_t> live;  // versions that may answer a routed request
  uint64_t weight_sum = 0;
  std::set<int64_t> in_traffic;
  for (const TrafficWeight& tw : spec.traffic) {
    QUIVER_RETURN_IF_ERROR(check_listed(tw.version, "traffic"));
    if (!in_traffic.insert(tw.version.version).second)
      return invalid_argument("traffic names version " + std::to_string(tw.version.version) + " twice");
    weight_sum += tw.weight;
    if (tw.weight > 0) live.insert(tw.version.version);
  }
  if (!spec.traffic.empty() && weight_sum == 0)
    return invalid_argument("traffic weights sum to 0; at least one weight must be positive");
  if (spec.traffic.empty()) live.insert(spec.versions[0].version.version);

  if (spec.sticky && spec.sticky->key.empty()) return invalid_argument("sticky: the key name must not be empty");

  for (size_t i = 0; i < spec.rules.size(); ++i) {
    const RouteRule& rule = spec.rules[i];
    const std::string where = indexed("rules", i);
    QUIVER_RETURN_IF_ERROR(check_listed(rule.version, where));
    if (rule.match.key.empty()) return invalid_argument(where + ".match: the key name must not be empty");
    const bool numeric = is_numeric_op(rule.match.op);
    if (numeric && !std::isfinite(rule.match.number))
      return invalid_argument(where + ".match." + std::string(op_name(rule.match.op)) + " must be a finite number");
    if (rule.match.op == MatchOp::kIn && rule.match.values.empty())
      return invalid_argument(where + ".match.in must list at least one value");
    if ((rule.match.op == MatchOp::kEquals || rule.match.op == MatchOp::kNotEquals) && rule.match.values.size() != 1)
      return invalid_argument(where + ".match." + std::string(op_name(rule.match.op)) + " takes exactly one value");
    live.insert(rule.version.version);
  }

  std::set<int64_t> shadowed;
  for (size_t i = 0; i < spec.shadow.size(); ++i) {
    const ShadowTarget& target = spec.shadow[i];
    QUIVER_RETURN_IF_ERROR(check_listed(target.version, "shadow"));
    if (!(target.percent >= 0 && target.percent <= 100))
      return invalid_argument(indexed("shadow", i) + ".percent must be from 0 to 100");
    if (!shadowed.insert(target.version.version).second)
      return invalid_argument("shadow names version " + std::to_string(target.version.version) + " twice");
    // Mirroring a version's own traffic to itself compares nothing and doubles its load.
    if (live.size() == 1 && *live.begin() == target.version.version)
      return invalid_argument("shadow names version " + describe(target.version) +
                              ", which is the only version serving live traffic; shadow a version that does not "
                              "serve all requests");
  }
  return validate_evidence_sections(spec);
}

std::string serialize_deployment_spec(const DeploymentSpec& spec) {
  ordered_json out;
  ordered_json versions = ordered_json::array();
  for (const DeployedVersion& dv : spec.versions) {
    ordered_json e = ref_json(dv.version);
    if (dv.max_instances > 0)
      e["instances"] = {{"min", dv.instances}, {"max", dv.max_instances}};
    else
      e["instances"] = dv.instances;
    write_version_options(dv, e);
    versions.push_back(std::move(e));
  }
  out["versions"] = std::move(versions);

  if (!spec.traffic.empty()) {
    ordered_json traffic = ordered_json::array();
    for (const TrafficWeight& tw : spec.traffic) {
      ordered_json e = ref_json(tw.version);
      e["weight"] = tw.weight;
      traffic.push_back(std::move(e));
    }
    out["traffic"] = std::move(traffic);
  }

  if (spec.sticky) {
    ordered_json sticky;
    sticky[spec.sticky->source == KeySource::kHeader ? "header" : "parameter"] = spec.sticky->key;
    out["sticky"] = std::move(sticky);
  }

  if (!spec.rules.empty()) {
    ordered_json rules = ordered_json::array();
    for (const RouteRule& rule : spec.rules) {
      ordered_json match;
      match[rule.match.source == KeySource::kHeader ? "header" : "parameter"] = rule.match.key;
      const std::string op(op_name(rule.match.op));
      if (rule.match.op == MatchOp::kIn) {
        match[op] = rule.match.values;
      } else if (is_numeric_op(rule.match.op)) {
        match[op] = number_json(rule.match.number);
      } else {
        match[op] = rule.match.values.empty() ? std::string() : rule.match.values.front();
      }
      ordered_json e;
      e["match"] = std::move(match);
      const ordered_json ref = ref_json(rule.version);
      for (const auto& item : ref.items()) e[item.key()] = item.value();
      rules.push_back(std::move(e));
    }
    out["rules"] = std::move(rules);
  }

  if (!spec.shadow.empty()) {
    ordered_json shadow = ordered_json::array();
    for (const ShadowTarget& target : spec.shadow) {
      ordered_json e = ref_json(target.version);
      e["percent"] = number_json(target.percent);
      shadow.push_back(std::move(e));
    }
    out["shadow"] = std::move(shadow);
  }
  write_deployment_options(spec, out);
  write_evidence_sections(spec, out);
  return out.dump();
}

Status resolve_version_refs(DeploymentSpec& spec, const VersionResolver& resolver) {
  auto resolve = [&](VersionRef& ref, const std::string& where) -> Status {
    if (ref.version > 0) return Status::ok();
    Result<int64_t> n = resolver(ref.ref);
    if (!n.is_ok()) return n.status().with_context(where);
    ref.version = *n;
    return Status::ok();
  };
  for (size_t i = 0; i < spec.versions.size(); ++i)
    QUIVER_RETURN_IF_ERROR(resolve(spec.versions[i].version, indexed("versions", i) + ".version"));
  for (size_t i = 0; i < spec.traffic.size(); ++i)
    QUIVER_RETURN_IF_ERROR(resolve(spec.traffic[i].version, indexed("traffic", i) + ".version"));
  for (size_t i = 0; i < spec.rules.size(); ++i)
    QUIVER_RETURN_IF_ERROR(resolve(spec.rules[i].version, indexed("rules", i) + ".version"));
  for (size_t i = 0; i < spec.shadow.size(); ++i)
    QUIVER_RETURN_IF_ERROR(resolve(spec.shadow[i].version, indexed("shadow", i) + ".version"));
  if (spec.rollout) {
    QUIVER_RETURN_IF_ERROR(resolve(spec.rollout->baseline, "rollout.baseline"));
    QUIVER_RETURN_IF_ERROR(resolve(spec.rollout->candidate, "rollout.candidate"));
  }
  if (spec.bandit)
    for (size_t i = 0; i < spec.bandit->arms.size(); ++i)
      QUIVER_RETURN_IF_ERROR(resolve(spec.bandit->arms[i], indexed("bandit.arms", i)));
  return Status::ok();
}

}  // namespace quiver::registry

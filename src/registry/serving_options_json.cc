#include "registry/serving_options_json.h"

#include "registry/spec_json_fields.h"

#include <charconv>
#include <limits>
#include <set>
#include <utility>

namespace quiver::registry {
namespace {

using nlohmann::json;

Result<int64_t> integer_in(const json& v, const std::string& where, int64_t lo, int64_t hi) {
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi)
    return invalid_argument(where + " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
                            ", not " + v.dump());
  return v.get<int64_t>();
}

}  // namespace

Status parse_version_options(const json& e, const std::string& where, DeployedVersion& dv) {
  if (e.contains("batching")) {
    const std::string w = where + ".batching";
    QUIVER_RETURN_IF_ERROR(only_fields(e["batching"], {"max_batch_size", "max_queue_delay_us", "preferred_batch_sizes"}, w));
    const json& b = e["batching"];
    if (b.contains("max_batch_size")) {
      QUIVER_ASSIGN_OR_RETURN(auto n, integer_in(b["max_batch_size"], w + ".max_batch_size", 1, 65536));
      dv.batching.max_batch_size = static_cast<int>(n);
    }
    if (b.contains("max_queue_delay_us")) {
      QUIVER_ASSIGN_OR_RETURN(dv.batching.max_queue_delay_us,
                              integer_in(b["max_queue_delay_us"], w + ".max_queue_delay_us", 0, 10'000'000));
    }
    if (b.contains("preferred_batch_sizes")) {
      if (!b["preferred_batch_sizes"].is_array()) return invalid_argument(w + ".preferred_batch_sizes must be an array");
      for (const auto& n : b["preferred_batch_sizes"]) {
        QUIVER_ASSIGN_OR_RETURN(auto size, integer_in(n, w + ".preferred_batch_sizes[]", 1, dv.batching.max_batch_size));
        dv.batching.preferred_batch_sizes.push_back(static_cast<int>(size));
      }
    }
  }
  if (e.contains("max_queue")) {
    QUIVER_ASSIGN_OR_RETURN(auto n, integer_in(e["max_queue"], where + ".max_queue", 1, 1'000'000));
    dv.max_queue = static_cast<int>(n);
  }
  if (e.contains("load")) {
    const json& v = e["load"];
    if (v == "eager") {
      dv.load = LoadPolicy::kEager;
    } else if (v == "on_demand") {
      dv.load = LoadPolicy::kOnDemand;
    } else {
      return invalid_argument(where + ".load must be \"eager\" or \"on_demand\", not " + v.dump());
    }
  }
  if (e.contains("timeout_ms")) {
    QUIVER_ASSIGN_OR_RETURN(dv.timeout_ms, integer_in(e["timeout_ms"], where + ".timeout_ms", 0, 3'600'000));
  }
  if (e.contains("isolation")) {
    const json& v = e["isolation"];
    if (v == "in_process") {
      dv.isolation = Isolation::kInProcess;
    } else if (v == "process") {
      dv.isolation = Isolation::kProcess;
    } else {
      return invalid_argument(where + ".isolation must be \"in_process\" or \"process\", not " + v.dump());
    }
  }
  if (e.contains("memory_limit_mb")) {
    QUIVER_ASSIGN_OR_RETURN(dv.memory_limit_mb,
                            integer_in(e["memory_limit_mb"], where + ".memory_limit_mb", 0, 1'048'576));
  }
  if (e.contains("worker_timeout_ms")) {
    // A model running in the server process cannot be stopped mid-call; only a worker
    // process can be killed, so the option means nothing without isolation.
    if (dv.isolation != Isolation::kProcess)
      return invalid_argument(where + ".worker_timeout_ms needs isolation: process (a model in the server process " +
                              "cannot be stopped mid-call)");
    QUIVER_ASSIGN_OR_RETURN(dv.worker_timeout_ms,
                            integer_in(e["worker_timeout_ms"], where + ".worker_timeout_ms", 0, 3'600'000));
  }
  return Status::ok();
}

void write_version_options(const DeployedVersion& dv, nlohmann::ordered_json& e) {
  const DeployedVersion defaults;
  if (dv.batching != defaults.batching) {
    nlohmann::ordered_json b;
    b["max_batch_size"] = dv.batching.max_batch_size;
    b["max_queue_delay_us"] = dv.batching.max_queue_delay_us;
    if (!dv.batching.preferred_batch_sizes.empty()) b["preferred_batch_sizes"] = dv.batching.preferred_batch_sizes;
    e["batching"] = std::move(b);
  }
  if (dv.max_queue != defaults.max_queue) e["max_queue"] = dv.max_queue;
  if (dv.timeout_ms != defaults.timeout_ms) e["timeout_ms"] = dv.timeout_ms;
  if (dv.isolation != defaults.isolation) e["isolation"] = "process";
  if (dv.memory_limit_mb != defaults.memory_limit_mb) e["memory_limit_mb"] = dv.memory_limit_mb;
  if (dv.worker_timeout_ms != defaults.worker_timeout_ms) e["worker_timeout_ms"] = dv.worker_timeout_ms;
  if (dv.load == LoadPolicy::kOnDemand) e["load"] = "on_demand";
}

Status parse_health(const json& h, HealthConfig& health) {
  QUIVER_RETURN_IF_ERROR(only_fields(
      h, {"probe_interval_ms", "failure_threshold", "max_error_rate", "min_requests", "window_ms"}, "health"));
  if (h.contains("probe_interval_ms")) {
    QUIVER_ASSIGN_OR_RETURN(health.probe_interval_ms,
                            integer_in(h["probe_interval_ms"], "health.probe_interval_ms", 10, 3'600'000));
  }
  if (h.contains("failure_threshold")) {
    QUIVER_ASSIGN_OR_RETURN(auto n, integer_in(h["failure_threshold"], "health.failure_threshold", 1, 1000));
    health.failure_threshold = static_cast<int>(n);
  }
  if (h.contains("max_error_rate")) {
    const json& v = h["max_error_rate"];
    if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 1)
      return invalid_argument("health.max_error_rate must be a number in (0, 1], not " + v.dump());
    health.max_error_rate = v.get<double>();
  }
  if (h.contains("min_requests")) {
    QUIVER_ASSIGN_OR_RETURN(auto n, integer_in(h["min_requests"], "health.min_requests", 1, 1'000'000));
    health.min_requests = static_cast<int>(n);
  }
  if (h.contains("window_ms")) {
    QUIVER_ASSIGN_OR_RETURN(health.window_ms, integer_in(h["window_ms"], "health.window_ms", 100, 3'600'000));
  }
  return Status::ok();
}

Status parse_cache(const json& c, CacheConfig& cache) {
  QUIVER_RETURN_IF_ERROR(only_fields(c, {"max_entries"}, "cache"));
  if (c.contains("max_entries")) {
    QUIVER_ASSIGN_OR_RETURN(cache.max_entries, integer_in(c["max_entries"], "cache.max_entries", 0, 100'000'000));
  }
  return Status::ok();
}

Status parse_access(const json& a, AccessConfig& access) {
  QUIVER_RETURN_IF_ERROR(only_fields(a, {"inference"}, "access"));
  if (a.contains("inference")) {
    const json& v = a["inference"];
    if (v == "public") {
      access.inference = InferenceAccess::kPublic;
    } else if (v == "token") {
      access.inference = InferenceAccess::kToken;
    } else {
      return invalid_argument("access.inference must be \"public\" or \"token\", not " + v.dump());
    }
  }
  return Status::ok();
}

Result<int64_t> parse_byte_size(std::string_view text) {
  static constexpr std::pair<std::string_view, int64_t> kSuffixes[] = {
      {"Ki", int64_t{1} << 10}, {"Mi", int64_t{1} << 20}, {"Gi", int64_t{1} << 30}, {"Ti", int64_t{1} << 40},
      {"K", 1'000},             {"M", 1'000'000},         {"G", 1'000'000'000},     {"T", 1'000'000'000'000}};
  const auto bad = [&] {
    return invalid_argument("'" + std::string(text) + "' is not a byte size; write e.g. 512Mi, 4Gi, 100M or 2048");
  };
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return bad();
  // Any int64 may be written out in plain digits (format_byte_size does for sizes no
  // unit divides), so up to 19 digits parse; from_chars refuses what overflows.
  int64_t number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, number);
  if (ec != std::errc() || end != text.data() + digits) return bad();
  const std::string_view suffix = text.substr(digits);
  int64_t unit = 1;
  if (!suffix.empty() && suffix != "B") {
    bool found = false;
    for (const auto& [name, size] : kSuffixes)
      if (suffix == name) {
        unit = size;
        found = true;
      }
    if (!found) return bad();
  }
  if (number > std::numeric_limits<int64_t>::max() / unit) return bad();
  return number * unit;
}

Result<int64_t> parse_memory_budget(const json& v, const std::string& where) {
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return v.get<int64_t>();
  if (v.is_string()) {
    auto bytes = parse_byte_size(v.get<std::string>());
    if (!bytes.is_ok()) return bytes.status().with_context(where);
    return bytes;
  }
  return invalid_argument(where + " must be a byte size such as \"512Mi\" or a number of bytes, not " + v.dump());
}

std::string format_byte_size(int64_t bytes) {
  static constexpr std::pair<const char*, int64_t> kUnits[] = {
      {"Ti", int64_t{1} << 40}, {"Gi", int64_t{1} << 30}, {"Mi", int64_t{1} << 20}, {"Ki", int64_t{1} << 10}};
  for (const auto& [name, size] : kUnits)
    if (bytes > 0 && bytes % size == 0) return std::to_string(bytes / size) + name;
  return std::to_string(bytes);
}

void write_deployment_options(const DeploymentSpec& spec, nlohmann::ordered_json& out) {
  const HealthConfig dh;
  if (spec.health != dh) {
    nlohmann::ordered_json h;
    h["probe_interval_ms"] = spec.health.probe_interval_ms;
    h["failure_threshold"] = spec.health.failure_threshold;
    h["max_error_rate"] = spec.health.max_error_rate;
    h["min_requests"] = spec.health.min_requests;
    h["window_ms"] = spec.health.window_ms;
    out["health"] = std::move(h);
  }
  if (spec.cache.max_entries != 0) out["cache"] = {{"max_entries", spec.cache.max_entries}};
  if (spec.access.inference != InferenceAccess::kServerDefault)
    out["access"] = {{"inference", spec.access.inference == InferenceAccess::kPublic ? "public" : "token"}};
  if (spec.memory_budget_bytes != 0) out["memory_budget"] = format_byte_size(spec.memory_budget_bytes);
}

}  // namespace quiver::registry

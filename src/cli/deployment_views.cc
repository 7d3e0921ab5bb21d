#include "cli/deployment_views.h"

#include <algorithm>
#include <ctime>
#include <map>

#include <fmt/format.h>

#include "cli/text_table.h"

namespace quiver::cli {
namespace {

using nlohmann::json;

const json& list_or_empty(const json* value) {
  static const json kEmpty = json::array();
  return value != nullptr && value->is_array() ? *value : kEmpty;
}

std::string text_or(const json* value, std::string_view fallback) {
  if (value == nullptr || !value->is_string() || value->get_ref<const std::string&>().empty()) {
    return std::string(fallback);
  }
  return value->get<std::string>();
}

// Configured traffic per version, from the spec, for servers that send no
// traffic_share: weights over their sum, else everything to the first version.
// A spec entry's version number as the server resolved it (aliases resolved), else
// the reference as written.
const json* spec_version(const json& entry) {
  const json* resolved = field(entry, "resolved_version");
  return resolved != nullptr ? resolved : field(entry, "version");
}

std::map<std::string, double> configured_shares(const json& spec) {
  std::map<std::string, double> shares;
  const json& traffic = list_or_empty(field(spec, "traffic"));
  double total = 0;
  for (const auto& route : traffic) {
    const json* weight = field(route, "weight");
    if (weight != nullptr && weight->is_number()) total += weight->get<double>();
  }
  if (total > 0) {
    for (const auto& route : traffic) {
      const json* version = spec_version(route);
      const json* weight = field(route, "weight");
      if (version == nullptr || weight == nullptr || !weight->is_number()) continue;
      shares[version_text(*version)] += weight->get<double>() / total;
    }
    return shares;
  }
  const json& versions = list_or_empty(field(spec, "versions"));
  bool first = true;
  for (const auto& entry : versions) {
    const json* version = spec_version(entry);
    if (version == nullptr) continue;
    shares[version_text(*version)] = first ? 1.0 : 0.0;
    first = false;
  }
  return shares;
}

std::string instances_cell(const json& status) {
  const json* total = field(status, "instances");
  const json* ready = field(status, "ready_instances");
  if (ready != nullptr && ready->is_number() && total != nullptr && total->is_number()) {
    return fmt::format("{}/{}", ready->dump(), total->dump());
  }
  if (total != nullptr && total->is_number()) return fmt::format("-/{}", total->dump());
  return cell(ready);
}

std::string shadow_table(const json& version_statuses) {
  std::vector<TableRow> rows;
  for (const auto& status : version_statuses) {
    for (const auto& cmp : list_or_empty(field(status, "shadow"))) {
      const json* primary = field(cmp, "primary");
      rows.push_back({primary != nullptr ? version_text(*primary) : cell(field(status, "version")),
                      cell(field(cmp, "shadow")), cell(field(cmp, "compared")),
                      percent_cell(field(cmp, "top1_agreement")),
                      number_cell(field(cmp, "max_abs_diff"), 4),
                      number_cell(field(cmp, "mean_abs_diff"), 4)});
    }
  }
  if (rows.empty()) return "";
  return "\nshadow comparisons:\n" +
         render_table({"PRIMARY", "SHADOW", "COMPARED", "TOP1 AGREEMENT", "MAX ABS DIFF", "MEAN ABS DIFF"},
                      rows);
}

}  // namespace

std::string render_models(const nlohmann::json& models) {
  if (!models.is_array() || models.empty()) return "no models registered yet (add one with `quiver push`)\n";
  std::vector<TableRow> rows;
  for (const auto& model : models) {
    std::vector<std::string> versions;
    for (const auto& v : list_or_empty(field(model, "versions"))) versions.push_back(version_text(v));
    std::vector<std::string> aliases;
    if (const json* map = field(model, "aliases"); map != nullptr && map->is_object()) {
      for (const auto& [alias, version] : map->items()) {
        aliases.push_back(fmt::format("{}={}", alias, version_text(version)));
      }
    }
    // Signed versions, grouped by the key id that verified them: "3f2a9c1d0b7e6a55: 2,3".
    std::map<std::string, std::vector<std::string>> by_key;
    if (const json* signed_by = field(model, "signed_by"); signed_by != nullptr && signed_by->is_object()) {
      for (const auto& [version, key] : signed_by->items()) by_key[cell(&key)].push_back(version);
    }
    std::vector<std::string> signers;
    for (auto& [key, signed_versions] : by_key) {
      std::sort(signed_versions.begin(), signed_versions.end(), [](const std::string& a, const std::string& b) {
        return a.size() != b.size() ? a.size() < b.size() : a < b;  // 2 before 10
      });
      signers.push_back(fmt::format("{}: {}", key, fmt::join(signed_versions, ",")));
    }
    rows.push_back({cell(field(model, "name")), versions.empty() ? "-" : fmt::format("{}", fmt::join(versions, ",")),
                    aliases.empty() ? "-" : fmt::format("{}", fmt::join(aliases, ",")),
                    signers.empty() ? "-" : fmt::format("{}", fmt::join(signers, "; "))});
  }
  return render_table({"MODEL", "VERSIONS", "ALIASES", "SIGNED BY"}, rows);
}

std::string render_deployment_list(const nlohmann::json& deployments) {
  if (!deployments.is_array() || deployments.empty()) {
    return "no deployments (create one with `quiver apply -f spec.yaml`)\n";
  }
  std::vector<TableRow> rows;
  for (const auto& d : deployments) {
    const json* status = field(d, "status");
    rows.push_back({cell(field(d, "model")), cell(field(d, "revision")),
                    status != nullptr ? cell(field(*status, "state")) : "-",
                    status != nullptr ? text_or(field(*status, "message"), "") : ""});
  }
  return render_table({"MODEL", "REVISION", "STATE", "MESSAGE"}, rows);
}

static bool is_true(const json* value) { return value != nullptr && value->is_boolean() && value->get<bool>(); }

std::string render_cluster(const nlohmann::json& cluster) {
  const json replicas = list_or_empty(field(cluster, "replicas"));
  if (replicas.empty()) return "";
  std::vector<TableRow> rows;
  for (const auto& r : replicas) {
    size_t loaded = 0, ready = 0;
    for (const auto& v : list_or_empty(field(r, "versions"))) {
      ++loaded;
      if (text_or(field(v, "state"), "") == "ready") ++ready;
    }
    const json* live = field(r, "live");
    const json* converged = field(r, "converged");
    const json* leader = field(r, "leader");
    rows.push_back({cell(field(r, "id")), cell(field(r, "address")),
                    is_true(live) ? "live" : "dead", is_true(leader) ? "leader" : "",
                    cell(field(r, "revision")), fmt::format("{}/{}", ready, loaded),
                    is_true(converged) ? "yes" : "no"});
  }
  std::string out = fmt::format("\ncluster: registry revision {}, {} live replica(s), {}\n", cell(field(cluster, "revision")),
                                cell(field(cluster, "live_replicas")),
                                is_true(field(cluster, "converged")) ? "converged" : "converging");
  return out + render_table({"REPLICA", "ADDRESS", "STATE", "ROLE", "APPLIED", "READY", "CONVERGED"}, rows);
}

std::string render_deployment_status(const nlohmann::json& deployment) {
  const json empty_status = json::object();
  const json* status_ptr = field(deployment, "status");
  const json& status = status_ptr != nullptr && status_ptr->is_object() ? *status_ptr : empty_status;

  std::string out = fmt::format("model {}  revision {}  state {}\n", cell(field(deployment, "model")),
                                cell(field(deployment, "revision")), cell(field(status, "state")));
  if (const std::string message = text_or(field(status, "message"), ""); !message.empty()) {
    out += fmt::format("  {}\n", message);
  }

  // Versions the server reports on, then spec versions it says nothing about yet.
  json versions = list_or_empty(field(status, "versions"));
  std::map<std::string, bool> seen;
  for (const auto& v : versions) {
    if (const json* version = field(v, "version")) seen[version_text(*version)] = true;
  }
  for (const auto& entry : list_or_empty(field(deployment, "versions"))) {
    const json* version = spec_version(entry);
    if (version == nullptr || seen.count(version_text(*version))) continue;
    versions.push_back(json{{"version", *version}, {"instances", entry.value("instances", json())}});
  }

  const auto shares = configured_shares(deployment);
  std::vector<TableRow> rows;
  std::string failures;
  for (const auto& v : versions) {
    const json* version = field(v, "version");
    const std::string name = version != nullptr ? version_text(*version) : "-";
    std::string configured = percent_cell(field(v, "traffic_share"));
    if (configured == "-") {
      if (const auto it = shares.find(name); it != shares.end()) {
        const json share = it->second;
        configured = percent_cell(&share);
      }
    }
    rows.push_back({name, cell(field(v, "state")), instances_cell(v), configured,
                    percent_cell(field(v, "observed_share")), number_cell(field(v, "rps"), 1),
                    number_cell(field(v, "p50_ms"), 1, "ms"), number_cell(field(v, "p99_ms"), 1, "ms"),
                    cell(field(v, "errors"))});
    const std::string error = text_or(field(v, "error"), "");
    if (cell(field(v, "state")) == "failed" || !error.empty()) {
      failures += fmt::format("version {} failed: {}\n", name, error.empty() ? "no reason given" : error);
    }
  }
  if (rows.empty()) {
    out += "no versions deployed\n";
  } else {
    out += render_table({"VERSION", "STATE", "INSTANCES", "TRAFFIC", "OBSERVED", "RPS", "P50", "P99", "ERRORS"},
                        rows);
  }
  out += failures;
  // The server reports shadow pairs at status level; older layouts put them per version.
  json holders = versions;
  holders.push_back(json{{"shadow", list_or_empty(field(status, "shadow"))}});
  out += shadow_table(holders);
  return out;
}

std::string render_history(const nlohmann::json& history) {
  if (!history.is_array() || history.empty()) return "no revisions yet\n";
  std::vector<TableRow> rows;
  for (const auto& entry : history) {
    const json* deleted = field(entry, "deleted");
    const bool is_deleted = deleted != nullptr && deleted->is_boolean() && deleted->get<bool>();
    const json* spec = field(entry, "spec");
    rows.push_back({cell(field(entry, "revision")), format_timestamp(field(entry, "created_at")),
                    cell(field(entry, "client")), cell(field(entry, "reason")),
                    is_deleted ? "deleted" : (spec != nullptr ? summarize_spec(*spec) : "-")});
  }
  return render_table({"REVISION", "CREATED", "CLIENT", "REASON", "CHANGE"}, rows);
}

std::string summarize_spec(const nlohmann::json& spec) {
  std::vector<std::string> parts;
  std::vector<std::string> routes;
  for (const auto& route : list_or_empty(field(spec, "traffic"))) {
    const json* version = field(route, "version");
    routes.push_back(fmt::format("{}:{}", version != nullptr ? version_text(*version) : "?",
                                 cell(field(route, "weight"))));
  }
  if (routes.empty()) {
    for (const auto& entry : list_or_empty(field(spec, "versions"))) {
      const json* version = field(entry, "version");
      if (version != nullptr) routes.push_back(version_text(*version));
    }
  }
  parts.push_back(routes.empty() ? "no versions" : fmt::format("{}", fmt::join(routes, " ")));

  if (const json* sticky = field(spec, "sticky"); sticky != nullptr && sticky->is_object()) {
    const json* header = field(*sticky, "header");
    parts.push_back(header != nullptr ? fmt::format("sticky header {}", cell(header)) : "sticky");
  }
  if (const size_t rules = list_or_empty(field(spec, "rules")).size(); rules > 0) {
    parts.push_back(fmt::format("{} rule{}", rules, rules == 1 ? "" : "s"));
  }
  for (const auto& shadow : list_or_empty(field(spec, "shadow"))) {
    const json* version = field(shadow, "version");
    parts.push_back(fmt::format("shadow {} at {}%", version != nullptr ? version_text(*version) : "?",
                                cell(field(shadow, "percent"))));
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

std::string format_timestamp(const nlohmann::json* value) {
  if (value == nullptr || !value->is_number()) return cell(value);
  double seconds = value->get<double>();
  // Seconds since 1970 stay below 1e11 until the year 5138; bigger means milliseconds.
  if (seconds > 1e11) seconds /= 1000.0;
  const auto t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  if (gmtime_r(&t, &utc) == nullptr) return value->dump();
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%SZ", &utc);
  return text;
}

}  // namespace quiver::cli

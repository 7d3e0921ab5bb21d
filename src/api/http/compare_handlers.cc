// GET /v1/models/{m}/compare: versions side by side (quality from feedback or the
// latest offline evaluation, latency, errors, shadow agreement, cost) and, when the
// deployment has an `objective:`, each version's weighted score within its budget.
#include <nlohmann/json.hpp>

#include <optional>
#include <sstream>

#include "api/http/api_context.h"
#include "api/http/http_server.h"
#include "quality/quality_service.h"
#include "registry/deployment_spec_json.h"
#include "rollout/objective.h"
#include "serving/servable.h"

namespace quiver::http {
namespace {

using nlohmann::json;

std::optional<double> number_at(const json& doc, const char* key) {
  if (doc.is_object() && doc.contains(key) && doc[key].is_number()) return doc[key].get<double>();
  return std::nullopt;
}

json opt(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

Result<std::vector<int64_t>> versions_to_compare(ApiContext& ctx, const std::string& model, const std::map<std::string, std::string>& query) {
  QUIVER_ASSIGN_OR_RETURN(auto summary, ctx.registry.get_model(model));
  std::vector<int64_t> out;
  auto q = query.find("versions");
  if (q == query.end() || q->second.empty()) return summary.versions;
  std::stringstream in(q->second);
  std::string ref;
  while (std::getline(in, ref, ','))
    if (!ref.empty()) {
      QUIVER_ASSIGN_OR_RETURN(int64_t v, ctx.registry.resolve(model, ref));
      out.push_back(v);
    }
  return out;
}

// One version's column, and the facts the objective scores.
json version_column(ApiContext& ctx, const std::string& model, int64_t version,
                    const std::optional<lifecycle::DeploymentStatus>& status, const routing::ModelRoute* route,
                    int64_t primary, rollout::VersionFacts& facts) {
  json col = {{"version", version}, {"deployed", false}, {"state", "registered"}};
  facts.version = version;
  int instances = 0;
  if (status)
    for (const auto& vs : status->versions)
      if (vs.version == version) {
        instances = vs.instances;
        col["deployed"] = true;
        col["state"] = vs.state;
        col["requests"] = vs.requests;
        col["errors"] = vs.errors;
        col["p50_ms"] = vs.p50_ms;
        col["p99_ms"] = vs.p99_ms;
        if (vs.requests > 0) {
          facts.error_rate = static_cast<double>(vs.errors) / static_cast<double>(vs.requests);
          facts.p99_ms = vs.p99_ms;
        }
      }
  col["error_rate"] = opt(facts.error_rate);
  col["instances"] = instances;
  facts.instances = instances;
  if (route)
    if (const auto* e = route->find(version)) {
      // Cost: instances times the compute time the version has used.
      const double compute = e->servable->stats().compute_seconds();
      col["compute_seconds"] = compute;
      facts.cost = compute * std::max(instances, 1);
    }
  col["cost"] = opt(facts.cost);
  if (auto record = ctx.registry.get_version(model, version); record.is_ok()) {
    // Memory is estimated from the artifact: one copy of the weights per instance.
    facts.memory_mb = static_cast<double>(record->size) / (1 << 20) * std::max(instances, 1);
    col["memory_mb"] = facts.memory_mb;
  }

  json feedback = nullptr, evaluation = nullptr;
  if (auto q = ctx.quality.quality(model, std::to_string(version)); q.is_ok() && q->value("n", 0) > 0) feedback = *q;
  if (auto evals = ctx.registry.evaluations(model, version); evals.is_ok() && !evals->empty())
    evaluation = json::parse(evals->front().report_json, nullptr, false);
  col["quality"] = feedback;
  col["evaluation"] = evaluation;
  const json eval_metrics = evaluation.is_object() ? evaluation.value("metrics", json::object()) : json::object();
  if (feedback.is_object() && number_at(feedback, "accuracy")) {
    facts.accuracy = number_at(feedback, "accuracy");
    facts.f1 = number_at(feedback, "macro_f1");
    col["accuracy_source"] = "feedback";
  } else if (number_at(eval_metrics, "accuracy")) {
    facts.accuracy = number_at(eval_metrics, "accuracy");
    facts.f1 = number_at(eval_metrics, "macro_f1");
    col["accuracy_source"] = "evaluation";
  } else {
    col["accuracy_source"] = nullptr;
  }
  col["accuracy"] = opt(facts.accuracy);
  col["f1"] = opt(facts.f1);
  col["shadow_agreement"] = nullptr;
  for (const auto& p : ctx.shadows.stats(model))
    if (p.shadow == version && p.primary == primary && p.top1_rows > 0) col["shadow_agreement"] = p.top1_agreement;
  return col;
}

}  // namespace

json compare_versions(ApiContext& ctx, const std::string& model, const std::vector<int64_t>& versions,
                      std::vector<rollout::VersionFacts>& facts) {
  const auto status = ctx.manager.status(model);
  auto table = ctx.routes.load();
  const auto* entry = table->find(model);
  const routing::ModelRoute* route = entry && entry->route ? entry->route.get() : nullptr;
  // Shadow agreement is reported against the version serving most of the traffic.
  int64_t primary = 0;
  double best_share = -1;
  if (route)
    for (const auto& e : route->endpoints())
      if (route->configured_share(e.version) > best_share) {
        best_share = route->configured_share(e.version);
        primary = e.version;
      }
  json cols = json::array();
  for (int64_t v : versions) {
    rollout::VersionFacts f;
    cols.push_back(version_column(ctx, model, v, status, route, primary, f));
    facts.push_back(f);
  }
  return cols;
}

namespace {

void handle_compare(ApiContext& ctx, const std::shared_ptr<HttpRequest>& req, Responder respond) {
  const std::string& model = req->path_params.at("model");
  auto versions = versions_to_compare(ctx, model, req->query);
  if (!versions.is_ok()) return respond(HttpResponse::error(versions.status()));
  std::vector<rollout::VersionFacts> facts;
  json out = {{"model", model}, {"versions", compare_versions(ctx, model, *versions, facts)}, {"objective", nullptr}};

  auto current = ctx.registry.current_deployment(model);
  if (current.is_ok() && *current) {
    auto spec = registry::parse_deployment_spec((*current)->spec_json);
    if (spec.is_ok() && !spec->objective_json.empty()) {
      auto config = rollout::objective_from_json(json::parse(spec->objective_json));
      if (!config.is_ok()) return respond(HttpResponse::error(config.status()));
      auto rows = rollout::score(facts, *config);
      if (!rows.is_ok()) return respond(HttpResponse::error(rows.status()));
      json obj = rollout::objective_to_json(*config);
      json rj = json::array();
      for (const auto& r : *rows) rj.push_back(rollout::score_row_to_json(r));
      obj["rows"] = rj;
      auto best = rollout::best_within_budget(*rows);
      obj["best"] = best ? json(*best) : json(nullptr);
      out["objective"] = obj;
    }
  }
  respond(HttpResponse::json(200, out.dump()));
}

}  // namespace

void register_compare_routes(HttpServer& server, ApiContext& ctx) {
  server.route("GET", "/v1/models/{model}/compare",
               [&ctx](const auto& req, Responder respond) { handle_compare(ctx, req, std::move(respond)); });
}

}  // namespace quiver::http

// GET /v1/deployments/{model}/stats?window=15m: the recent history of every version's
// traffic (rate, error rate, p50/p99, observed share), as the console's live charts
// draw it. The numbers come from the sampler (metrics/stats_history.h), which reads
// the servables' own counters every few seconds; this endpoint only copies its ring.
//
// The body is columnar, one array per quantity, aligned with "t" (unix seconds at the
// end of each interval); null where a version had nothing to measure or was absent:
//   {"model", "interval_s", "window_s", "t": [...],
//    "versions": [{"version", "rate": [...], "error_rate": [...], "p50_ms": [...],
//                  "p99_ms": [...], "share": [...], "requests": n, "errors": n}],
//    "latency": {"bounds_ms": [...], "versions": [{"version", "counts": [...]}]}}
// "latency" is each version's whole histogram since it loaded (per-bucket counts of
// successful requests; the last bound may be null for +Inf), trimmed to the buckets
// any version used.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>

#include "api/http/api_context.h"
#include "api/http/http_server.h"
#include "auth/token.h"

namespace quiver::http {
namespace {

using nlohmann::json;

json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

Result<std::chrono::milliseconds> window_of(const HttpRequest& req, std::chrono::milliseconds longest) {
  const auto it = req.query.find("window");
  if (it == req.query.end() || it->second.empty()) return longest;
  auto parsed = auth::parse_duration(it->second);
  if (!parsed.is_ok())
    return invalid_argument("window must be a duration such as 5m or 900s, up to " +
                            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(longest).count()) + "s");
  return std::min<std::chrono::milliseconds>(*parsed, longest);
}

json series_json(const std::string& model, const std::vector<metrics::StatsFrame>& frames,
                 const metrics::StatsHistoryOptions& options, std::chrono::milliseconds window) {
  json t = json::array();
  std::map<int64_t, size_t> column;  // version -> index in `versions`
  for (const auto& f : frames)
    for (const auto& p : f.versions) column.emplace(p.version, 0);
  json versions = json::array();
  for (auto& [version, index] : column) {
    index = versions.size();
    versions.push_back({{"version", version}, {"rate", json::array()}, {"error_rate", json::array()},
                        {"p50_ms", json::array()}, {"p99_ms", json::array()}, {"share", json::array()},
                        {"requests", 0}, {"errors", 0}});
  }
  for (const auto& f : frames) {
    t.push_back(std::chrono::duration<double>(f.at.time_since_epoch()).count());
    std::vector<const metrics::StatsPoint*> at(versions.size(), nullptr);
    for (const auto& p : f.versions) at[column[p.version]] = &p;
    for (size_t i = 0; i < at.size(); ++i) {
      json& v = versions[i];
      const metrics::StatsPoint* p = at[i];
      v["rate"].push_back(p ? json(p->rate) : json(nullptr));
      v["error_rate"].push_back(p ? number_or_null(p->error_rate) : json(nullptr));
      v["p50_ms"].push_back(p ? number_or_null(p->p50_ms) : json(nullptr));
      v["p99_ms"].push_back(p ? number_or_null(p->p99_ms) : json(nullptr));
      v["share"].push_back(p ? number_or_null(p->share) : json(nullptr));
      if (p) {
        v["requests"] = v["requests"].get<uint64_t>() + p->requests;
        v["errors"] = v["errors"].get<uint64_t>() + p->errors;
      }
    }
  }
  return {{"model", model},
          {"interval_s", std::chrono::duration<double>(options.interval).count()},
          {"window_s", std::chrono::duration<double>(window).count()},
          {"t", std::move(t)},
          {"versions", std::move(versions)}};
}

json latency_json(const std::vector<metrics::VersionCounterReading>& readings, const std::vector<double>& bounds) {
  size_t first = bounds.size(), last = 0;
  for (const auto& r : readings)
    for (size_t b = 0; b < r.latency_buckets.size() && b < bounds.size(); ++b)
      if (r.latency_buckets[b] > 0) {
        first = std::min(first, b);
        last = std::max(last, b);
      }
  json out = {{"bounds_ms", json::array()}, {"versions", json::array()}};
  if (first > last) return out;
  for (size_t b = first; b <= last; ++b) out["bounds_ms"].push_back(number_or_null(bounds[b] * 1e3));
  for (const auto& r : readings) {
    json counts = json::array();
    for (size_t b = first; b <= last; ++b) counts.push_back(b < r.latency_buckets.size() ? r.latency_buckets[b] : 0);
    out["versions"].push_back({{"version", r.version}, {"counts", std::move(counts)}});
  }
  return out;
}

}  // namespace

void register_stats_routes(HttpServer& server, ApiContext& ctx) {
  server.route("GET", "/v1/deployments/{model}/stats", [&ctx](const auto& req, Responder respond) {
    const std::string& model = req->path_params.at("model");
    if (ctx.stats_history == nullptr)
      return respond(HttpResponse::error(unavailable("this server keeps no traffic history")));
    const auto table = ctx.routes.load();
    if (table->find(model) == nullptr)
      return respond(HttpResponse::error(not_found("unknown model '" + model + "'")));
    const auto& options = ctx.stats_history->options();
    auto window = window_of(*req, std::chrono::duration_cast<std::chrono::milliseconds>(options.retention));
    if (!window.is_ok()) return respond(HttpResponse::error(window.status()));
    const auto frames = ctx.stats_history->frames(model, *window);
    json body = series_json(model, frames, options, *window);
    body["latency"] = latency_json(ctx.stats_history->latest(model), ctx.stats_history->latency_bounds());
    respond(HttpResponse::json(200, body.dump()));
  });
}

}  // namespace quiver::http

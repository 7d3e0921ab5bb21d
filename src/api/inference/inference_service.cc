#include "api/inference/inference_service.h"

#include <charconv>
#include <cmath>

#include "metrics/metrics_registry.h"
#include "routing/route_table.h"
#include "routing/shadow_compare.h"
#include "serving/servable.h"

namespace quiver::api {
namespace {

constexpr const char* kTimeoutParameter = "timeout_ms";
constexpr const char* kTimeoutHeader = "x-quiver-timeout-ms";
// Longer timeouts are clamped here so that now + timeout cannot overflow the clock.
constexpr int64_t kMaxTimeoutMs = int64_t{10} * 365 * 24 * 3600 * 1000;

Status bad_timeout(std::string_view where, std::string_view got) {
  return invalid_argument(std::string(where) + " must be a non-negative number of milliseconds, got '" +
                          std::string(got) + "'");
}

Result<int64_t> parse_timeout_text(std::string_view where, std::string_view text) {
  int64_t ms = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (ec == std::errc::result_out_of_range && !text.empty() && text.front() != '-') return kMaxTimeoutMs;
  if (ec != std::errc() || end != text.data() + text.size() || ms < 0) return bad_timeout(where, text);
  return ms;
}

Result<int64_t> parse_timeout_param(const ParamValue& value) {
  const std::string where = std::string("parameter '") + kTimeoutParameter + "'";
  if (const auto* i = std::get_if<int64_t>(&value)) {
    if (*i < 0) return bad_timeout(where, std::to_string(*i));
    return *i;
  }
  if (const auto* d = std::get_if<double>(&value)) {
    if (!(*d >= 0)) return bad_timeout(where, std::to_string(*d));
    return *d >= static_cast<double>(kMaxTimeoutMs) ? kMaxTimeoutMs : static_cast<int64_t>(std::ceil(*d));
  }
  if (const auto* s = std::get_if<std::string>(&value)) return parse_timeout_text(where, *s);
  return bad_timeout(where, std::get<bool>(value) ? "true" : "false");
}

// The earliest of the transport's deadline and the request's own timeouts; none
// when no timeout is set (or set to 0).
Result<std::optional<std::chrono::steady_clock::time_point>> request_deadline(const InferCall& call) {
  std::optional<int64_t> timeout_ms;
  auto take = [&](int64_t ms) {
    if (ms > 0) timeout_ms = std::min(timeout_ms.value_or(ms), std::min(ms, kMaxTimeoutMs));
  };
  if (auto it = call.parameters.find(kTimeoutParameter); it != call.parameters.end()) {
    QUIVER_ASSIGN_OR_RETURN(int64_t ms, parse_timeout_param(it->second));
    take(ms);
  }
  if (auto it = call.headers.find(kTimeoutHeader); it != call.headers.end()) {
    QUIVER_ASSIGN_OR_RETURN(int64_t ms, parse_timeout_text(std::string("header '") + kTimeoutHeader + "'", it->second));
    take(ms);
  }
  std::optional<std::chrono::steady_clock::time_point> deadline = call.deadline;
  if (timeout_ms) {
    const auto by_timeout = std::chrono::steady_clock::now() + std::chrono::milliseconds(*timeout_ms);
    deadline = deadline ? std::min(*deadline, by_timeout) : by_timeout;
  }
  return deadline;
}

}  // namespace

void InferenceService::count_cache(const std::string& model, int64_t version, bool hit) {
  const metrics::Labels labels = {{"model", model}, {"version", std::to_string(version)}};
  if (hit)
    metrics_.counter("quiver_cache_hits_total", "Inference requests answered from the response cache", labels).inc();
  else
    metrics_.counter("quiver_cache_misses_total", "Cacheable inference requests not found in the response cache",
                     labels)
        .inc();
}

void InferenceService::infer(InferCall call, InferCallback done) {
  auto deadline = request_deadline(call);
  if (!deadline.is_ok()) return done(deadline.status(), 0);

  auto table = routes_.load();  // pins every servable in it until this request is queued
  const routing::Endpoint* endpoint = nullptr;
  const routing::ModelRoute* route = nullptr;
  routing::RouteKind kind = routing::RouteKind::kPinned;
  std::vector<const routing::Endpoint*> shadows;
  int64_t fallback = 0;  // the baseline to retry on, when the candidate fails

  if (call.version) {
    auto pinned = table->resolve_pinned(call.model, *call.version);
    if (!pinned.is_ok()) return done(pinned.status(), 0);
    endpoint = *pinned;
    if (const auto* entry = table->find(call.model)) route = entry->route.get();
  } else {
    auto routed = table->route_for(call.model);
    if (!routed.is_ok()) return done(routed.status(), 0);
    route = *routed;
    auto decision = route->route(call.headers, call.parameters);
    endpoint = decision.primary;
    kind = decision.kind;
    shadows = std::move(decision.shadows);
    if (decision.fallback) fallback = decision.fallback->version;
    endpoint->servable->stats().record_routed();
  }
  endpoint->servable->stats().record_route(kind);
  const int64_t version = endpoint->version;
  done = log_predictions(std::move(done), call, *endpoint);

  // The cache answers before anything is queued; a hit has nothing to mirror.
  auto cache = caches_.for_model(call.model, route ? route->spec().cache.max_entries : 0);
  std::optional<ResponseCache::Key> key;
  if (cache) {
    key = ResponseCache::make_key(version, call.inputs);
    if (auto hit = cache->lookup(*key)) {
      count_cache(call.model, version, true);
      return done(InferOutcome{version, kind, std::move(*hit)}, version);
    }
    count_cache(call.model, version, false);
  }

  // Shadows get the same input bytes (shared, not copied); their results only feed
  // the comparison and nothing waits for them.
  std::vector<std::shared_ptr<routing::ShadowComparison>> comparisons;
  for (const routing::Endpoint* shadow : shadows) {
    shadow->servable->stats().record_route(routing::RouteKind::kShadow);
    auto cmp = std::make_shared<routing::ShadowComparison>(shadows_, call.model, version, shadow->version);
    shadow->servable->submit(call.inputs, [cmp](Result<std::vector<Tensor>> r) { cmp->set_shadow(r); });
    comparisons.push_back(std::move(cmp));
  }

  // Tensors share their bytes, so keeping the inputs for a retry copies nothing.
  std::vector<Tensor> retry_inputs;
  if (fallback) retry_inputs = call.inputs;

  // The callback must not capture the servable (see serving/servable.h on lifetimes).
  endpoint->servable->submit(
      std::move(call.inputs),
      [this, version, kind, comparisons = std::move(comparisons), cache = std::move(cache), key = std::move(key),
       fallback, retry_inputs = std::move(retry_inputs), model = fallback ? call.model : std::string(),
       deadline = *deadline, done = std::move(done)](Result<std::vector<Tensor>> r) mutable {
        for (const auto& cmp : comparisons) cmp->set_primary(r);
        // A server-side failure of the candidate still counts against it (its stats
        // recorded the error), but the user gets the baseline's answer.
        const bool server_error =
            !r.is_ok() && (r.status().code() == StatusCode::kInternal || r.status().code() == StatusCode::kUnavailable);
        if (fallback && server_error)
          return retry_on(model, fallback, std::move(retry_inputs), kind, deadline, std::move(done));
        if (!r.is_ok()) return done(r.status(), version);
        if (cache) cache->insert(std::move(*key), r.value());
        done(InferOutcome{version, kind, std::move(r).value()}, version);
      },
      *deadline);
}

void InferenceService::retry_on(const std::string& model, int64_t version, std::vector<Tensor> inputs,
                                routing::RouteKind kind, std::optional<std::chrono::steady_clock::time_point> deadline,
                                InferCallback done) {
  auto table = routes_.load();
  auto pinned = table->resolve_pinned(model, std::to_string(version));
  if (!pinned.is_ok()) return done(pinned.status(), version);
  (*pinned)->servable->stats().record_route(kind);
  (*pinned)->servable->submit(
      std::move(inputs),
      [version, kind, done = std::move(done)](Result<std::vector<Tensor>> r) mutable {
        if (!r.is_ok()) return done(r.status(), version);
        done(InferOutcome{version, kind, std::move(r).value()}, version);
      },
      deadline);
}

}  // namespace quiver::api

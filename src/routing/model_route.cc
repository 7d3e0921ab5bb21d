#include "routing/model_route.h"

#include <algorithm>

#include "routing/rule_match.h"
#include "serving/servable.h"

namespace quiver::routing {

Result<std::shared_ptr<const ModelRoute>> ModelRoute::build(std::string model, int64_t revision,
                                                            DeploymentSpec spec, std::vector<Endpoint> endpoints,
                                                            std::set<int64_t> ejected) {
  if (spec.versions.empty()) return invalid_argument("deployment of '" + model + "' lists no versions");
  std::shared_ptr<ModelRoute> r(new ModelRoute());
  r->model_ = std::move(model);
  r->revision_ = revision;
  r->spec_ = std::move(spec);
  r->ejected_ = std::move(ejected);

  // Endpoints in spec order, so endpoints_[0] is the default version. Looked up
  // through a sorted index: a model may list a thousand on-demand versions.
  std::vector<std::pair<int64_t, size_t>> given;
  given.reserve(endpoints.size());
  for (size_t i = 0; i < endpoints.size(); ++i) given.emplace_back(endpoints[i].version, i);
  std::sort(given.begin(), given.end());
  r->endpoints_.reserve(r->spec_.versions.size());
  for (const auto& dv : r->spec_.versions) {
    auto g = std::lower_bound(given.begin(), given.end(), std::make_pair(dv.version.version, size_t{0}));
    const bool found = g != given.end() && g->first == dv.version.version;
    auto it = found ? endpoints.begin() + static_cast<std::ptrdiff_t>(g->second) : endpoints.end();
    if (it == endpoints.end() || !it->servable)
      return invalid_argument("version " + std::to_string(dv.version.version) + " of '" + r->model_ +
                              "' has no ready servable");
    r->endpoints_.push_back(*it);
    r->endpoints_.back().routed_baseline = it->servable->stats().routed();
  }
  for (const auto& e : r->endpoints_) r->by_version_.emplace_back(e.version, &e);
  std::sort(r->by_version_.begin(), r->by_version_.end());
  // With no traffic weights the first listed version takes everything; if it is
  // ejected, the next healthy one in the list does.
  r->default_ = &r->endpoints_.front();
  for (const auto& e : r->endpoints_)
    if (!r->ejected_.count(e.version)) {
      r->default_ = &e;
      break;
    }
  auto endpoint_of = [&r](const VersionRef& ref) -> const Endpoint* { return r->find(ref.version); };

  // Weights of ejected versions count only when every weighted version is ejected.
  bool any_healthy_weight = false;
  for (const auto& tw : r->spec_.traffic)
    any_healthy_weight = any_healthy_weight || (tw.weight > 0 && !r->ejected_.count(tw.version.version));
  for (const auto& tw : r->spec_.traffic) {
    const Endpoint* e = endpoint_of(tw.version);
    if (!e) return invalid_argument("traffic names version " + tw.version.ref + ", which is not deployed");
    if (tw.weight == 0 || (any_healthy_weight && r->ejected_.count(e->version))) continue;
    r->weighted_targets_.push_back(e);
    r->choices_.push_back({static_cast<uint64_t>(e->version), tw.weight});
    r->total_weight_ += tw.weight;
    r->cumulative_.push_back(r->total_weight_);
  }
  for (const auto& rule : r->spec_.rules) {
    const Endpoint* e = endpoint_of(rule.version);
    if (!e) return invalid_argument("a rule names version " + rule.version.ref + ", which is not deployed");
    if (r->ejected_.count(e->version)) continue;
    r->rules_.push_back({rule.match, e});
  }
  for (const auto& sh : r->spec_.shadow) {
    const Endpoint* e = endpoint_of(sh.version);
    if (!e) return invalid_argument("shadow names version " + sh.version.ref + ", which is not deployed");
    if (r->ejected_.count(e->version)) continue;
    r->shadows_.push_back({e, std::clamp(sh.percent, 0.0, 100.0) / 100.0});
  }
  if (r->spec_.rollout && r->spec_.rollout->retry_on_baseline) {
    r->retry_from_ = endpoint_of(r->spec_.rollout->candidate);
    r->retry_to_ = endpoint_of(r->spec_.rollout->baseline);
  }
  return std::shared_ptr<const ModelRoute>(std::move(r));
}

const Endpoint* ModelRoute::find(int64_t version) const {
  auto it = std::lower_bound(by_version_.begin(), by_version_.end(), version,
                             [](const auto& entry, int64_t v) { return entry.first < v; });
  return it != by_version_.end() && it->first == version ? it->second : nullptr;
}

const Endpoint* ModelRoute::pick_weighted(const Headers& headers, const Params& params, RouteKind& kind) const {
  if (total_weight_ == 0) {
    kind = RouteKind::kDefault;
    return default_;
  }
  if (spec_.sticky) {
    const std::string key = sticky_key(*spec_.sticky, headers, params);
    if (!key.empty()) {
      kind = RouteKind::kSticky;
      return weighted_targets_[rendezvous_pick(key, choices_)];
    }
  }
  kind = RouteKind::kWeighted;
  if (weighted_targets_.size() == 1) return weighted_targets_.front();
  const auto draw = static_cast<uint64_t>(uniform01() * static_cast<double>(total_weight_));
  const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), draw);
  return weighted_targets_[std::min<size_t>(it - cumulative_.begin(), weighted_targets_.size() - 1)];
}

RouteDecision ModelRoute::route(const Headers& headers, const Params& params) const {
  RouteDecision d;
  for (const auto& rule : rules_) {
    if (rule_matches(rule.match, headers, params)) {
      d.primary = rule.target;
      d.kind = RouteKind::kRule;
      break;
    }
  }
  if (!d.primary) d.primary = pick_weighted(headers, params, d.kind);
  if (d.primary == retry_from_) d.fallback = retry_to_;
  for (const auto& sh : shadows_) {
    if (sh.target == d.primary) continue;  // comparing a version with itself says nothing
    if (sh.fraction >= 1.0 || uniform01() < sh.fraction) d.shadows.push_back(sh.target);
  }
  return d;
}

double ModelRoute::configured_share(int64_t version) const {
  if (total_weight_ == 0) return default_->version == version ? 1.0 : 0.0;
  uint64_t w = 0;
  for (size_t i = 0; i < weighted_targets_.size(); ++i)
    if (weighted_targets_[i]->version == version) w += choices_[i].weight;
  return static_cast<double>(w) / static_cast<double>(total_weight_);
}

}  // namespace quiver::routing

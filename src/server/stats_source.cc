#include "server/stats_source.h"

#include "serving/servable.h"

namespace quiver::server {

metrics::CounterReader make_stats_reader(const routing::RoutePublisher& routes) {
  return [&routes] {
    std::vector<metrics::ModelCounterReading> out;
    const auto table = routes.load();
    for (const auto& [name, entry] : table->models) {
      if (!entry.route) continue;
      metrics::ModelCounterReading model{name, {}};
      for (const auto& endpoint : entry.route->endpoints()) {
        if (!endpoint.servable) continue;
        const auto& stats = endpoint.servable->stats();
        model.versions.push_back({endpoint.version, stats.requests(), stats.errors(), stats.routed(),
                                  stats.latency_bucket_counts()});
      }
      out.push_back(std::move(model));
    }
    return out;
  };
}

}  // namespace quiver::server

namespace quiver::server {

std::unique_ptr<metrics::StatsHistory> make_stats_history(const Clock& clock, const routing::RoutePublisher& routes) {
  return std::make_unique<metrics::StatsHistory>(clock, make_stats_reader(routes),
                                                 serving::ServableStats::latency_bucket_bounds());
}

}  // namespace quiver::server

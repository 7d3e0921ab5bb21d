// The console's traffic history (metrics/stats_history.h), fed by the per-version
// counters that every servable already keeps, read from the live route snapshot.
// Nothing is added to the request path: a sample is a few relaxed atomic loads per
// version, every few seconds, on the sampler's own thread.
//
// Thread-safety: the reader may be called from any thread while `routes` lives.
#pragma once

#include <memory>

#include "core/clock.h"
#include "metrics/stats_history.h"
#include "routing/route_table.h"

namespace quiver::server {

metrics::CounterReader make_stats_reader(const routing::RoutePublisher& routes);

// A history with the servables' latency buckets and the default interval and retention
// (a sample every 2 s, 15 minutes kept).
std::unique_ptr<metrics::StatsHistory> make_stats_history(const Clock& clock, const routing::RoutePublisher& routes);

}  // namespace quiver::server

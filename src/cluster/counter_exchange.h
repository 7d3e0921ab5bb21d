// The exchange of per-version traffic counters between replicas, so that the leader's
// decisions (rollouts) rest on the traffic of every replica, not on its own alone.
//
// Each replica upserts its cumulative counters (one row per model, version and shadow
// pair) every heartbeat; the leader adds the other replicas' fresh rows to its own live
// counters. Rows are opaque JSON here: the server owns their shape.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/status.h"
#include "pg/connection.h"

namespace quiver::cluster {

struct CounterRow {
  std::string replica;
  std::string model;
  int64_t version = 0;
  int64_t shadow_of = 0;
  std::string counters_json;
};

// Replaces this replica's rows with `rows` in one transaction.
Status publish_counters(pg::Connection& conn, const std::string& replica, const std::vector<CounterRow>& rows);
// The rows of every replica but `except`, updated within `max_age` (database clock):
// a replica that stopped publishing drops out of the pool.
Result<std::vector<CounterRow>> read_counters(pg::Connection& conn, const std::string& except,
                                              std::chrono::milliseconds max_age);

}  // namespace quiver::cluster

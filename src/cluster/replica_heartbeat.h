// Replica heartbeats: each replica writes one row with its id, address, the registry
// revision it has applied and the versions it has loaded with their states, so every
// replica (and `quiver status`) can see who is alive and whether it has converged.
//
// Liveness is judged by the database clock (the age of heartbeat_at), never by
// comparing the replicas' own clocks.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "pg/connection.h"

namespace quiver::cluster {

struct ReplicaState {
  std::string id;
  std::string address;        // where its HTTP API answers (host:port)
  std::string started_at;     // ISO 8601 UTC
  int64_t applied_revision = 0;
  nlohmann::json state;       // {"leader": bool, "epoch": n, "versions": [{"model","version","state"}...]}
  double age_seconds = 0;     // since its last heartbeat, by the database clock (on read)
};

// Writes this replica's row (insert or replace).
Status publish_heartbeat(pg::Connection& conn, const ReplicaState& self);
// Removes this replica's row (clean shutdown), so it is not listed as dead.
Status remove_heartbeat(pg::Connection& conn, const std::string& id);
// Every replica's row, oldest id first.
Result<std::vector<ReplicaState>> read_replicas(pg::Connection& conn);

}  // namespace quiver::cluster

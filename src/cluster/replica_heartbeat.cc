#include "cluster/replica_heartbeat.h"

namespace quiver::cluster {

Status publish_heartbeat(pg::Connection& conn, const ReplicaState& self) {
  return conn
      .query(R"sql(
INSERT INTO cluster_replicas (id, address, started_at, heartbeat_at, applied_revision, state_json)
VALUES ($1, $2, $3::timestamptz, clock_timestamp(), $4, $5)
ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, started_at = EXCLUDED.started_at,
  heartbeat_at = EXCLUDED.heartbeat_at, applied_revision = EXCLUDED.applied_revision,
  state_json = EXCLUDED.state_json)sql",
             self.id, self.address, self.started_at, self.applied_revision, self.state.dump())
      .status();
}

Status remove_heartbeat(pg::Connection& conn, const std::string& id) {
  return conn.query("DELETE FROM cluster_replicas WHERE id = $1", id).status();
}

Result<std::vector<ReplicaState>> read_replicas(pg::Connection& conn) {
  QUIVER_ASSIGN_OR_RETURN(auto rows, conn.exec(R"sql(
SELECT id, address, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), applied_revision,
       state_json, extract(epoch FROM clock_timestamp() - heartbeat_at)::float8
FROM cluster_replicas ORDER BY id)sql"));
  std::vector<ReplicaState> out;
  for (int r = 0; r < rows.size(); ++r) {
    ReplicaState s;
    s.id = rows.text_at(r, 0);
    s.address = rows.text_at(r, 1);
    s.started_at = rows.text_at(r, 2);
    s.applied_revision = rows.int_at(r, 3);
    s.state = nlohmann::json::parse(rows.text_at(r, 4), nullptr, false);
    if (s.state.is_discarded()) s.state = nlohmann::json::object();
    s.age_seconds = std::strtod(rows.text_at(r, 5).c_str(), nullptr);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace quiver::cluster

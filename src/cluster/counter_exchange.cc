#include "cluster/counter_exchange.h"

namespace quiver::cluster {

Status publish_counters(pg::Connection& conn, const std::string& replica, const std::vector<CounterRow>& rows) {
  pg::Transaction tx(conn);
  QUIVER_RETURN_IF_ERROR(tx.begin());
  QUIVER_RETURN_IF_ERROR(conn.query("DELETE FROM cluster_counters WHERE replica = $1", replica).status());
  for (const CounterRow& r : rows) {
    QUIVER_RETURN_IF_ERROR(conn.query("INSERT INTO cluster_counters (replica, model, version, shadow_of, counters_json, "
                                      "updated_at) VALUES ($1, $2, $3, $4, $5, clock_timestamp())",
                                      replica, r.model, r.version, r.shadow_of, r.counters_json)
                               .status());
  }
  return tx.commit();
}

Result<std::vector<CounterRow>> read_counters(pg::Connection& conn, const std::string& except,
                                              std::chrono::milliseconds max_age) {
  QUIVER_ASSIGN_OR_RETURN(auto rows,
                          conn.query("SELECT replica, model, version, shadow_of, counters_json FROM cluster_counters "
                                     "WHERE replica <> $1 AND updated_at > clock_timestamp() - $2 * interval '1 millisecond'",
                                     except, static_cast<int64_t>(max_age.count())));
  std::vector<CounterRow> out;
  for (int r = 0; r < rows.size(); ++r)
    out.push_back({rows.text_at(r, 0), rows.text_at(r, 1), rows.int_at(r, 2), rows.int_at(r, 3), rows.text_at(r, 4)});
  return out;
}

}  // namespace quiver::cluster

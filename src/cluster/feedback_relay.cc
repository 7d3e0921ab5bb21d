#include "cluster/feedback_relay.h"

#include <spdlog/spdlog.h>

namespace quiver::cluster {

bool FeedbackRelay::forward(const nlohmann::json& item) {
  std::lock_guard lock(forward_mu_);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!forward_conn_ || !forward_conn_->ok()) {
      auto opened = pg::Connection::connect(url_, std::chrono::seconds(2));
      if (!opened.is_ok()) return false;
      forward_conn_ = std::move(opened).value();
    }
    auto r = forward_conn_->query("INSERT INTO cluster_feedback (origin, model, item_json) VALUES ($1, $2, $3)",
                                  replica_id_, item.value("model", ""), item.dump());
    if (r.is_ok()) return true;
    if (forward_conn_->ok()) {  // the database refused it: not a connection to renew
      spdlog::warn("forwarding feedback: {}", r.status().to_string());
      return false;
    }
  }
  return false;
}

Result<int> FeedbackRelay::exchange(pg::Connection& conn, const Join& join) {
  QUIVER_RETURN_IF_ERROR(conn.query("DELETE FROM cluster_feedback WHERE posted_at < clock_timestamp() - $1 * "
                                    "interval '1 second'",
                                    static_cast<int64_t>(max_age_.count()))
                             .status());
  QUIVER_ASSIGN_OR_RETURN(auto rows, conn.query("SELECT id, item_json FROM cluster_feedback WHERE origin <> $1 "
                                                "ORDER BY id LIMIT 10000",
                                                replica_id_));
  std::set<int64_t> present;
  int joined = 0;
  for (int i = 0; i < rows.size(); ++i) {
    const int64_t id = rows.int_at(i, 0);
    present.insert(id);
    if (tried_.count(id)) continue;
    const nlohmann::json item = nlohmann::json::parse(rows.text_at(i, 1), nullptr, false);
    const std::string result = item.is_object() ? join(item) : "invalid";
    if (result == "unknown") {
      tried_.insert(id);  // logged elsewhere, or by nobody: not ours to settle
      continue;
    }
    // Joined here (or settled for good: a duplicate, expired or invalid item).
    QUIVER_RETURN_IF_ERROR(conn.query("DELETE FROM cluster_feedback WHERE id = $1", id).status());
    if (result == "joined") ++joined;
  }
  // Forget items that are gone (joined elsewhere or expired).
  for (auto it = tried_.begin(); it != tried_.end();) it = present.count(*it) ? std::next(it) : tried_.erase(it);
  return joined;
}

}  // namespace quiver::cluster

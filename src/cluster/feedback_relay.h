// Feedback across replicas: a user posts feedback to whichever replica the load
// balancer picks, but the prediction it names was logged by the replica that answered
// the request. An item a replica cannot join is forwarded through PostgreSQL
// (cluster_feedback); every other replica tries the items it has not tried yet at each
// heartbeat, and the one that logged the prediction joins it and removes it. Items no
// replica joins are removed when they are older than the prediction log keeps
// predictions.
//
// Thread-safety: forward() from any thread; exchange() from the heartbeat thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "pg/connection.h"

namespace quiver::cluster {

class FeedbackRelay {
 public:
  // Joins one item here; answers "joined", "unknown", "expired", "duplicate" or "invalid".
  using Join = std::function<std::string(const nlohmann::json& item)>;

  FeedbackRelay(std::string url, std::string replica_id, std::chrono::seconds max_age)
      : url_(std::move(url)), replica_id_(std::move(replica_id)), max_age_(max_age) {}

  // Hands the item to the other replicas; false when the database cannot take it.
  bool forward(const nlohmann::json& item);
  // One round on the heartbeat's connection: try the others' new items, remove the
  // ones settled here and the expired ones. Returns how many joined here.
  Result<int> exchange(pg::Connection& conn, const Join& join);

 private:
  const std::string url_;
  const std::string replica_id_;
  const std::chrono::seconds max_age_;
  std::mutex forward_mu_;
  std::unique_ptr<pg::Connection> forward_conn_;
  std::set<int64_t> tried_;  // items this replica could not join; heartbeat thread only
};

}  // namespace quiver::cluster

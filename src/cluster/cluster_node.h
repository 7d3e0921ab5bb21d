// ClusterNode: this replica's part in a cluster of replicas that share a PostgreSQL
// registry. It never decides what is deployed (the registry does); it makes the
// replicas agree quickly and shows whether they have:
//
//  - change propagation: a connection that LISTENs for the registry's NOTIFY and, in
//    case a notification is missed (or the connection was down), also reads the
//    registry revision every poll interval; each new revision wakes `on_change`;
//  - the leader lease (leader_lease.h), renewed every heartbeat;
//  - heartbeats (replica_heartbeat.h) and the exchange of traffic counters
//    (counter_exchange.h), every heartbeat.
//
// Broken connections are reopened with exponential backoff (100 ms doubling to 5 s),
// and the leader steps down when it cannot renew. Metrics: quiver_registry_connected,
// quiver_registry_revision, quiver_registry_staleness_seconds, quiver_cluster_leader,
// quiver_cluster_leader_epoch, quiver_cluster_replicas.
//
// step_heartbeat() and step_watch() are single deterministic rounds (tests drive them);
// start() runs each on a thread of its own.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/counter_exchange.h"
#include "cluster/leader_lease.h"
#include "cluster/replica_heartbeat.h"
#include "core/clock.h"
#include "core/periodic_loop.h"
#include "pg/connection.h"

namespace quiver::metrics { class MetricsRegistry; class Gauge; }

namespace quiver::cluster {

struct ClusterOptions {
  std::string url;         // the registry's postgresql:// URL
  std::string replica_id;  // unique per replica (a pod name, host:port)
  std::string address;     // where this replica's HTTP API answers
  std::chrono::milliseconds lease_ttl{2000};
  std::chrono::milliseconds heartbeat_interval{500};
  std::chrono::milliseconds poll_interval{1000};
  bool listen = true;  // false: polling alone (networks that drop notifications; tests)
};

struct ClusterHooks {
  // A newer registry revision is visible: reconcile with it.
  std::function<void(int64_t revision)> on_change;
  // This replica's applied revision and loaded versions, for its heartbeat (its
  // state's "leader" and "epoch" are already set).
  std::function<void(ReplicaState& self)> describe_self;
  // This replica's cumulative traffic counters, published every heartbeat.
  std::function<std::vector<CounterRow>()> local_counters;
  // The other replicas' fresh counters, received every heartbeat.
  std::function<void(std::vector<CounterRow>)> remote_counters;
  // After each heartbeat round that reached the database, with the newest revision seen.
  std::function<void(int64_t known_revision)> after_heartbeat;
  // The change feed (re)connected to the database (the server swaps a snapshot out).
  std::function<void()> on_connected;
  // More exchange on the heartbeat's connection each round (forwarded feedback).
  std::function<Status(pg::Connection& conn)> exchange;
};

class ClusterNode {
 public:
  ClusterNode(ClusterOptions options, const Clock& clock, metrics::MetricsRegistry* metrics, ClusterHooks hooks);
  ~ClusterNode();

  void start();
  // Releases the lease and removes the heartbeat row, then stops the threads.
  void stop();

  // One heartbeat round: (re)connect, lease, heartbeat, counters. Returns the delay
  // until the next round.
  std::chrono::milliseconds step_heartbeat();
  // One watch round: wait for a notification up to `wait`, then read the revision.
  void step_watch(std::chrono::milliseconds wait);

  const LeaderLease& lease() const { return lease_; }
  bool connected() const { return connected_.load(); }
  int64_t known_revision() const { return known_revision_.load(); }
  const ClusterOptions& options() const { return options_; }
  // GET /v1/cluster: {"replica", "leader": {...}, "revision", "replicas": [...]}, each
  // replica with "live" and "converged". Unavailable while the database is down.
  Result<nlohmann::json> describe();
  // Whether every other live replica reported `model`'s `versions` ready in its last
  // heartbeat (as read by this replica's last heartbeat round). A replica whose
  // heartbeats stopped does not hold anyone back.
  bool peers_ready(const std::string& model, const std::vector<int64_t>& versions) const;
  // The live leader's last heartbeat when another replica leads (what it shares, e.g.
  // bandit shares); nullopt otherwise.
  std::optional<ReplicaState> leader_peer() const;

 private:
  struct Link {  // one connection with its reconnect backoff
    std::unique_ptr<pg::Connection> conn;
    std::chrono::steady_clock::time_point next_try{};
    std::chrono::milliseconds backoff{100};
  };
  pg::Connection* ensure(Link& link, bool listen);
  void note_revision(int64_t revision);
  double live_age_seconds() const;
  void export_metrics();

  const ClusterOptions options_;
  const Clock& clock_;
  ClusterHooks hooks_;
  LeaderLease lease_;
  const std::string started_at_;

  std::mutex beat_mu_;   // the heartbeat link
  Link beat_;
  std::mutex watch_mu_;  // the LISTEN link
  Link watch_;
  std::mutex read_mu_;   // the link for describe()
  Link read_;

  mutable std::mutex peers_mu_;
  std::vector<ReplicaState> peers_;                       // the others, as of the last heartbeat round
  std::chrono::steady_clock::time_point peers_read_at_{};

  std::atomic<bool> connected_{false};
  std::atomic<int64_t> known_revision_{0};
  std::atomic<int64_t> last_read_ns_{0};  // steady time of the last successful revision read

  metrics::Gauge* connected_gauge_ = nullptr;
  metrics::Gauge* revision_gauge_ = nullptr;
  metrics::Gauge* staleness_gauge_ = nullptr;
  metrics::Gauge* leader_gauge_ = nullptr;
  metrics::Gauge* epoch_gauge_ = nullptr;
  metrics::Gauge* replicas_gauge_ = nullptr;

  std::atomic<bool> stopping_{false};
  PeriodicLoop beat_loop_{[this] { return step_heartbeat(); }};
  std::thread watch_thread_;
};

}  // namespace quiver::cluster

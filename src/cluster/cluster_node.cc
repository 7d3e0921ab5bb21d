#include "cluster/cluster_node.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "metrics/metrics_registry.h"

namespace quiver::cluster {
namespace {

constexpr std::chrono::milliseconds kMaxBackoff{5000};

int64_t steady_ns(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

Result<int64_t> read_revision(pg::Connection& conn) {
  QUIVER_ASSIGN_OR_RETURN(auto rows, conn.exec("SELECT revision FROM registry_state"));
  if (rows.empty()) return internal_error("the registry has no revision row");
  return rows.int_at(0, 0);
}

}  // namespace

ClusterNode::ClusterNode(ClusterOptions options, const Clock& clock, metrics::MetricsRegistry* metrics,
                         ClusterHooks hooks)
    : options_(std::move(options)),
      clock_(clock),
      hooks_(std::move(hooks)),
      lease_(options_.replica_id, options_.lease_ttl, clock),
      started_at_(format_utc(clock.wall_now())) {
  if (metrics != nullptr) {
    connected_gauge_ = &metrics->gauge("quiver_registry_connected",
                                       "1 while this replica reaches the shared registry database, else 0");
    revision_gauge_ = &metrics->gauge("quiver_registry_revision", "The newest registry revision this replica has seen");
    staleness_gauge_ = &metrics->gauge("quiver_registry_staleness_seconds",
                                       "Seconds since this replica last read the registry revision");
    leader_gauge_ = &metrics->gauge("quiver_cluster_leader", "1 while this replica holds the leader lease");
    epoch_gauge_ = &metrics->gauge("quiver_cluster_leader_epoch", "Epoch of the last leader term this replica held");
    replicas_gauge_ = &metrics->gauge("quiver_cluster_replicas", "Replicas with a fresh heartbeat, this one included");
  }
}

ClusterNode::~ClusterNode() { stop(); }

void ClusterNode::start() {
  stopping_ = false;
  // Read once before serving, so the first reconcile already knows the revision.
  step_watch(std::chrono::milliseconds(0));
  step_heartbeat();
  beat_loop_.start();
  watch_thread_ = std::thread([this] {
    while (!stopping_.load()) step_watch(options_.poll_interval);
  });
}

void ClusterNode::stop() {
  if (stopping_.exchange(true)) return;
  beat_loop_.stop();
  if (watch_thread_.joinable()) watch_thread_.join();
  std::lock_guard lock(beat_mu_);
  if (beat_.conn && beat_.conn->ok()) {
    lease_.release(beat_.conn.get());
    (void)remove_heartbeat(*beat_.conn, options_.replica_id);
  }
}

pg::Connection* ClusterNode::ensure(Link& link, bool listen) {
  if (link.conn && link.conn->ok()) return link.conn.get();
  const auto now = clock_.now();
  if (now < link.next_try) return nullptr;
  link.conn.reset();
  auto opened = pg::Connection::connect(options_.url, std::chrono::seconds(2));
  if (opened.is_ok() && listen) {
    if (Status st = (*opened)->exec("LISTEN quiver_registry").status(); !st.is_ok()) opened = st;
  }
  if (!opened.is_ok()) {
    link.next_try = now + link.backoff;
    link.backoff = std::min(link.backoff * 2, kMaxBackoff);
    return nullptr;
  }
  link.conn = std::move(opened).value();
  link.backoff = std::chrono::milliseconds(100);
  return link.conn.get();
}

void ClusterNode::note_revision(int64_t revision) {
  last_read_ns_ = steady_ns(clock_.now());
  const int64_t before = known_revision_.load();
  if (revision > before) {
    known_revision_ = revision;
    if (hooks_.on_change) hooks_.on_change(revision);
  }
}

void ClusterNode::step_watch(std::chrono::milliseconds wait) {
  std::unique_lock lock(watch_mu_);
  const bool was_connected = watch_.conn && watch_.conn->ok();
  pg::Connection* conn = ensure(watch_, options_.listen);
  if (conn != nullptr && !was_connected && hooks_.on_connected) hooks_.on_connected();
  if (conn == nullptr) {
    connected_ = false;
    export_metrics();
    lock.unlock();
    // Back off without spinning; a stop() is noticed within this wait.
    std::this_thread::sleep_for(std::min(wait, std::chrono::milliseconds(100)));
    return;
  }
  // Whether a notification came or the poll interval passed, read the revision itself:
  // (re)connecting, a missed notification and a coalesced burst all end the same way.
  auto notes = conn->wait_for_notifications(wait);
  auto revision = notes.is_ok() ? read_revision(*conn) : Result<int64_t>(notes.status());
  connected_ = revision.is_ok();
  if (revision.is_ok()) {
    note_revision(*revision);
  } else if (!stopping_.load()) {
    spdlog::warn("registry watch: {}", revision.status().to_string());
  }
  export_metrics();
}

std::chrono::milliseconds ClusterNode::step_heartbeat() {
  std::lock_guard lock(beat_mu_);
  pg::Connection* conn = ensure(beat_, /*listen=*/false);
  lease_.step(conn);
  if (conn != nullptr) {
    ReplicaState self;
    self.id = options_.replica_id;
    self.address = options_.address;
    self.started_at = started_at_;
    self.state["leader"] = lease_.is_leader();
    self.state["epoch"] = lease_.epoch();
    if (hooks_.describe_self) hooks_.describe_self(self);
    Status st = publish_heartbeat(*conn, self);
    if (st.is_ok() && hooks_.local_counters) st = publish_counters(*conn, options_.replica_id, hooks_.local_counters());
    if (st.is_ok() && hooks_.remote_counters) {
      auto rows = read_counters(*conn, options_.replica_id, options_.heartbeat_interval * 6);
      if (rows.is_ok()) {
        hooks_.remote_counters(std::move(rows).value());
      } else {
        st = rows.status();
      }
    }
    if (st.is_ok() && hooks_.exchange) st = hooks_.exchange(*conn);
    if (st.is_ok()) {
      auto replicas = read_replicas(*conn);
      if (replicas.is_ok()) {
        std::vector<ReplicaState> others;
        for (auto& r : *replicas)
          if (r.id != options_.replica_id) others.push_back(std::move(r));
        std::lock_guard peers_lock(peers_mu_);
        peers_ = std::move(others);
        peers_read_at_ = clock_.now();
      } else {
        st = replicas.status();
      }
    }
    if (!st.is_ok()) spdlog::warn("replica heartbeat: {}", st.to_string());
    if (st.is_ok() && hooks_.after_heartbeat) hooks_.after_heartbeat(known_revision_.load());
  }
  export_metrics();
  return options_.heartbeat_interval;
}

void ClusterNode::export_metrics() {
  if (connected_gauge_ == nullptr) return;
  connected_gauge_->set(connected_.load() ? 1 : 0);
  revision_gauge_->set(static_cast<double>(known_revision_.load()));
  const int64_t last = last_read_ns_.load();
  if (last != 0) staleness_gauge_->set(static_cast<double>(steady_ns(clock_.now()) - last) / 1e9);
  leader_gauge_->set(lease_.is_leader() ? 1 : 0);
  epoch_gauge_->set(static_cast<double>(lease_.epoch()));
}

std::optional<ReplicaState> ClusterNode::leader_peer() const {
  std::lock_guard lock(peers_mu_);
  const double since_read = std::chrono::duration<double>(clock_.now() - peers_read_at_).count();
  for (const ReplicaState& peer : peers_)
    if (peer.state.value("leader", false) && peer.age_seconds + since_read < live_age_seconds()) return peer;
  return std::nullopt;
}

double ClusterNode::live_age_seconds() const {
  // Three missed beats end a replica's liveness.
  return 3.0 * std::chrono::duration<double>(options_.heartbeat_interval).count() + 1.0;
}

bool ClusterNode::peers_ready(const std::string& model, const std::vector<int64_t>& versions) const {
  std::lock_guard lock(peers_mu_);
  const double since_read = std::chrono::duration<double>(clock_.now() - peers_read_at_).count();
  for (const ReplicaState& peer : peers_) {
    if (peer.age_seconds + since_read >= live_age_seconds()) continue;  // not live: holds no one back
    for (const int64_t v : versions) {
      bool ready = false;
      if (peer.state.contains("versions"))
        for (const auto& pv : peer.state["versions"])
          ready = ready || (pv.value("model", "") == model && pv.value("version", int64_t{0}) == v &&
                            pv.value("state", "") == "ready");
      if (!ready) return false;
    }
  }
  return true;
}

Result<nlohmann::json> ClusterNode::describe() {
  std::lock_guard lock(read_mu_);
  pg::Connection* conn = ensure(read_, /*listen=*/false);
  if (conn == nullptr) return unavailable("the registry database is unreachable: cluster state unknown");
  auto first = read_revision(*conn);
  if (!first.is_ok() && !conn->ok()) {
    // The connection died since its last use (a database restart): one fresh try.
    read_.next_try = {};
    conn = ensure(read_, /*listen=*/false);
    if (conn == nullptr) return unavailable("the registry database is unreachable: cluster state unknown");
    first = read_revision(*conn);
  }
  QUIVER_ASSIGN_OR_RETURN(const int64_t revision, std::move(first));
  QUIVER_ASSIGN_OR_RETURN(auto lease, LeaderLease::read(*conn));
  QUIVER_ASSIGN_OR_RETURN(auto replicas, read_replicas(*conn));
  const double live_age = live_age_seconds();
  nlohmann::json out = {{"replica", options_.replica_id}, {"revision", revision}};
  // API.md's shape: "leader" is the holder's id (null while no live lease), "epoch" its
  // term; "leader_lease" adds whether the row is still live.
  out["leader"] = lease && lease->live ? nlohmann::json(lease->holder) : nlohmann::json(nullptr);
  out["epoch"] = lease ? lease->epoch : 0;
  out["leader_lease"] = lease ? nlohmann::json{{"replica", lease->holder}, {"epoch", lease->epoch}, {"live", lease->live}}
                              : nlohmann::json(nullptr);
  nlohmann::json list = nlohmann::json::array();
  int live_count = 0;
  bool all_converged = true;
  for (const ReplicaState& r : replicas) {
    const bool live = r.age_seconds < live_age;
    bool ready = true;
    // Converged: every version ready and every model serving its newest revision (a
    // revision held for other replicas, or still loading, is not converged yet).
    if (r.state.contains("versions"))
      for (const auto& v : r.state["versions"])
        ready = ready && v.value("state", "") == "ready" &&
                v.value("serving_revision", int64_t{-1}) == v.value("revision", int64_t{-1});
    const bool converged = live && r.applied_revision >= revision && ready;
    if (live) {
      ++live_count;
      all_converged = all_converged && converged;
    }
    nlohmann::json row = {{"id", r.id},
                          {"address", r.address},
                          {"started_at", r.started_at},
                          {"revision", r.applied_revision},
                          {"heartbeat_age_ms", static_cast<int64_t>(r.age_seconds * 1000)},
                          {"live", live},
                          {"converged", converged},
                          {"leader", lease && lease->live && lease->holder == r.id}};
    for (const auto& [k, v] : r.state.items())
      if (k != "leader") row[k] = v;
    list.push_back(std::move(row));
  }
  if (replicas_gauge_ != nullptr) replicas_gauge_->set(live_count);
  out["replicas"] = std::move(list);
  out["live_replicas"] = live_count;
  out["converged"] = all_converged;
  return out;
}

}  // namespace quiver::cluster

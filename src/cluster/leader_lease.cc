#include "cluster/leader_lease.h"

#include <spdlog/spdlog.h>

namespace quiver::cluster {
namespace {

// One statement, so renewal and takeover are atomic: the row is ours when we hold an
// unexpired lease (renew: same epoch) or when it has expired (take over: epoch + 1; a
// holder whose own lease ran out also starts a new epoch, which fences its old writes).
constexpr std::string_view kAcquire = R"sql(
INSERT INTO cluster_lease AS l (name, holder, epoch, expires_at, acquired_at)
VALUES ('leader', $1, 1, clock_timestamp() + $2 * interval '1 millisecond', clock_timestamp())
ON CONFLICT (name) DO UPDATE SET
  holder = EXCLUDED.holder,
  epoch = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > clock_timestamp() THEN l.epoch ELSE l.epoch + 1 END,
  acquired_at = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > clock_timestamp() THEN l.acquired_at
                     ELSE clock_timestamp() END,
  expires_at = clock_timestamp() + $2 * interval '1 millisecond'
WHERE l.holder = EXCLUDED.holder OR l.expires_at <= clock_timestamp()
RETURNING epoch)sql";

// Each local term ends this much before the database's expiry, for the time a
// renewal's answer takes to arrive and for rate differences between the clocks.
std::chrono::milliseconds safety_margin(std::chrono::milliseconds ttl) { return ttl / 5; }

}  // namespace

LeaderLease::LeaderLease(std::string replica_id, std::chrono::milliseconds ttl, const Clock& clock)
    : replica_id_(std::move(replica_id)), ttl_(ttl), clock_(clock) {}

bool LeaderLease::step(pg::Connection* conn) {
  const auto sent = clock_.now();
  if (conn != nullptr && conn->ok()) {
    auto rows = conn->query(kAcquire, replica_id_, static_cast<int64_t>(ttl_.count()));
    std::lock_guard lock(mu_);
    if (rows.is_ok() && !rows->empty()) {
      const int64_t epoch = rows->int_at(0, 0);
      if (epoch != epoch_ || !valid_until_) spdlog::info("replica {} leads at epoch {}", replica_id_, epoch);
      epoch_ = epoch;
      valid_until_ = sent + ttl_ - safety_margin(ttl_);
      return true;
    }
    if (rows.is_ok() && valid_until_) {
      // Someone else holds an unexpired lease: our term is over.
      spdlog::warn("replica {} lost the leader lease (epoch {})", replica_id_, epoch_);
      valid_until_.reset();
      return false;
    }
    if (!rows.is_ok()) spdlog::warn("leader lease: {}", rows.status().to_string());
  }
  // No answer: the term runs out by itself on the local clock.
  return is_leader();
}

void LeaderLease::release(pg::Connection* conn) {
  std::lock_guard lock(mu_);
  if (!valid_until_) return;
  valid_until_.reset();
  if (conn == nullptr || !conn->ok()) return;
  auto r = conn->query(
      "UPDATE cluster_lease SET expires_at = clock_timestamp() WHERE name = 'leader' AND holder = $1 AND epoch = $2",
      replica_id_, epoch_);
  if (!r.is_ok()) spdlog::warn("releasing the leader lease: {}", r.status().to_string());
}

bool LeaderLease::is_leader() const {
  std::lock_guard lock(mu_);
  return valid_until_ && clock_.now() < *valid_until_;
}

std::optional<registry::Fence> LeaderLease::fence() const {
  std::lock_guard lock(mu_);
  if (!valid_until_ || clock_.now() >= *valid_until_) return std::nullopt;
  return registry::Fence{replica_id_, epoch_};
}

int64_t LeaderLease::epoch() const {
  std::lock_guard lock(mu_);
  return epoch_;
}

Result<std::optional<LeaseView>> LeaderLease::read(pg::Connection& conn) {
  QUIVER_ASSIGN_OR_RETURN(
      auto rows,
      conn.exec("SELECT holder, epoch, expires_at > clock_timestamp() FROM cluster_lease WHERE name = 'leader'"));
  if (rows.empty()) return std::optional<LeaseView>();
  return std::optional<LeaseView>(LeaseView{rows.text_at(0, 0), rows.int_at(0, 1), rows.bool_at(0, 2)});
}

}  // namespace quiver::cluster

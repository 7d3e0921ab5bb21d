// LeaderLease: one leader among replicas that share a PostgreSQL registry, by a lease
// row timed by the database's clock (never by the replicas' own clocks, which drift).
//
// step() renews the lease when this replica holds it, and takes it over when it has
// expired. Each takeover bumps the epoch; the leader's control-loop writes carry
// {holder, epoch} (registry::Fence) and the registry commits them only while the row
// still says so and has not expired, so a leader paused past its lease (SIGSTOP, a long
// GC-like stall, a partition) and then resumed can write nothing.
//
// Locally, is_leader() turns false at `sent + ttl - margin` on the steady clock, where
// `sent` is when the last successful renewal was sent: the database computed the
// expiry after that moment, so the local view ends no later than the real lease. A
// failed renewal (database down) therefore steps the leader down within one TTL.
//
// Thread-safety: step() from one thread; the readers from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "core/clock.h"
#include "pg/connection.h"
#include "registry/registry.h"

namespace quiver::cluster {

struct LeaseView {  // the lease row as the database sees it
  std::string holder;
  int64_t epoch = 0;
  bool live = false;  // not expired by the database clock
};

class LeaderLease {
 public:
  LeaderLease(std::string replica_id, std::chrono::milliseconds ttl, const Clock& clock);

  // One renewal or takeover attempt through `conn` (null or broken: no attempt, the
  // local view just runs out). Returns whether this replica leads after it.
  bool step(pg::Connection* conn);
  // Gives the lease up (clean shutdown), so a standby takes over at once.
  void release(pg::Connection* conn);

  bool is_leader() const;
  // The fence of the current term; nullopt when not leading.
  std::optional<registry::Fence> fence() const;
  int64_t epoch() const;  // of the last term this replica held (0: never)
  const std::string& replica_id() const { return replica_id_; }
  std::chrono::milliseconds ttl() const { return ttl_; }

  // Reads the lease row (for status pages); nullopt when there is none yet.
  static Result<std::optional<LeaseView>> read(pg::Connection& conn);

 private:
  const std::string replica_id_;
  const std::chrono::milliseconds ttl_;
  const Clock& clock_;
  mutable std::mutex mu_;
  int64_t epoch_ = 0;
  std::optional<std::chrono::steady_clock::time_point> valid_until_;  // local steady deadline of the term
};

}  // namespace quiver::cluster

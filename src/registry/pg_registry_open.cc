// Registry::open_postgres and the PostgreSQL registry's connection handling: the
// reconnect policy and the shape of every transaction (see pg_registry.h).
#include <chrono>

#include "registry/pg_migrations.h"
#include "registry/pg_registry.h"

namespace quiver::registry {
namespace {

using namespace std::chrono_literals;

// A dead database must not stall callers: give up connecting after this long...
constexpr auto kConnectTimeout = 2s;
// ...and try again no more often than this, so a burst of calls during an outage
// answers at once instead of each waiting for a connect attempt.
constexpr auto kReconnectEvery = 200ms;
// The cluster-wide lock every write transaction holds until it ends
// ("quiver.write" as a 64-bit constant).
constexpr int64_t kWriteLock = 0x717569766572'5752;

Status unreachable(const std::string& why) { return unavailable("the registry database is unreachable (" + why + ")"); }

}  // namespace

Result<std::unique_ptr<Registry>> Registry::open_postgres(const std::string& url, std::shared_ptr<const Clock> clock) {
  if (!clock) return invalid_argument("Registry::open_postgres: clock must not be null");
  auto conn = pg::Connection::connect(url, kConnectTimeout);
  if (!conn.is_ok()) return unreachable(conn.status().message());
  QUIVER_RETURN_IF_ERROR(apply_pg_migrations(**conn));
  return std::unique_ptr<Registry>(std::make_unique<PgRegistry>(url, std::move(conn).value(), std::move(clock)));
}

std::string PgRegistry::url() const { return pg::redact_url(url_); }

Result<pg::Connection*> PgRegistry::connection_locked() const {
  if (conn_ && conn_->ok()) return conn_.get();
  const auto now = std::chrono::steady_clock::now();
  if (last_connect_ != std::chrono::steady_clock::time_point{} && now - last_connect_ < kReconnectEvery)
    return unreachable(pg::redact_url(url_) + ": the connection broke; reconnecting");
  last_connect_ = now;
  conn_.reset();
  auto fresh = pg::Connection::connect(url_, kConnectTimeout);
  if (!fresh.is_ok()) return unreachable(fresh.status().message());
  conn_ = std::move(fresh).value();
  return conn_.get();
}

Status PgRegistry::begin_write_locked(std::optional<pg::Transaction>& tx, const std::optional<Fence>& fence) const {
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  tx.emplace(*conn_);
  QUIVER_RETURN_IF_ERROR(tx->begin());
  if (fence) {
    // FOR SHARE keeps the lease row as it is until this transaction ends: a replica
    // taking the lease over waits for this write, or this write sees it taken.
    QUIVER_ASSIGN_OR_RETURN(
        pg::Rows lease,
        db().query("SELECT 1 FROM cluster_lease WHERE name = 'leader' AND holder = $1 AND epoch = $2 "
                   "AND expires_at > clock_timestamp() FOR SHARE",
                   fence->holder, fence->epoch));
    if (lease.empty())
      return failed_precondition("fenced: replica " + fence->holder + " no longer holds the leader lease at epoch " +
                                 std::to_string(fence->epoch));
  }
  return db().query("SELECT pg_advisory_xact_lock($1)", kWriteLock).status();
}

Status PgRegistry::commit_write_locked(pg::Transaction& tx) const {
  // NOTIFY is queued here and delivered on COMMIT only, so no replica hears of a
  // revision it cannot read yet.
  QUIVER_RETURN_IF_ERROR(
      db().exec("WITH bumped AS (UPDATE registry_state SET revision = revision + 1 RETURNING revision) "
                "SELECT pg_notify('quiver_registry', revision::text) FROM bumped")
          .status());
  return tx.commit();
}

Status PgRegistry::begin_read_locked(std::optional<pg::Transaction>& tx) const {
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  tx.emplace(*conn_);
  QUIVER_RETURN_IF_ERROR(tx->begin());
  return db().exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").status();
}

Result<int64_t> PgRegistry::revision() const {
  std::lock_guard lock(mu_);
  QUIVER_RETURN_IF_ERROR(connection_locked().status());
  QUIVER_ASSIGN_OR_RETURN(pg::Rows rows, db().exec("SELECT revision FROM registry_state"));
  if (rows.empty()) return data_loss("registry database: the registry_state row is missing");
  return rows.int_at(0, 0);
}

}  // namespace quiver::registry

// A thin RAII layer over libpq that reports errors as Status, shared by the
// PostgreSQL registry (registry/) and the cluster coordination (cluster/).
//
// libpq is used directly, never through a wrapper that reconnects behind our back: a
// silent reconnect would drop LISTEN registrations and session state. A connection
// that breaks stays broken (ok() turns false) and its owner decides when to open a
// new one, with backoff.
//
// Parameters travel as text ($1, $2, ...), except Bytes, which travel in binary (for
// bytea columns). Results are read as text, except bytea columns read with bytes_at
// (hex decoded).
//
// Thread-safety: none; one connection belongs to one thread at a time (its owner
// serialises access).
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace quiver::pg {

// A binary parameter (a bytea value) as opposed to text.
struct Bytes {
  std::string_view data;
};

// One query parameter: SQL NULL when `value` is empty.
struct Param {
  std::optional<std::string> value;
  bool binary = false;

  Param(std::nullopt_t) {}  // NOLINT: implicit, so exec(sql, std::nullopt) reads well
  Param(std::string_view v) : value(std::string(v)) {}  // NOLINT
  Param(const std::string& v) : value(v) {}             // NOLINT
  Param(const char* v) : value(std::string(v)) {}       // NOLINT
  Param(int64_t v) : value(std::to_string(v)) {}        // NOLINT
  Param(int v) : value(std::to_string(v)) {}            // NOLINT
  Param(uint64_t v) : value(std::to_string(v)) {}       // NOLINT
  Param(bool v) : value(v ? "true" : "false") {}        // NOLINT
  Param(Bytes b) : value(std::string(b.data)), binary(true) {}  // NOLINT
  template <typename T>
  Param(const std::optional<T>& v) {  // NOLINT
    if (v) *this = Param(*v);
  }
};

// The rows of one statement. Rows and columns are numbered from 0.
class Rows {
 public:
  Rows() = default;
  explicit Rows(PGresult* result) : result_(result, &PQclear) {}

  int size() const { return result_ ? PQntuples(result_.get()) : 0; }
  bool empty() const { return size() == 0; }
  bool is_null(int row, int column) const;
  std::string text_at(int row, int column) const;
  int64_t int_at(int row, int column) const;  // 0 for NULL
  bool bool_at(int row, int column) const;    // "t" -> true
  std::string bytes_at(int row, int column) const;  // a bytea column, decoded
  // Rows changed by an INSERT/UPDATE/DELETE without RETURNING.
  int64_t affected() const;

 private:
  std::shared_ptr<PGresult> result_;
};

struct Notification {
  std::string channel;
  std::string payload;
};

class Connection {
 public:
  // Connects to `url` (postgresql://user@host:port/db?...; any libpq connection string
  // works). Unavailable, with libpq's reason and the URL without its password, when
  // the server cannot be reached in `timeout`.
  static Result<std::unique_ptr<Connection>> connect(const std::string& url,
                                                     std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement with parameters $1, $2, ...; an error maps through
  // status_from_result.
  Result<Rows> exec(std::string_view sql, const std::vector<Param>& params = {});
  template <typename... Args>
  Result<Rows> query(std::string_view sql, const Args&... args) {
    return exec(sql, std::vector<Param>{Param(args)...});
  }
  // Runs one or more statements that take no parameters (schema scripts).
  Status exec_script(std::string_view sql);

  // False once the connection has broken; it never comes back by itself.
  bool ok() const;
  // Waits until the server sends something (a notification) or `timeout` passes, then
  // returns the notifications received. Unavailable when the connection broke.
  Result<std::vector<Notification>> wait_for_notifications(std::chrono::milliseconds timeout);
  // The server's description of the URL we connected to, without the password.
  const std::string& description() const { return description_; }
  PGconn* handle() const { return conn_; }

 private:
  explicit Connection(PGconn* conn, std::string description) : conn_(conn), description_(std::move(description)) {}
  PGconn* conn_ = nullptr;
  std::string description_;
};

// BEGIN ... COMMIT; rolls back when destroyed uncommitted, so every early return on an
// error leaves the database untouched.
class Transaction {
 public:
  explicit Transaction(Connection& conn) : conn_(conn) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status begin();
  Status commit();

 private:
  Connection& conn_;
  bool active_ = false;
};

// Maps a failed result to a Status by its SQLSTATE, so every caller agrees:
// 23505 unique violation -> AlreadyExists; 23503 foreign key -> NotFound; 40001 and
// 40P01 (serialization, deadlock) -> Aborted-like FailedPrecondition; connection
// failures (08xxx, 57P0x, a broken connection) -> Unavailable; 53100 disk full ->
// InsufficientStorage; 22xxx bad data -> InvalidArgument; anything else -> Internal.
Status status_from_result(const PGresult* result, const PGconn* conn, std::string_view what);

// `url` with any password replaced by "***", for logs and messages.
std::string redact_url(const std::string& url);

// True for a PostgreSQL URL (postgresql:// or postgres://).
bool is_postgres_url(std::string_view s);

}  // namespace quiver::pg

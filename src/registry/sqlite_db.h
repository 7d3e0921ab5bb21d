// A thin RAII layer over the SQLite C API that reports errors as Status. Internal
// to the registry module.
//
// Thread-safety: none; the owner serialises access (the registry holds a mutex).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace quiver::registry::sqlite {

// One prepared statement. Bind parameters are numbered from 1, columns from 0.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Status bind(int index, int64_t value);
  Status bind(int index, std::string_view value);
  Status bind(int index, std::nullopt_t);

  // True when a row is available, false when the statement is done.
  Result<bool> step();
  // Steps to the end, for statements that return no rows.
  Status run();

  bool is_null(int column) const;
  int64_t int_at(int column) const;
  std::string text_at(int column) const;

 private:
  Status error(std::string_view what, int rc) const;

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  // Opens (creating if needed) the file in WAL mode, with foreign keys enforced and
  // synchronous=FULL so a committed transaction survives a crash or power loss.
  // Refuses, with a message that names the file: a file it cannot write (Unavailable),
  // and a damaged one (DataLoss: not a database, or PRAGMA quick_check finds a bad
  // page), so a corrupt registry stops the server at start-up instead of failing
  // requests at random later.
  static Result<std::unique_ptr<Database>> open(const std::filesystem::path& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements that take no parameters.
  Status exec(std::string_view sql);

  Result<Statement> prepare(std::string_view sql);
  // Prepares and binds `args` to ?1, ?2, ...
  template <typename... Args>
  Result<Statement> prepare(std::string_view sql, const Args&... args) {
    QUIVER_ASSIGN_OR_RETURN(Statement st, prepare(sql));
    int index = 1;
    Status status;
    ((status = status.is_ok() ? st.bind(index++, args) : status), ...);
    if (!status.is_ok()) return status;
    return st;
  }
  // Prepares, binds and runs a statement that returns no rows.
  template <typename... Args>
  Status run(std::string_view sql, const Args&... args) {
    QUIVER_ASSIGN_OR_RETURN(Statement st, prepare(sql, args...));
    return st.run();
  }

  int64_t last_insert_rowid() const;
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t changes() const;
  sqlite3* handle() const { return db_; }

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back when destroyed uncommitted, so every early
// return on an error leaves the database untouched. IMMEDIATE takes the write lock
// up front, so reads made inside (e.g. max(version) + 1) cannot be raced.
class Transaction {
 public:
  explicit Transaction(Database& db) : db_(db) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status begin();
  Status commit();

 private:
  Database& db_;
  bool active_ = false;
};

// Maps an SQLite result code to a Status; kept here so every call site agrees.
Status status_from_sqlite(int rc, std::string_view what, std::string_view detail);

}  // namespace quiver::registry::sqlite

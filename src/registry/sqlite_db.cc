#include "registry/sqlite_db.h"

#include <utility>

namespace quiver::registry::sqlite {

Status status_from_sqlite(int rc, std::string_view what, std::string_view detail) {
  std::string message = "registry database: " + std::string(what) + ": " + std::string(detail);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return unavailable(std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return data_loss(std::move(message));
    case SQLITE_CONSTRAINT:
      return failed_precondition(std::move(message));
    default:
      return internal_error(std::move(message));
  }
}

// --- Statement ---

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Status Statement::error(std::string_view what, int rc) const {
  const char* sql = stmt_ ? sqlite3_sql(stmt_) : nullptr;
  std::string context = std::string(what) + (sql ? " of '" + std::string(sql) + "'" : "");
  return status_from_sqlite(rc, context, sqlite3_errmsg(db_));
}

Status Statement::bind(int index, int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  return rc == SQLITE_OK ? Status::ok() : error("bind", rc);
}

Status Statement::bind(int index, std::string_view value) {
  const int rc = sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return rc == SQLITE_OK ? Status::ok() : error("bind", rc);
}

Status Statement::bind(int index, std::nullopt_t) {
  const int rc = sqlite3_bind_null(stmt_, index);
  return rc == SQLITE_OK ? Status::ok() : error("bind", rc);
}

Result<bool> Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return error("step", rc);
}

Status Statement::run() {
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, step());
    if (!row) return Status::ok();
  }
}

bool Statement::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

int64_t Statement::int_at(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::text_at(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

// --- Database ---

Result<std::unique_ptr<Database>> Database::open(const std::filesystem::path& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                                 nullptr);
  std::unique_ptr<Database> db(new Database(raw));  // owns `raw` even when opening failed
  if (rc != SQLITE_OK)
    return status_from_sqlite(rc, "opening '" + path.string() + "'", raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
  sqlite3_extended_result_codes(raw, 1);
  // Another process (a second server on the same data dir, a backup) may hold the
  // write lock briefly; wait rather than fail at once.
  sqlite3_busy_timeout(raw, 5000);

  QUIVER_ASSIGN_OR_RETURN(Statement mode, db->prepare("PRAGMA journal_mode=WAL"));
  QUIVER_ASSIGN_OR_RETURN(bool has_row, mode.step());
  if (!has_row || mode.text_at(0) != "wal")
    return internal_error("registry database '" + path.string() + "': cannot switch to WAL mode (got '" +
                          (has_row ? mode.text_at(0) : std::string()) + "')");
  // FULL (not NORMAL): in WAL mode NORMAL may lose the last commits on power loss; the
  // registry is small and written rarely, so we pay the fsync per commit.
  QUIVER_RETURN_IF_ERROR(db->exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  return db;
}

Database::~Database() { sqlite3_close_v2(db_); }

Status Database::exec(std::string_view sql) {
  char* err = nullptr;
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::ok();
  std::string detail = err ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return status_from_sqlite(rc, "exec", detail);
}

Result<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return status_from_sqlite(rc, "prepare '" + std::string(sql) + "'", sqlite3_errmsg(db_));
  }
  return Statement(db_, stmt);
}

int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

int64_t Database::changes() const { return sqlite3_changes64(db_); }

// --- Transaction ---

Transaction::~Transaction() {
  if (active_) (void)db_.exec("ROLLBACK");
}

Status Transaction::begin() {
  QUIVER_RETURN_IF_ERROR(db_.exec("BEGIN IMMEDIATE"));
  active_ = true;
  return Status::ok();
}

Status Transaction::commit() {
  QUIVER_RETURN_IF_ERROR(db_.exec("COMMIT"));
  active_ = false;
  return Status::ok();
}

}  // namespace quiver::registry::sqlite

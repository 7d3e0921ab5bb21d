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
    case SQLITE_FULL:  // the disk is full: 507, like a blob upload that meets ENOSPC
      return insufficient_storage(std::move(message));
    case SQLITE_READONLY:
      return unavailable(std::move(message));
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

namespace {

// How many of quick_check's findings a refusal quotes; the rest are counted.
constexpr int kQuotedFindings = 3;

// status_from_sqlite()'s messages start with "registry database: ".
std::string without_prefix(std::string m) {
  constexpr std::string_view kPrefix = "registry database: ";
  if (m.rfind(kPrefix, 0) == 0) m.erase(0, kPrefix.size());
  return m;
}

// Every open-time failure names the file and says what to do, whatever step met it.
Status open_failure(const std::filesystem::path& path, const Status& status) {
  std::string message = "registry database '" + path.string() + "' cannot be opened: " + without_prefix(status.message());
  if (status.code() == StatusCode::kDataLoss) {
    message += "; the file is damaged: restore it from a backup (quiver restore) or move it aside to start empty";
  }
  return Status(status.code(), std::move(message));
}

// PRAGMA quick_check: every page of every b-tree is read and checked (without the
// index-to-table cross checks of integrity_check, so it stays fast). A damaged page
// is refused here, at start-up, instead of failing whichever request first reads it.
Status quick_check(Database& db) {
  QUIVER_ASSIGN_OR_RETURN(Statement check, db.prepare("PRAGMA quick_check"));
  std::string findings;
  int count = 0;
  for (;;) {
    Result<bool> row = check.step();
    // A page too broken to walk stops the check itself (SQLITE_CORRUPT).
    if (!row.is_ok() && row.status().code() == StatusCode::kDataLoss)
      return data_loss("registry database: integrity check failed: " + without_prefix(row.status().message()));
    if (!row.is_ok()) return row.status();
    if (!*row) break;
    const std::string line = check.text_at(0);
    if (line == "ok") return Status::ok();
    if (++count <= kQuotedFindings) findings += (findings.empty() ? "" : "; ") + line;
  }
  if (count == 0) return Status::ok();
  if (count > kQuotedFindings) findings += "; and " + std::to_string(count - kQuotedFindings) + " more";
  return data_loss("registry database: integrity check failed: " + findings);
}

}  // namespace

Result<std::unique_ptr<Database>> Database::open(const std::filesystem::path& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                                 nullptr);
  std::unique_ptr<Database> db(new Database(raw));  // owns `raw` even when opening failed
  if (rc != SQLITE_OK) {
    return open_failure(path, status_from_sqlite(rc, "open", raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(raw, 1);
  // SQLite quietly opens a file it may not write read-only; the registry must write,
  // so say so now rather than at the first change.
  if (sqlite3_db_readonly(raw, "main") == 1) {
    return unavailable("registry database '" + path.string() +
                       "' is read-only (a read-only file or data directory); the server needs to write it");
  }
  // Another process (a second server on the same data dir, a backup) may hold the
  // write lock briefly; wait rather than fail at once.
  sqlite3_busy_timeout(raw, 5000);

  auto mode = db->prepare("PRAGMA journal_mode=WAL");
  if (!mode.is_ok()) return open_failure(path, mode.status());
  auto has_row = mode->step();
  if (!has_row.is_ok()) return open_failure(path, has_row.status());
  if (!*has_row || mode->text_at(0) != "wal")
    return internal_error("registry database '" + path.string() + "': cannot switch to WAL mode (got '" +
                          (*has_row ? mode->text_at(0) : std::string()) + "')");
  // FULL (not NORMAL): in WAL mode NORMAL may lose the last commits on power loss; the
  // registry is small and written rarely, so we pay the fsync per commit.
  if (Status st = db->exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"); !st.is_ok())
    return open_failure(path, st);
  if (Status st = quick_check(*db); !st.is_ok()) return open_failure(path, st);
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

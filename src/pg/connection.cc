#include "pg/connection.h"

#include <poll.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace quiver::pg {

namespace {

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

bool Rows::is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }

std::string Rows::text_at(int row, int column) const {
  if (is_null(row, column)) return "";
  return std::string(PQgetvalue(result_.get(), row, column),
                     static_cast<size_t>(PQgetlength(result_.get(), row, column)));
}

int64_t Rows::int_at(int row, int column) const {
  if (is_null(row, column)) return 0;
  return std::strtoll(PQgetvalue(result_.get(), row, column), nullptr, 10);
}

bool Rows::bool_at(int row, int column) const {
  if (is_null(row, column)) return false;
  return PQgetvalue(result_.get(), row, column)[0] == 't';
}

std::string Rows::bytes_at(int row, int column) const {
  if (is_null(row, column)) return "";
  size_t length = 0;
  unsigned char* decoded =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row, column)), &length);
  if (decoded == nullptr) return "";
  std::string out(reinterpret_cast<const char*>(decoded), length);
  PQfreemem(decoded);
  return out;
}

int64_t Rows::affected() const {
  const char* n = result_ ? PQcmdTuples(result_.get()) : "";
  return (n && *n) ? std::strtoll(n, nullptr, 10) : 0;
}

std::string redact_url(const std::string& url) {
  // postgresql://user:secret@host/...  ->  postgresql://user:***@host/...
  const size_t scheme = url.find("://");
  if (scheme != std::string::npos) {
    const size_t at = url.find('@', scheme + 3);
    const size_t colon = url.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at)
      return url.substr(0, colon + 1) + "***" + url.substr(at);
  }
  // key=value form: password=...
  const size_t pw = url.find("password=");
  if (pw != std::string::npos) {
    size_t end = url.find(' ', pw);
    if (end == std::string::npos) end = url.size();
    return url.substr(0, pw) + "password=***" + url.substr(end);
  }
  return url;
}

bool is_postgres_url(std::string_view s) { return s.starts_with("postgresql://") || s.starts_with("postgres://"); }

Status status_from_result(const PGresult* result, const PGconn* conn, std::string_view what) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = trimmed(result ? PQresultErrorMessage(result) : nullptr);
  if (message.empty()) message = trimmed(conn ? PQerrorMessage(conn) : nullptr);
  const std::string text = std::string(what) + ": " + message;
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK || state == nullptr)
    return unavailable("the registry database is unreachable (" + text + ")");
  const std::string_view s = state;
  if (s == "23505") return already_exists(text);
  if (s == "23503") return not_found(text);
  if (s == "40001" || s == "40P01") return failed_precondition("a concurrent change won; retry (" + text + ")");
  if (s.starts_with("08") || s.starts_with("57P")) return unavailable("the registry database is unreachable (" + text + ")");
  if (s == "53100") return insufficient_storage(text);
  if (s.starts_with("53")) return unavailable(text);
  if (s.starts_with("22")) return invalid_argument(text);
  return internal_error(text);
}

Result<std::unique_ptr<Connection>> Connection::connect(const std::string& url, std::chrono::milliseconds timeout) {
  const std::string seconds = std::to_string(std::max<int64_t>(1, (timeout.count() + 999) / 1000));
  const char* keywords[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* values[] = {url.c_str(), seconds.c_str(), "quiver", nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return unavailable("cannot allocate a PostgreSQL connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string why = trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return unavailable("cannot connect to PostgreSQL at " + redact_url(url) + ": " + why);
  }
  // Quiet NOTICEs (e.g. "relation already exists, skipping") stay out of stderr.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Connection>(new Connection(conn, redact_url(url)));
}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

bool Connection::ok() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

Result<Rows> Connection::exec(std::string_view sql, const std::vector<Param>& params) {
  if (!ok()) return unavailable("the registry database connection is broken (" + description_ + ")");
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size());
  std::vector<int> formats(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    values[i] = params[i].value ? params[i].value->data() : nullptr;
    lengths[i] = params[i].value ? static_cast<int>(params[i].value->size()) : 0;
    formats[i] = params[i].binary ? 1 : 0;
  }
  const std::string text(sql);
  PGresult* result = PQexecParams(conn_, text.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                                  lengths.data(), formats.data(), /*resultFormat=*/0);
  const ExecStatusType st = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Rows(result);
  Status status = status_from_result(result, conn_, "PostgreSQL");
  if (result) PQclear(result);
  return status;
}

Status Connection::exec_script(std::string_view sql) {
  if (!ok()) return unavailable("the registry database connection is broken (" + description_ + ")");
  const std::string text(sql);
  PGresult* result = PQexec(conn_, text.c_str());
  const ExecStatusType st = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  Status status = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? Status::ok()
                                                                    : status_from_result(result, conn_, "PostgreSQL");
  if (result) PQclear(result);
  return status;
}

Result<std::vector<Notification>> Connection::wait_for_notifications(std::chrono::milliseconds timeout) {
  std::vector<Notification> out;
  const auto drain = [&]() -> Status {
    if (PQconsumeInput(conn_) == 0)
      return unavailable("the registry database connection broke: " + trimmed(PQerrorMessage(conn_)));
    while (PGnotify* n = PQnotifies(conn_)) {
      out.push_back({n->relname ? n->relname : "", n->extra ? n->extra : ""});
      PQfreemem(n);
    }
    return Status::ok();
  };
  if (!ok()) return unavailable("the registry database connection is broken (" + description_ + ")");
  QUIVER_RETURN_IF_ERROR(drain());
  if (!out.empty()) return out;
  pollfd pfd{PQsocket(conn_), POLLIN, 0};
  const int rc = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
  if (rc > 0) QUIVER_RETURN_IF_ERROR(drain());
  if (!ok()) return unavailable("the registry database connection broke (" + description_ + ")");
  return out;
}

Transaction::~Transaction() {
  if (active_ && conn_.ok()) (void)conn_.exec("ROLLBACK");
}

Status Transaction::begin() {
  QUIVER_RETURN_IF_ERROR(conn_.exec("BEGIN").status());
  active_ = true;
  return Status::ok();
}

Status Transaction::commit() {
  auto r = conn_.exec("COMMIT");
  active_ = false;
  return r.status();
}

}  // namespace quiver::pg

// The one error type that crosses module boundaries.
//
// Every fallible call returns Status or Result<T>. Exceptions from third-party
// libraries are caught at the edge of the module that calls them and turned into a
// Status here; api/ maps a StatusCode to an HTTP status and a gRPC code in one table.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace quiver {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // malformed input: 400
  kNotFound,            // unknown model, version, alias, blob: 404
  kAlreadyExists,       // conflicting create: 409
  kFailedPrecondition,  // valid request, wrong state (e.g. alias in use): 409
  kPayloadTooLarge,     // body over the limit: 413
  kResourceExhausted,   // queue full / overloaded: 429
  kUnavailable,         // not ready, worker down: 503
  kDeadlineExceeded,    // request timed out: 504
  kDataLoss,            // corrupt artifact or blob: 500
  kInternal,            // a bug or a runtime failure: 500
  kUnauthenticated,     // missing, invalid, expired or revoked credentials: 401
  kPermissionDenied,    // authenticated, but the role or scope does not allow it: 403
  kInsufficientStorage, // the disk is full (ENOSPC) or over quota (EDQUOT): 507
};

std::string_view status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes context: "loading model 'm' v2: <message>".
  Status with_context(std::string_view context) const;
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status already_exists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status failed_precondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status payload_too_large(std::string m) { return {StatusCode::kPayloadTooLarge, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status deadline_exceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
inline Status data_loss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
inline Status permission_denied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status insufficient_storage(std::string m) { return {StatusCode::kInsufficientStorage, std::move(m)}; }

// A value or the Status that explains why there is none. Never holds an ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).is_ok() && "Result built from an ok Status");
  }

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }

  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace quiver

// Returns early from the enclosing function when `expr` (a Status) is not ok.
#define QUIVER_RETURN_IF_ERROR(expr)           \
  do {                                         \
    ::quiver::Status _st = (expr);             \
    if (!_st.is_ok()) return _st;              \
  } while (0)

#define QUIVER_CONCAT_INNER(a, b) a##b
#define QUIVER_CONCAT(a, b) QUIVER_CONCAT_INNER(a, b)
// QUIVER_ASSIGN_OR_RETURN(auto x, f()) : x = f().value(), or return its Status.
#define QUIVER_ASSIGN_OR_RETURN(decl, expr) \
  QUIVER_ASSIGN_OR_RETURN_IMPL(QUIVER_CONCAT(_res_, __LINE__), decl, expr)
#define QUIVER_ASSIGN_OR_RETURN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.is_ok()) return tmp.status();              \
  decl = std::move(tmp).value()

#include "api/common/status_mapping.h"

namespace quiver::api {
namespace {

struct CodeMapping {
  int http_status;
  int grpc_code;
};

// One row per StatusCode. The compiler warns (-Wswitch, an error here) when a code
// is added to core/status.h without a row, so the table cannot silently fall behind.
CodeMapping mapping_for(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return {200, 0};                   // OK
    case StatusCode::kInvalidArgument: return {400, 3};      // INVALID_ARGUMENT
    case StatusCode::kNotFound: return {404, 5};             // NOT_FOUND
    case StatusCode::kAlreadyExists: return {409, 6};        // ALREADY_EXISTS
    case StatusCode::kFailedPrecondition: return {409, 9};   // FAILED_PRECONDITION
    case StatusCode::kPayloadTooLarge: return {413, 8};      // RESOURCE_EXHAUSTED
    case StatusCode::kResourceExhausted: return {429, 8};    // RESOURCE_EXHAUSTED
    case StatusCode::kUnavailable: return {503, 14};         // UNAVAILABLE
    case StatusCode::kDeadlineExceeded: return {504, 4};     // DEADLINE_EXCEEDED
    case StatusCode::kDataLoss: return {500, 15};            // DATA_LOSS
    case StatusCode::kInternal: return {500, 13};            // INTERNAL
    case StatusCode::kUnauthenticated: return {401, 16};     // UNAUTHENTICATED
    case StatusCode::kPermissionDenied: return {403, 7};     // PERMISSION_DENIED
    case StatusCode::kInsufficientStorage: return {507, 8};  // RESOURCE_EXHAUSTED (disk full)
  }
  return {500, 13};  // an out-of-range value is a bug: report it as internal
}

}  // namespace

int http_status_for(StatusCode code) { return mapping_for(code).http_status; }

int grpc_code_for(StatusCode code) { return mapping_for(code).grpc_code; }

}  // namespace quiver::api

// The one table that turns a quiver::StatusCode into what a client sees: an HTTP
// status for the REST frontend and a gRPC status code for the gRPC frontend.
// Keeping both in one place means the two protocols never disagree about an error.
//
// Thread-safety: pure functions, safe from any thread.
#pragma once

#include "core/status.h"

namespace quiver::api {

// HTTP status for a code, e.g. kNotFound -> 404, kPayloadTooLarge -> 413.
int http_status_for(StatusCode code);

// gRPC status code number (grpc::StatusCode values as ints), e.g. kNotFound -> 5.
// kPayloadTooLarge has no gRPC counterpart and maps to RESOURCE_EXHAUSTED (8).
int grpc_code_for(StatusCode code);

}  // namespace quiver::api

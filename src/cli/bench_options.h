// The arguments of `quiver bench` that need parsing beyond what CLI11 does: a
// duration ("10s", "500ms", "2m", or plain seconds), a concurrency sweep
// ("1,4,16") and the gRPC server address.
//
// Errors are kInvalidArgument with a message that quotes the argument.
// Thread-safety: free functions without shared state.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace quiver::cli {

// "10s", "1.5s", "500ms", "250us", "2m", or a plain number of seconds; must be > 0,
// or >= 0 with `allow_zero` (a warmup may be switched off).
Result<std::chrono::nanoseconds> parse_duration_arg(std::string_view text, bool allow_zero = false);

// "1,4,16" -> {1, 4, 16}: positive integers, at most 10000 each, in the order given.
Result<std::vector<int>> parse_concurrency_list(std::string_view text);

// The address `quiver bench --protocol grpc` connects to. `given` is the
// --grpc-server value, else $QUIVER_GRPC_SERVER, else "": HOST:PORT, with IPv6
// literals in brackets ("[::1]:8001"). When "", the HTTP server's host (as
// parse_server_url gives it, without brackets) with `default_port`.
Result<std::string> grpc_server_address(std::string_view given, std::string_view http_host,
                                        std::string_view default_port);

}  // namespace quiver::cli

// The server's own log (not the access log): level and format from
// `quiver serve --log-level trace|debug|info|warn|error --log-format text|json`.
//
// Text is spdlog's usual line, coloured when stderr is a terminal. JSON is one object
// per line, for log shippers:
//   {"time":"2026-12-02T01:02:03.456Z","level":"info","thread":1234,"msg":"..."}
// with the message escaped, so a model name with a quote cannot break the line.
//
// Thread-safety: call once at start, before other threads log.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace quiver::api {

// Validates the two values (InvalidArgument naming the accepted ones otherwise).
Status check_log_options(std::string_view level, std::string_view format);

// Installs the default logger "quiver" on stderr with that level and format.
// Precondition: check_log_options() accepted the values.
Status configure_logging(std::string_view level, std::string_view format);

// Escapes text for the inside of a JSON string (quotes, backslashes, control bytes).
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace quiver::api

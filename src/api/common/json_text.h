// JSON string escaping for text that may hold anything (a client's model name, a log
// message): quotes, backslashes and control characters escaped, invalid UTF-8 replaced
// by U+FFFD, so the result is always valid inside a JSON string. Shared by the HTTP
// frontend's error bodies, the access log and the JSON log format.
#pragma once

#include <string>
#include <string_view>

namespace quiver::api {

// The escaped text, without the surrounding quotes.
std::string json_escape(std::string_view text);

}  // namespace quiver::api

// Checks and decodings applied to a buffered request body before its handler runs,
// so that every endpoint gets them and none can forget them. Internal to HttpServer.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace quiver::http::detail {

enum class ContentCoding { kIdentity, kGzip, kDeflate };

// Reads a Content-Encoding header value: "" and "identity" are kIdentity; "gzip",
// "x-gzip" and "deflate" (case-insensitive) their codings. Anything else, including a
// list of several codings, is an InvalidArgument error that names the value (the
// server answers it with 415 Unsupported Media Type).
Result<ContentCoding> parse_content_coding(std::string_view header_value);

// Inflates a gzip or deflate body (zlib-wrapped, or raw deflate as some clients send
// it). The output may hold at most `limit` bytes: beyond, PayloadTooLarge (413) —
// checked while inflating, so a small bomb never grows past the limit in memory.
// Corrupt or truncated data is InvalidArgument (400). kIdentity returns the input.
Result<std::string> decode_body(ContentCoding coding, std::string_view body, uint64_t limit);

// True when `text` looks like JSON (its first non-blank byte is '{' or '[') and its
// brackets nest deeper than `max_depth` outside strings. The scan stops at the first
// byte past the limit; it does not validate the JSON (the handler's parser does).
bool json_nesting_exceeds(std::string_view text, uint32_t max_depth);

// Reads an Inference-Header-Content-Length value (the JSON part's length with the
// binary tensor extension). False when absent or not a plain non-negative integer.
bool parse_json_length(std::string_view header_value, size_t& length);

}  // namespace quiver::http::detail

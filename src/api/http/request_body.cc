#include "api/http/request_body.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace quiver::http::detail {
namespace {

std::string lowered_trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Inflates with the given zlib window setting (15+32: zlib or gzip header, detected;
// 15: zlib; -15: raw deflate). Sets `header_error` when the data failed before any
// output, so the caller may retry another framing.
Result<std::string> inflate_with(int window_bits, std::string_view body, uint64_t limit, bool& header_error) {
  header_error = false;
  limit = std::min<uint64_t>(limit, std::string().max_size() - 1);
  z_stream zs{};
  if (inflateInit2(&zs, window_bits) != Z_OK) return internal_error("cannot initialise zlib");
  struct Release {
    z_stream* zs;
    ~Release() { inflateEnd(zs); }
  } release{&zs};

  constexpr size_t kStep = 256 << 10;
  std::string out;
  size_t in_pos = 0;  // how much of `body` has been handed to zlib
  while (true) {
    if (zs.avail_in == 0 && in_pos < body.size()) {  // zlib counts in 32 bits
      const size_t piece = std::min<size_t>(body.size() - in_pos, 1u << 30);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data() + in_pos));
      zs.avail_in = static_cast<uInt>(piece);
      in_pos += piece;
    }
    // Room up to the limit plus one byte: producing that byte proves the body too large,
    // and memory never grows past the limit whatever the compression ratio.
    const size_t before = out.size();
    const size_t room = static_cast<size_t>(std::min<uint64_t>(kStep, limit + 1 - before));
    out.resize(before + room);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    zs.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(before + room - zs.avail_out);
    if (out.size() > limit)
      return payload_too_large("the request body inflates to more than the limit of " + std::to_string(limit) +
                               " bytes");
    if (rc == Z_STREAM_END) {
      const size_t rest_at = in_pos - zs.avail_in;
      if (rest_at == body.size()) return out;
      // Concatenated gzip members are legal (RFC 1952): go on with the next one.
      // Anything else after the end is not.
      const std::string_view rest = body.substr(rest_at);
      const bool next_member = window_bits == 15 + 32 && rest.size() >= 2 &&
                               static_cast<unsigned char>(rest[0]) == 0x1f && static_cast<unsigned char>(rest[1]) == 0x8b;
      if (!next_member)
        return invalid_argument("the compressed request body has " + std::to_string(rest.size()) +
                                " bytes after its end");
      if (inflateReset(&zs) != Z_OK) return internal_error("cannot reset zlib");
      continue;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && in_pos == body.size())
      return invalid_argument("the compressed request body is truncated");
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      header_error = zs.total_out == 0;
      return invalid_argument(std::string("the compressed request body is corrupt: ") +
                              (zs.msg ? zs.msg : "zlib error " + std::to_string(rc)));
    }
  }
}

}  // namespace

Result<ContentCoding> parse_content_coding(std::string_view header_value) {
  const std::string value = lowered_trimmed(header_value);
  if (value.empty() || value == "identity") return ContentCoding::kIdentity;
  if (value == "gzip" || value == "x-gzip") return ContentCoding::kGzip;
  if (value == "deflate") return ContentCoding::kDeflate;
  return invalid_argument("Content-Encoding '" + std::string(header_value) +
                          "' is not supported; send the body as gzip, deflate or identity");
}

Result<std::string> decode_body(ContentCoding coding, std::string_view body, uint64_t limit) {
  if (coding == ContentCoding::kIdentity || body.empty()) return std::string(body);
  bool header_error = false;
  if (coding == ContentCoding::kGzip) return inflate_with(15 + 32, body, limit, header_error);
  // "deflate" means zlib-wrapped (RFC 9110 8.4.1.2), but some clients send raw deflate.
  auto wrapped = inflate_with(15, body, limit, header_error);
  if (wrapped.is_ok() || !header_error) return wrapped;
  return inflate_with(-15, body, limit, header_error);
}

bool json_nesting_exceeds(std::string_view text, uint32_t max_depth) {
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
  if (p == end || (*p != '{' && *p != '[')) return false;
  uint32_t depth = 0;
  bool in_string = false;
  for (; p < end; ++p) {
    const char c = *p;
    if (in_string) {
      if (c == '\\') {
        ++p;  // skips the escaped byte (an escaped quote does not end the string)
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '{':
      case '[':
        if (++depth > max_depth) return true;
        break;
      case '}':
      case ']':
        if (depth > 0) --depth;
        break;
      default: break;
    }
  }
  return false;
}

bool parse_json_length(std::string_view header_value, size_t& length) {
  if (header_value.empty()) return false;
  const char* end = header_value.data() + header_value.size();
  auto [stop, ec] = std::from_chars(header_value.data(), end, length);
  return ec == std::errc() && stop == end;
}

}  // namespace quiver::http::detail

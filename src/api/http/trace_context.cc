#include "api/http/trace_context.h"

#include <random>

namespace quiver::http {
namespace {

constexpr char kHex[] = "0123456789abcdef";

int lower_hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not allowed by the spec
}

template <size_t N>
bool parse_hex(std::string_view text, std::array<uint8_t, N>& out) {
  if (text.size() != 2 * N) return false;
  for (size_t i = 0; i < N; ++i) {
    const int hi = lower_hex_value(text[2 * i]);
    const int lo = lower_hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <size_t N>
std::string to_hex(const std::array<uint8_t, N>& bytes) {
  std::string out(2 * N, '0');
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
  return out;
}

template <size_t N>
bool all_zero(const std::array<uint8_t, N>& bytes) {
  for (uint8_t b : bytes)
    if (b != 0) return false;
  return true;
}

// Ids need to be unique, not secret: a per-thread generator seeded once is enough
// and keeps the request path free of syscalls and locks.
template <size_t N>
void fill_random_nonzero(std::array<uint8_t, N>& out) {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  do {
    for (size_t i = 0; i < N; i += 8) {
      uint64_t word = generator();
      for (size_t j = i; j < N && j < i + 8; ++j, word >>= 8) out[j] = static_cast<uint8_t>(word);
    }
  } while (all_zero(out));
}

}  // namespace

std::string TraceContext::trace_id_hex() const { return to_hex(trace_id); }
std::string TraceContext::span_id_hex() const { return to_hex(span_id); }

std::string TraceContext::header_value() const {
  std::string out = "00-" + trace_id_hex() + "-" + span_id_hex() + "-";
  out += kHex[flags >> 4];
  out += kHex[flags & 0xf];
  return out;
}

std::optional<TraceContext> parse_traceparent(std::string_view value) {
  // Optional whitespace around a header value is not part of it (RFC 9110).
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  constexpr size_t kLength = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2
  if (value.size() < kLength) return std::nullopt;
  std::array<uint8_t, 1> version{};
  if (!parse_hex(value.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
  // Version 00 is exactly 55 characters; a later version may carry more after a dash.
  if (version[0] == 0 ? value.size() != kLength : (value.size() > kLength && value[kLength] != '-')) {
    return std::nullopt;
  }
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return std::nullopt;
  TraceContext ctx;
  std::array<uint8_t, 1> flags{};
  if (!parse_hex(value.substr(3, 32), ctx.trace_id) || !parse_hex(value.substr(36, 16), ctx.span_id) ||
      !parse_hex(value.substr(53, 2), flags)) {
    return std::nullopt;
  }
  if (all_zero(ctx.trace_id) || all_zero(ctx.span_id)) return std::nullopt;
  // Only the sampled bit is defined for version 00; unknown bits are not passed on.
  ctx.flags = flags[0] & 0x01;
  return ctx;
}

TraceContext server_span(const std::optional<TraceContext>& incoming) {
  TraceContext span;
  if (incoming) {
    span.trace_id = incoming->trace_id;
    span.flags = incoming->flags;
  } else {
    fill_random_nonzero(span.trace_id);
    span.flags = 0x01;  // every request is recorded (access log), so a new trace is sampled
  }
  fill_random_nonzero(span.span_id);
  return span;
}

}  // namespace quiver::http

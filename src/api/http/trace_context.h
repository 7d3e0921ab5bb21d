// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` header.
//
//   traceparent: 00-<trace-id: 32 lower-case hex>-<parent-id: 16 hex>-<flags: 2 hex>
//
// A request that carries a valid traceparent joins that trace: the server's span gets
// a new span id, and the response carries the same trace id with the server's span id
// as the parent, so the caller can stitch the two together. An invalid header is
// ignored (the spec says so: a receiver must not guess), and the request starts a
// new trace as if none had come.
//
// Thread-safety: pure functions, except that new ids come from a per-thread random
// generator.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace quiver::http {

struct TraceContext {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};  // the parent's id when parsed; ours when started
  uint8_t flags = 0;                 // bit 0: sampled

  std::string trace_id_hex() const;
  std::string span_id_hex() const;
  // "00-<trace>-<span>-<flags>": version 00, whatever version was received.
  std::string header_value() const;
};

// Parses a traceparent value per the spec: version 00 has exactly four fields and 55
// characters; a higher version may append "-..." fields, which are ignored; version
// ff, upper-case hex, all-zero ids and a wrong length are invalid (nullopt). Two
// headers joined by a comma are invalid too.
std::optional<TraceContext> parse_traceparent(std::string_view value);

// The server's span for one request: a child of `incoming` (same trace id and flags,
// new span id), or the root of a new trace (random trace id, sampled) without one.
TraceContext server_span(const std::optional<TraceContext>& incoming);

}  // namespace quiver::http

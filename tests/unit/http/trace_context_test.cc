#include <gtest/gtest.h>

#include <set>
#include <string>

#include "api/http/trace_context.h"

namespace quiver::http {
namespace {

// The example from the W3C Trace Context recommendation.
constexpr const char* kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceContextTest, ParsesTheSpecExample) {
  auto ctx = parse_traceparent(kValid);
  ASSERT_TRUE(ctx.has_value());
  EXPECT_EQ(ctx->trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(ctx->span_id_hex(), "00f067aa0ba902b7");
  EXPECT_EQ(ctx->flags, 1);
  EXPECT_EQ(ctx->header_value(), kValid);
  EXPECT_EQ(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")->flags, 0);
  EXPECT_TRUE(parse_traceparent(std::string(" ") + kValid + "\t").has_value());  // optional whitespace
}

TEST(TraceContextTest, RefusesWhatTheSpecCallsInvalid) {
  const char* invalid[] = {
      "",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",               // no flags
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",           // version 00 is exactly 55
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",            // upper-case hex
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",            // all-zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",            // all-zero parent id
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",            // version ff
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",            // not hex
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",            // wrong separator
      "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",            // misplaced dash
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",           // later version: dash after 55
      // Two headers joined by the server (RFC 9110 list syntax): ambiguous, so invalid.
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01, "
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  };
  for (const char* value : invalid) EXPECT_FALSE(parse_traceparent(value).has_value()) << "'" << value << "'";
}

TEST(TraceContextTest, LaterVersionsKeepTheirFirstFourFields) {
  auto ctx = parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds");
  ASSERT_TRUE(ctx.has_value());
  EXPECT_EQ(ctx->trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  // We answer in the version we speak.
  EXPECT_TRUE(ctx->header_value().starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
}

TEST(TraceContextTest, ServerSpanJoinsTheCallersTraceWithItsOwnSpanId) {
  const auto incoming = parse_traceparent(kValid);
  const TraceContext span = server_span(incoming);
  EXPECT_EQ(span.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_NE(span.span_id_hex(), "00f067aa0ba902b7");
  EXPECT_NE(span.span_id_hex(), "0000000000000000");
  EXPECT_EQ(span.flags, 1);
  EXPECT_EQ(server_span(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")).flags, 0);
  // What the server sends back parses as valid trace context.
  EXPECT_TRUE(parse_traceparent(span.header_value()).has_value());
}

TEST(TraceContextTest, WithoutOneEachRequestStartsADistinctTrace) {
  std::set<std::string> traces, spans;
  for (int i = 0; i < 1000; ++i) {
    const TraceContext span = server_span(std::nullopt);
    ASSERT_TRUE(parse_traceparent(span.header_value()).has_value()) << span.header_value();
    traces.insert(span.trace_id_hex());
    spans.insert(span.span_id_hex());
  }
  EXPECT_EQ(traces.size(), 1000u);
  EXPECT_EQ(spans.size(), 1000u);
}

}  // namespace
}  // namespace quiver::http

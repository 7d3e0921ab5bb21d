// The HTTP server's limits: header size, field count and URL length, framing
// (Transfer-Encoding, chunk floods, chunk-size lines), compressed bodies and
// decompression bombs, JSON depth, slow headers and stalled bodies, the connection
// limit and the route filter. Each answers with its status and closes as documented.
#include <gtest/gtest.h>
#include <zlib.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/http/http_server.h"
#include "api/http/request_body.h"
#include "unit/http/http_test_client.h"

namespace quiver::http {
namespace {

using namespace test_support;

HttpServerOptions test_options() {
  HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.threads = 2;
  return options;
}

// Echoes the body it received, so tests can see what a handler gets.
Handler echo_handler() {
  return [](const std::shared_ptr<HttpRequest>& request, Responder respond) {
    HttpResponse response;
    response.content_type = "application/octet-stream";
    response.body = *request->body;
    respond(std::move(response));
  };
}

std::string compress(const std::string& data, int window_bits) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, window_bits, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}
std::string gzip(const std::string& data) { return compress(data, 15 + 16); }

int status_of(const std::string& raw_response) {
  if (raw_response.rfind("HTTP/1.1 ", 0) != 0 || raw_response.size() < 12) return 0;
  return std::stoi(raw_response.substr(9, 3));
}

// Sends raw bytes and returns the status of the answer, requiring the server to close.
int raw_status_then_close(uint16_t port, const std::string& request) {
  TestClient client(port);
  client.write_raw(request);
  return status_of(client.read_until_close());
}

// ---- request_body.h -------------------------------------------------------------

TEST(RequestBody, ContentCodings) {
  EXPECT_EQ(*detail::parse_content_coding(""), detail::ContentCoding::kIdentity);
  EXPECT_EQ(*detail::parse_content_coding(" Identity "), detail::ContentCoding::kIdentity);
  EXPECT_EQ(*detail::parse_content_coding("GZIP"), detail::ContentCoding::kGzip);
  EXPECT_EQ(*detail::parse_content_coding("x-gzip"), detail::ContentCoding::kGzip);
  EXPECT_EQ(*detail::parse_content_coding("deflate"), detail::ContentCoding::kDeflate);
  EXPECT_FALSE(detail::parse_content_coding("br").is_ok());
  EXPECT_FALSE(detail::parse_content_coding("gzip, gzip").is_ok());
}

TEST(RequestBody, InflatesGzipZlibAndRawDeflate) {
  const std::string text(100000, 'q');
  EXPECT_EQ(*detail::decode_body(detail::ContentCoding::kGzip, gzip(text), 1 << 20), text);
  EXPECT_EQ(*detail::decode_body(detail::ContentCoding::kDeflate, compress(text, 15), 1 << 20), text);
  EXPECT_EQ(*detail::decode_body(detail::ContentCoding::kDeflate, compress(text, -15), 1 << 20), text);
  // Concatenated gzip members (RFC 1952) are one body.
  EXPECT_EQ(*detail::decode_body(detail::ContentCoding::kGzip, gzip("ab") + gzip("cd"), 100), "abcd");
  // Exactly at the limit is fine; one byte more is not.
  EXPECT_TRUE(detail::decode_body(detail::ContentCoding::kGzip, gzip(text), text.size()).is_ok());
}

TEST(RequestBody, BombsCorruptionAndTruncationAreRefused) {
  const std::string zeros(64 << 20, '\0');
  const std::string bomb = gzip(zeros);
  ASSERT_LT(bomb.size(), 100u << 10);
  auto inflated = detail::decode_body(detail::ContentCoding::kGzip, bomb, 1 << 20);
  ASSERT_FALSE(inflated.is_ok());
  EXPECT_EQ(inflated.status().code(), StatusCode::kPayloadTooLarge);

  const std::string good = gzip(std::string(5000, 'x'));
  auto truncated = detail::decode_body(detail::ContentCoding::kGzip, good.substr(0, good.size() / 2), 1 << 20);
  ASSERT_FALSE(truncated.is_ok());
  EXPECT_EQ(truncated.status().code(), StatusCode::kInvalidArgument);
  auto garbage = detail::decode_body(detail::ContentCoding::kGzip, "not compressed at all", 1 << 20);
  ASSERT_FALSE(garbage.is_ok());
  EXPECT_EQ(garbage.status().code(), StatusCode::kInvalidArgument);
  auto trailing = detail::decode_body(detail::ContentCoding::kGzip, good + "junk", 1 << 20);
  EXPECT_FALSE(trailing.is_ok());
}

TEST(RequestBody, JsonNestingIgnoresStringsAndNonJson) {
  EXPECT_FALSE(detail::json_nesting_exceeds(R"({"a": [[1]]})", 3));
  EXPECT_TRUE(detail::json_nesting_exceeds(R"({"a": [[[1]]]})", 3));
  EXPECT_FALSE(detail::json_nesting_exceeds(R"({"a": "[[[[[[\"[[[["})", 1));
  EXPECT_TRUE(detail::json_nesting_exceeds(std::string(1000, '['), 10));
  EXPECT_FALSE(detail::json_nesting_exceeds("text [[[[[[", 2));  // not JSON: the handler decides
  EXPECT_FALSE(detail::json_nesting_exceeds("[]" + std::string(100, ']') + "[[", 2));
  std::string deep = std::string(100, '[') + std::string(100, ']');
  EXPECT_FALSE(detail::json_nesting_exceeds(deep, 100));
  EXPECT_TRUE(detail::json_nesting_exceeds(deep, 99));
}

TEST(RequestBody, JsonLengthHeader) {
  size_t n = 0;
  EXPECT_TRUE(detail::parse_json_length("42", n));
  EXPECT_EQ(n, 42u);
  EXPECT_FALSE(detail::parse_json_length("", n));
  EXPECT_FALSE(detail::parse_json_length("-1", n));
  EXPECT_FALSE(detail::parse_json_length("4x", n));
  EXPECT_FALSE(detail::parse_json_length("99999999999999999999999", n));
}

// ---- the server -------------------------------------------------------------------

TEST(HttpLimits, LongUrlIs414AndTooManyFieldsIs431) {
  HttpServerOptions options = test_options();
  options.max_url_bytes = 100;
  options.max_header_fields = 10;
  HttpServer server(options);
  server.route("GET", "/{x}", echo_handler());
  ASSERT_TRUE(server.start().is_ok());

  TestClient ok(server.port());
  EXPECT_EQ(ok.send(bhttp::verb::get, "/" + std::string(90, 'a')).result_int(), 200);
  EXPECT_EQ(raw_status_then_close(server.port(), "GET /" + std::string(200, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n"), 414);
  // Longer than the whole header limit: still named for what it is.
  EXPECT_EQ(raw_status_then_close(server.port(), "GET /" + std::string(40000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n"),
            414);
  std::string fields;
  for (int i = 0; i < 11; ++i) fields += "X-F" + std::to_string(i) + ": 1\r\n";
  EXPECT_EQ(raw_status_then_close(server.port(), "GET /a HTTP/1.1\r\n" + fields + "\r\n"), 431);
  EXPECT_EQ(raw_status_then_close(server.port(), "GET /a HTTP/1.1\r\nX-Big: " + std::string(20000, 'b') + "\r\n\r\n"),
            431);
}

TEST(HttpLimits, AmbiguousFramingIs400AndCloses) {
  HttpServer server(test_options());
  server.route("POST", "/echo", echo_handler());
  ASSERT_TRUE(server.start().is_ok());
  const std::string head = "POST /echo HTTP/1.1\r\nHost: x\r\n";
  EXPECT_EQ(raw_status_then_close(server.port(),
                                  head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            400);
  EXPECT_EQ(raw_status_then_close(server.port(), head + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"), 400);
  // A body Beast would have read as empty, the rest taken for a second request.
  EXPECT_EQ(raw_status_then_close(server.port(), head + "Transfer-Encoding: gzip\r\n\r\nGET /echo HTTP/1.1\r\n\r\n"),
            400);
  EXPECT_EQ(raw_status_then_close(server.port(), head + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"), 400);
  EXPECT_EQ(raw_status_then_close(server.port(), head + "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFF\r\n"),
            400);
}

TEST(HttpLimits, ChunkFloodsAndEndlessChunkLinesAre400) {
  HttpServerOptions options = test_options();
  options.max_small_chunks = 100;
  HttpServer server(options);
  server.route("POST", "/echo", echo_handler());
  ASSERT_TRUE(server.start().is_ok());
  const std::string head = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";

  std::string few;
  for (int i = 0; i < 100; ++i) few += "1\r\na\r\n";
  TestClient client(server.port());
  client.write_raw(head + few + "0\r\n\r\n");
  ClientResponse answer = client.read();
  EXPECT_EQ(answer.result_int(), 200);
  EXPECT_EQ(answer.body(), std::string(100, 'a'));

  std::string flood;
  for (int i = 0; i < 1000; ++i) flood += "1\r\na\r\n";
  EXPECT_EQ(raw_status_then_close(server.port(), head + flood + "0\r\n\r\n"), 400);
  // A chunk-size line with an extension that never ends cannot grow the buffer forever.
  EXPECT_EQ(raw_status_then_close(server.port(), head + "5;" + std::string(1 << 20, 'e')), 400);
}

TEST(HttpLimits, CompressedBodiesAreInflatedWithinTheBodyLimit) {
  HttpServerOptions options = test_options();
  options.max_body_bytes = 1 << 20;
  HttpServer server(options);
  server.route("POST", "/echo", echo_handler());
  server.route_upload("POST", "/upload", [](const std::shared_ptr<HttpRequest>&) -> Result<std::unique_ptr<UploadSink>> {
    return internal_error("the upload handler must not run");
  });
  ASSERT_TRUE(server.start().is_ok());

  TestClient client(server.port());
  const std::string text = R"({"inputs": [1, 2, 3]})";
  ClientResponse inflated = client.send(bhttp::verb::post, "/echo", gzip(text), {{"Content-Encoding", "gzip"}});
  EXPECT_EQ(inflated.result_int(), 200);
  EXPECT_EQ(inflated.body(), text);
  ClientResponse deflated = client.send(bhttp::verb::post, "/echo", compress(text, 15), {{"Content-Encoding", "deflate"}});
  EXPECT_EQ(deflated.body(), text);

  // A bomb: small on the wire, far over the limit inflated. The connection stays usable.
  ClientResponse bomb = client.send(bhttp::verb::post, "/echo", gzip(std::string(64 << 20, '\0')),
                                    {{"Content-Encoding", "gzip"}});
  EXPECT_EQ(bomb.result_int(), 413);
  EXPECT_NE(bomb.body().find("inflates"), std::string::npos);
  EXPECT_EQ(client.send(bhttp::verb::post, "/echo", "x").result_int(), 200);

  EXPECT_EQ(client.send(bhttp::verb::post, "/echo", "garbage", {{"Content-Encoding", "gzip"}}).result_int(), 400);
  TestClient other(server.port());
  EXPECT_EQ(other.send(bhttp::verb::post, "/echo", "x", {{"Content-Encoding", "br"}}).result_int(), 415);
  TestClient uploader(server.port());
  EXPECT_EQ(uploader.send(bhttp::verb::post, "/upload", gzip("x"), {{"Content-Encoding", "gzip"}}).result_int(), 415);
}

TEST(HttpLimits, DeepJsonIs400ButTheBinaryPartIsNotScanned) {
  HttpServerOptions options = test_options();
  options.max_json_depth = 8;
  HttpServer server(options);
  server.route("POST", "/echo", echo_handler());
  ASSERT_TRUE(server.start().is_ok());
  TestClient client(server.port());
  const std::string ok = std::string(8, '[') + std::string(8, ']');
  EXPECT_EQ(client.send(bhttp::verb::post, "/echo", ok).result_int(), 200);
  const std::string deep = std::string(9, '[') + std::string(9, ']');
  ClientResponse refused = client.send(bhttp::verb::post, "/echo", deep);
  EXPECT_EQ(refused.result_int(), 400);
  EXPECT_NE(refused.body().find("nests deeper"), std::string::npos);
  // Binary tensor bytes after the JSON header may hold any byte, '[' included.
  const std::string json = R"({"inputs": []})";
  EXPECT_EQ(client
                .send(bhttp::verb::post, "/echo", json + std::string(100, '['),
                      {{"Inference-Header-Content-Length", std::to_string(json.size())}})
                .result_int(),
            200);
}

TEST(HttpLimits, SlowHeaderAndStalledBodyAre408) {
  HttpServerOptions options = test_options();
  options.header_timeout = std::chrono::milliseconds(500);
  options.body_timeout = std::chrono::milliseconds(500);
  HttpServer server(options);
  server.route("POST", "/echo", echo_handler());
  ASSERT_TRUE(server.start().is_ok());

  TestClient slow_header(server.port());
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {  // bytes keep coming, but the header never completes in time
    slow_header.write_raw(i == 0 ? "POST /echo HTTP/1.1\r\n" : "X-Slow: 1\r\n");
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(status_of(slow_header.read_until_close()), 408);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);

  TestClient stalled(server.port());
  stalled.write_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(status_of(stalled.read_until_close()), 408);

  // A connection that never sends anything is closed without an answer.
  TestClient silent(server.port());
  EXPECT_EQ(silent.read_until_close(), "");
}

TEST(HttpLimits, ConnectionsOverTheLimitGet503) {
  HttpServerOptions options = test_options();
  options.max_connections = 2;
  HttpServer server(options);
  server.route("GET", "/", echo_handler());
  ASSERT_TRUE(server.start().is_ok());
  TestClient first(server.port());
  TestClient second(server.port());
  EXPECT_EQ(first.send(bhttp::verb::get, "/").result_int(), 200);
  EXPECT_EQ(second.send(bhttp::verb::get, "/").result_int(), 200);
  TestClient third(server.port());
  third.write_raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string refused = third.read_until_close();
  EXPECT_EQ(status_of(refused), 503);
  EXPECT_NE(refused.find("Retry-After"), std::string::npos);
  first.close();
  // Once one closes, a new connection is served again.
  for (int attempt = 0; attempt < 50; ++attempt) {
    TestClient again(server.port());
    again.write_raw("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if (status_of(again.read_until_close()) == 200) return;
    std::this_thread::sleep_for(20ms);
  }
  ADD_FAILURE() << "no connection was served after one closed";
}

TEST(HttpLimits, RouteFilterKeepsOnlyItsRoutes) {
  HttpServerOptions options = test_options();
  options.route_filter = [](std::string_view, std::string_view pattern) { return !pattern.starts_with("/v1/"); };
  HttpServer server(options);
  server.route("GET", "/v1/models", echo_handler());
  server.route("GET", "/v2/health/live", echo_handler());
  ASSERT_TRUE(server.start().is_ok());
  TestClient client(server.port());
  EXPECT_EQ(client.send(bhttp::verb::get, "/v2/health/live").result_int(), 200);
  EXPECT_EQ(client.send(bhttp::verb::get, "/v1/models").result_int(), 404);
}

}  // namespace
}  // namespace quiver::http

// HttpServer against a real client over 127.0.0.1: routing, keep-alive, errors,
// cross-thread responses, body limits, streamed uploads and shutdown.
#include "api/http/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "api/common/status_mapping.h"
#include "unit/http/http_test_client.h"

namespace quiver::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

using test_support::ClientResponse;
using test_support::TestClient;

HttpServerOptions test_options() {
  HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.threads = 4;
  return options;
}

Handler json_handler(std::string body) {
  return [body](const std::shared_ptr<HttpRequest>&, Responder respond) { respond(HttpResponse::json(200, body)); };
}

// ---- status mapping and helpers ----------------------------------------------------

TEST(StatusMapping, HttpAndGrpcCodesFollowTheTable) {
  struct Row {
    StatusCode code;
    int http;
    int grpc;
  };
  const Row rows[] = {
      {StatusCode::kOk, 200, 0},
      {StatusCode::kInvalidArgument, 400, 3},
      {StatusCode::kNotFound, 404, 5},
      {StatusCode::kAlreadyExists, 409, 6},
      {StatusCode::kFailedPrecondition, 409, 9},
      {StatusCode::kPayloadTooLarge, 413, 8},
      {StatusCode::kResourceExhausted, 429, 8},
      {StatusCode::kUnavailable, 503, 14},
      {StatusCode::kDeadlineExceeded, 504, 4},
      {StatusCode::kDataLoss, 500, 15},
      {StatusCode::kInternal, 500, 13},
      {StatusCode::kUnauthenticated, 401, 16},
      {StatusCode::kPermissionDenied, 403, 7},
      {StatusCode::kInsufficientStorage, 507, 8},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(api::http_status_for(row.code), row.http) << status_code_name(row.code);
    EXPECT_EQ(api::grpc_code_for(row.code), row.grpc) << status_code_name(row.code);
  }
}

TEST(HttpTypes, ErrorBodyIsEscapedJson) {
  const HttpResponse response = HttpResponse::error(not_found("model \"a\\b\"\n\x01 caf\xc3\xa9 \xff"));
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body, "{\"error\": \"model \\\"a\\\\b\\\"\\n\\u0001 caf\xc3\xa9 \\ufffd\"}");
}

TEST(HttpTypes, PercentDecodingAndQueryParsing) {
  EXPECT_EQ(percent_decode("a%20b+c", false).value(), "a b+c");
  EXPECT_EQ(percent_decode("a%20b+c", true).value(), "a b c");
  EXPECT_FALSE(percent_decode("bad%2", false).is_ok());
  EXPECT_FALSE(percent_decode("bad%zz", false).is_ok());
  const auto query = parse_query("a=1&b=x%20y&flag&&c=%3D").value();
  EXPECT_EQ(query, (std::map<std::string, std::string>{{"a", "1"}, {"b", "x y"}, {"flag", ""}, {"c", "="}}));
}

// ---- routing ------------------------------------------------------------------------

TEST(HttpServer, RoutesWithDecodedPathParamsAndQuery) {
  HttpServer server(test_options());
  std::shared_ptr<HttpRequest> seen;
  server.route("POST", "/v2/models/{model}/versions/{version}/infer",
               [&](const std::shared_ptr<HttpRequest>& request, Responder respond) {
                 seen = request;
                 respond(HttpResponse::json(200, R"({"ok":true})"));
               });
  server.route("GET", "/v1/blobs/upload", json_handler(R"("literal")"));
  server.route("GET", "/v1/blobs/{sha}", json_handler(R"("param")"));
  ASSERT_TRUE(server.start().is_ok());

  TestClient client(server.port());
  const ClientResponse response =
      client.send(bhttp::verb::post, "/v2/models/my%20model/versions/3/infer?x=a%2Bb&y=c+d&flag", "{\"in\":1}",
                  {{"X-Custom-Header", "Value"}});
  ASSERT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.body(), R"({"ok":true})");
  ASSERT_NE(seen, nullptr);
  EXPECT_EQ(seen->method, "POST");
  EXPECT_EQ(seen->path, "/v2/models/my model/versions/3/infer");
  EXPECT_EQ(seen->path_params, (std::map<std::string, std::string>{{"model", "my model"}, {"version", "3"}}));
  EXPECT_EQ(seen->query, (std::map<std::string, std::string>{{"x", "a+b"}, {"y", "c d"}, {"flag", ""}}));
  EXPECT_EQ(*seen->body, "{\"in\":1}");
  EXPECT_EQ(seen->header("x-custom-header"), "Value");
  EXPECT_EQ(seen->header("X-CUSTOM-HEADER"), "Value");
  EXPECT_EQ(seen->header("absent"), "");
  EXPECT_EQ(seen->remote.rfind("127.0.0.1:", 0), 0u);

  // A literal segment beats a parameter; otherwise the parameter matches.
  EXPECT_EQ(client.send(bhttp::verb::get, "/v1/blobs/upload").body(), R"("literal")");
  EXPECT_EQ(client.send(bhttp::verb::get, "/v1/blobs/abc123").body(), R"("param")");
}

TEST(HttpServer, EveryResponseCarriesServerContentTypeAndLength) {
  HttpServer server(test_options());
  server.route("GET", "/text", [](const std::shared_ptr<HttpRequest>&, Responder respond) {
    HttpResponse response;
    response.content_type = "text/plain; version=0.0.4";
    response.body = "hello";
    response.headers.emplace_back("x-quiver-model-version", "7");
    respond(std::move(response));
  });
  ASSERT_TRUE(server.start().is_ok());
  TestClient client(server.port());
  const ClientResponse response = client.send(bhttp::verb::get, "/text");
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response[bhttp::field::server], "quiver");
  EXPECT_EQ(response[bhttp::field::content_type], "text/plain; version=0.0.4");
  EXPECT_EQ(response[bhttp::field::content_length], "5");
  EXPECT_EQ(response["x-quiver-model-version"], "7");
  EXPECT_EQ(response.body(), "hello");

  const ClientResponse missing = client.send(bhttp::verb::get, "/nothing");
  EXPECT_EQ(missing[bhttp::field::server], "quiver");
  EXPECT_EQ(missing[bhttp::field::content_type], "application/json");
  EXPECT_EQ(missing[bhttp::field::content_length], std::to_string(missing.body().size()));
}

TEST(HttpServer, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  HttpServer server(test_options());
  server.route("GET", "/v1/models", json_handler("[]"));
  server.route("POST", "/v1/models", json_handler("{}"));
  ASSERT_TRUE(server.start().is_ok());
  TestClient client(server.port());

  const ClientResponse not_found_response = client.send(bhttp::verb::get, "/x");
  EXPECT_EQ(not_found_response.result_int(), 404);
  EXPECT_EQ(not_found_response.body(), R"({"error": "no route for GET /x"})");

  const ClientResponse wrong_method = client.send(bhttp::verb::delete_, "/v1/models");
  EXPECT_EQ(wrong_method.result_int(), 405);
  EXPECT_EQ(wrong_method[bhttp::field::allow], "GET, POST");
  EXPECT_NE(wrong_method.body().find("\"error\""), std::string::npos);

  // Both errors kept the connection usable.
  EXPECT_EQ(client.send(bhttp::verb::get, "/v1/models").body(), "[]");
}

TEST(HttpServer, InvalidRouteMakesStartFail) {
  HttpServer server(test_options());
  server.route("GET", "/a/{x}", json_handler("1"));
  server.route("GET", "/a/{y}", json_handler("2"));
  const Status started = server.start();
  EXPECT_EQ(started.code(), StatusCode::kAlreadyExists) << started.to_string();

  HttpServer bad_pattern(test_options());
  bad_pattern.route("GET", "no-slash", json_handler("1"));
  EXPECT_EQ(bad_pattern.start().code(), StatusCode::kInvalidArgument);
}

// ---- connections --------------------------------------------------------------------

TEST(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  HttpServer server(test_options());
  std::mutex mu;
  std::set<std::string> remotes;
  server.route("GET", "/n/{i}", [&](const std::shared_ptr<HttpRequest>& request, Responder respond) {
    {
      std::lock_guard lock(mu);
      remotes.insert(request->remote);
    }
    respond(HttpResponse::json(200, request->path_params.at("i")));
  });
  ASSERT_TRUE(server.start().is_ok());

  TestClient client(server.port());
  for (int i = 0; i < 5; ++i) {
    const ClientResponse response = client.send(bhttp::verb::get, "/n/" + std::to_string(i));
    EXPECT_EQ(response.body(), std::to_string(i));
    EXPECT_TRUE(response.keep_alive());
  }
  EXPECT_EQ(remotes.size(), 1u);  // one connection served them all

  // Pipelined: two requests in one write are answered in order.
  ASSERT_FALSE(client.write_raw("GET /n/a HTTP/1.1\r\nHost: x\r\n\r\nGET /n/b HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(client.read().body(), "a");
  EXPECT_EQ(client.read().body(), "b");

  // Connection: close is honoured.
  const ClientResponse last = client.send(bhttp::verb::get, "/n/9", "", {{"Connection", "close"}});
  EXPECT_EQ(last.body(), "9");
  EXPECT_FALSE(last.keep_alive());
  EXPECT_TRUE(client.server_closed());
}

TEST(HttpServer, HeadReturnsLengthWithoutBody) {
  HttpServer server(test_options());
  server.route("HEAD", "/blob", json_handler("0123456789"));
  ASSERT_TRUE(server.start().is_ok());
  TestClient client(server.port());
  bhttp::request<bhttp::string_body> request(bhttp::verb::head, "/blob", 11);
  ASSERT_FALSE(client.write(request));
  bhttp::response_parser<bhttp::empty_body> parser;
  parser.skip(true);  // a response to HEAD has no body whatever its Content-Length
  beast::flat_buffer buffer;
  bhttp::read(client.stream(), buffer, parser);
  EXPECT_EQ(parser.get().result_int(), 200);
  EXPECT_EQ(parser.get()[bhttp::field::content_length], "10");
}

TEST(HttpServer, MalformedRequestLineIs400AndCloses) {
  HttpServer server(test_options());
  server.route("GET", "/", json_handler("{}"));
  ASSERT_TRUE(server.start().is_ok());
  TestClient client(server.port());
  ASSERT_FALSE(client.write_raw("THIS IS NOT HTTP\r\n\r\n"));
  const ClientResponse response = client.read();
  EXPECT_EQ(response.result_int(), 400);
  EXPECT_NE(response.body().find("malformed HTTP request"), std::string::npos);
  EXPECT_TRUE(client.server_closed());
}

// ---- handlers -------------------------------------------------------------------------

TEST(HttpServer, HandlerMayRespondFromAnotherThreadLater) {
  HttpServer server(test_options());
  std::promise<Responder> handed_over;
  server.route("GET", "/slow", [&](const std::shared_ptr<HttpRequest>&, Responder respond) {
    handed_over.set_value(std::move(respond));
  });
  ASSERT_TRUE(server.start().is_ok());

  // A "model worker": answers once the request reached it, after some work.
  std::thread worker([&] {
    Responder respond = handed_over.get_future().get();
    std::this_thread::sleep_for(50ms);
    respond(HttpResponse::json(202, R"({"done":true})"));
  });
  TestClient client(server.port());
  const ClientResponse response = client.send(bhttp::verb::get, "/slow");
  worker.join();
  EXPECT_EQ(response.result_int(), 202);
  EXPECT_EQ(response.body(), R"({"done":true})");
}

TEST(HttpServer, DroppedResponderAndThrowingHandlerGive500) {
  HttpServer server(test_options());
  server.route("GET", "/forgets", [](const std::shared_ptr<HttpRequest>&, Responder) {});
  server.route("GET", "/throws", [](const std::shared_ptr<HttpRequest>&, Responder) -> void {
    throw std::runtime_error("model exploded");
  });
  server.route("GET", "/twice", [](const std::shared_ptr<HttpRequest>&, Responder respond) {
    respond(HttpResponse::json(200, "1"));
    respond(HttpResponse::json(200, "2"));
  });
  ASSERT_TRUE(server.start().is_ok());
  TestClient client(server.port());

  const ClientResponse forgot = client.send(bhttp::verb::get, "/forgets");
  EXPECT_EQ(forgot.result_int(), 500);
  EXPECT_EQ(forgot.body(), R"({"error": "internal error: handler did not respond"})");

  const ClientResponse threw = client.send(bhttp::verb::get, "/throws");
  EXPECT_EQ(threw.result_int(), 500);
  EXPECT_NE(threw.body().find("model exploded"), std::string::npos);

  EXPECT_EQ(client.send(bhttp::verb::get, "/twice").body(), "1");
  // The ignored second answer did not leak into the next exchange.
  EXPECT_EQ(client.send(bhttp::verb::get, "/forgets").result_int(), 500);
}

// ---- body limits ------------------------------------------------------------------------

TEST(HttpServer, OversizedBodyIs413WithContentLength) {
  HttpServerOptions options = test_options();
  options.max_body_bytes = 1024;
  HttpServer server(options);
  std::atomic<int> calls{0};
  server.route("POST", "/echo", [&](const std::shared_ptr<HttpRequest>& request, Responder respond) {
    ++calls;
    respond(HttpResponse::json(200, std::to_string(request->body->size())));
  });
  ASSERT_TRUE(server.start().is_ok());

  TestClient fits(server.port());
  EXPECT_EQ(fits.send(bhttp::verb::post, "/echo", std::string(1024, 'x')).body(), "1024");

  TestClient client(server.port());
  const ClientResponse response = client.send(bhttp::verb::post, "/echo", std::string(2000, 'x'));
  EXPECT_EQ(response.result_int(), 413);
  EXPECT_EQ(response.body(), R"({"error": "request body of 2000 bytes exceeds the limit of 1024 bytes"})");
  EXPECT_TRUE(client.server_closed());
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpServer, OversizedChunkedBodyIs413) {
  HttpServerOptions options = test_options();
  options.max_body_bytes = 1024;
  HttpServer server(options);
  server.route("POST", "/echo", json_handler("{}"));
  ASSERT_TRUE(server.start().is_ok());

  TestClient client(server.port());
  std::string request = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) request += "200\r\n" + std::string(0x200, 'y') + "\r\n";  // 5 x 512 bytes
  request += "0\r\n\r\n";
  ASSERT_FALSE(client.write_raw(request));
  const ClientResponse response = client.read();
  EXPECT_EQ(response.result_int(), 413);
  EXPECT_EQ(response.body(), R"({"error": "chunked request body exceeds the limit of 1024 bytes"})");
  EXPECT_TRUE(client.server_closed());
}

// ---- streamed uploads -------------------------------------------------------------------

// Records what an upload route received; the test inspects it after the request.
struct UploadRecord {
  std::mutex mu;
  std::condition_variable changed;
  std::string data;
  int chunks = 0;
  bool finished = false;
  bool destroyed = false;
  Status fail_after_first_chunk;  // when set, the second append() fails with it
};

class RecordingSink : public UploadSink {
 public:
  explicit RecordingSink(std::shared_ptr<UploadRecord> record) : record_(std::move(record)) {}
  ~RecordingSink() override {
    std::lock_guard lock(record_->mu);
    record_->destroyed = true;
    record_->changed.notify_all();
  }
  Status append(std::span<const std::byte> chunk) override {
    std::lock_guard lock(record_->mu);
    if (record_->chunks >= 1 && !record_->fail_after_first_chunk.is_ok()) return record_->fail_after_first_chunk;
    record_->data.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
    ++record_->chunks;
    record_->changed.notify_all();
    return Status::ok();
  }
  void finish(Responder respond) override {
    std::lock_guard lock(record_->mu);
    record_->finished = true;
    respond(HttpResponse::json(201, "{\"size\": " + std::to_string(record_->data.size()) + "}"));
  }

 private:
  std::shared_ptr<UploadRecord> record_;
};

UploadHandler recording_upload(const std::shared_ptr<UploadRecord>& record) {
  return [record](const std::shared_ptr<HttpRequest>& request) -> Result<std::unique_ptr<UploadSink>> {
    EXPECT_TRUE(request->body->empty());
    return std::unique_ptr<UploadSink>(std::make_unique<RecordingSink>(record));
  };
}

std::string patterned_bytes(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 7919 + i / 4096) & 0xFF);
  return bytes;
}

TEST(HttpServer, UploadIsStreamedInChunksAndComplete) {
  HttpServerOptions options = test_options();
  options.max_body_bytes = 1024;  // uploads have their own, larger limit
  HttpServer server(options);
  auto record = std::make_shared<UploadRecord>();
  server.route_upload("POST", "/v1/blobs", recording_upload(record));
  ASSERT_TRUE(server.start().is_ok());

  const std::string sent = patterned_bytes(5 << 20);
  TestClient client(server.port());
  const ClientResponse response = client.send(bhttp::verb::post, "/v1/blobs", sent);
  EXPECT_EQ(response.result_int(), 201);
  EXPECT_EQ(response.body(), "{\"size\": " + std::to_string(sent.size()) + "}");
  EXPECT_TRUE(response.keep_alive());

  // The next request on the same connection still works, so the sink was released.
  const ClientResponse empty = client.send(bhttp::verb::post, "/v1/blobs", "");
  EXPECT_EQ(empty.result_int(), 201);

  std::lock_guard lock(record->mu);
  EXPECT_EQ(record->data.size(), sent.size());
  EXPECT_TRUE(record->data == sent);
  EXPECT_GT(record->chunks, 1);
  EXPECT_TRUE(record->finished);
}

TEST(HttpServer, ChunkedUploadWithExpectContinue) {
  HttpServer server(test_options());
  auto record = std::make_shared<UploadRecord>();
  server.route_upload("POST", "/v1/blobs", recording_upload(record));
  ASSERT_TRUE(server.start().is_ok());

  TestClient client(server.port());
  ASSERT_FALSE(client.write_raw(
      "POST /v1/blobs HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const ClientResponse interim = client.read();
  EXPECT_EQ(interim.result_int(), 100);
  ASSERT_FALSE(client.write_raw("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  const ClientResponse response = client.read();
  EXPECT_EQ(response.result_int(), 201);
  std::lock_guard lock(record->mu);
  EXPECT_EQ(record->data, "hello world");
}

TEST(HttpServer, RefusedUploadChunkAnswersTheErrorAndCloses) {
  HttpServer server(test_options());
  auto record = std::make_shared<UploadRecord>();
  record->fail_after_first_chunk = data_loss("disk full");
  server.route_upload("POST", "/v1/blobs", recording_upload(record));
  ASSERT_TRUE(server.start().is_ok());

  TestClient client(server.port());
  ASSERT_FALSE(client.write_raw(
      "POST /v1/blobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n"));
  {
    std::unique_lock lock(record->mu);
    ASSERT_TRUE(record->changed.wait_for(lock, 10s, [&] { return record->chunks == 1; }));
  }
  ASSERT_FALSE(client.write_raw("6\r\nsecond\r\n0\r\n\r\n"));
  const ClientResponse response = client.read();
  EXPECT_EQ(response.result_int(), 500);
  EXPECT_EQ(response.body(), R"({"error": "disk full"})");
  EXPECT_TRUE(client.server_closed());
  std::lock_guard lock(record->mu);
  EXPECT_TRUE(record->destroyed);
  EXPECT_FALSE(record->finished);
}

TEST(HttpServer, UploadOverItsLimitIs413) {
  HttpServerOptions options = test_options();
  options.max_upload_bytes = 100;
  HttpServer server(options);
  auto record = std::make_shared<UploadRecord>();
  server.route_upload("POST", "/v1/blobs", recording_upload(record));
  ASSERT_TRUE(server.start().is_ok());
  TestClient client(server.port());
  const ClientResponse response = client.send(bhttp::verb::post, "/v1/blobs", std::string(101, 'z'));
  EXPECT_EQ(response.result_int(), 413);
  EXPECT_EQ(response.body(), R"({"error": "request body of 101 bytes exceeds the limit of 100 bytes"})");
}

TEST(HttpServer, ClientDisconnectMidUploadDestroysSinkWithoutFinish) {
  HttpServer server(test_options());
  auto record = std::make_shared<UploadRecord>();
  server.route_upload("PUT", "/upload", recording_upload(record));
  ASSERT_TRUE(server.start().is_ok());

  {
    TestClient client(server.port());
    ASSERT_FALSE(client.write_raw("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"));
    ASSERT_FALSE(client.write_raw(std::string(100000, 'p')));
    std::unique_lock lock(record->mu);
    ASSERT_TRUE(record->changed.wait_for(lock, 10s, [&] { return record->data.size() == 100000; }));
    lock.unlock();
    client.close();
  }
  std::unique_lock lock(record->mu);
  ASSERT_TRUE(record->changed.wait_for(lock, 10s, [&] { return record->destroyed; }));
  EXPECT_FALSE(record->finished);
}

// ---- load and shutdown ---------------------------------------------------------------------

TEST(HttpServer, TwoHundredConcurrentConnectionsAllSucceed) {
  HttpServer server(test_options());
  server.route("GET", "/ping/{i}", [](const std::shared_ptr<HttpRequest>& request, Responder respond) {
    respond(HttpResponse::json(200, request->path_params.at("i")));
  });
  ASSERT_TRUE(server.start().is_ok());

  constexpr int kConnections = 200;
  net::io_context io;
  struct Exchange {
    explicit Exchange(net::io_context& io) : stream(io) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    bhttp::request<bhttp::empty_body> request;
    ClientResponse response;
    bool ok = false;
  };
  std::vector<std::unique_ptr<Exchange>> exchanges;
  const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), server.port());
  for (int i = 0; i < kConnections; ++i) {
    auto exchange = std::make_unique<Exchange>(io);
    Exchange* x = exchange.get();
    x->request = bhttp::request<bhttp::empty_body>(bhttp::verb::get, "/ping/" + std::to_string(i), 11);
    x->stream.expires_after(30s);
    // All connections are opened and their requests sent before any is read.
    x->stream.async_connect(endpoint, [x, i](beast::error_code ec) {
      if (ec) return;
      bhttp::async_write(x->stream, x->request, [x, i](beast::error_code write_ec, std::size_t) {
        if (write_ec) return;
        bhttp::async_read(x->stream, x->buffer, x->response, [x, i](beast::error_code read_ec, std::size_t) {
          x->ok = !read_ec && x->response.result_int() == 200 && x->response.body() == std::to_string(i);
        });
      });
    });
    exchanges.push_back(std::move(exchange));
  }
  io.run();
  int succeeded = 0;
  for (const auto& exchange : exchanges) succeeded += exchange->ok ? 1 : 0;
  EXPECT_EQ(succeeded, kConnections);
}

TEST(HttpServer, StopClosesIdleKeepAliveConnectionsPromptly) {
  HttpServerOptions options = test_options();
  options.stop_grace = std::chrono::milliseconds(30000);  // waiting on idle clients would show
  HttpServer server(options);
  server.route("GET", "/", json_handler("{}"));
  ASSERT_TRUE(server.start().is_ok());

  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(std::make_unique<TestClient>(server.port()));
    ASSERT_EQ(clients.back()->send(bhttp::verb::get, "/").result_int(), 200);
  }
  const auto before = std::chrono::steady_clock::now();
  server.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 5s);
  for (auto& client : clients) EXPECT_TRUE(client->server_closed());
  server.stop();  // idempotent
}

TEST(HttpServer, StopLetsAnInFlightResponseFinish) {
  HttpServer server(test_options());
  std::promise<Responder> handed_over;
  server.route("GET", "/busy", [&](const std::shared_ptr<HttpRequest>&, Responder respond) {
    handed_over.set_value(std::move(respond));
  });
  ASSERT_TRUE(server.start().is_ok());

  TestClient client(server.port());
  bhttp::request<bhttp::string_body> request(bhttp::verb::get, "/busy", 11);
  ASSERT_FALSE(client.write(request));
  Responder respond = handed_over.get_future().get();  // the request is in flight now
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server.stop();
    stopped = true;
  });
  std::this_thread::sleep_for(100ms);  // time for a wrong stop() to return early
  EXPECT_FALSE(stopped.load());
  respond(HttpResponse::json(200, R"({"finished":true})"));
  const ClientResponse response = client.read();
  stopper.join();
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.body(), R"({"finished":true})");
  EXPECT_TRUE(client.server_closed());
}

TEST(HttpServer, IdleConnectionIsClosedAfterTheTimeout) {
  HttpServerOptions options = test_options();
  options.idle_timeout = std::chrono::seconds(1);
  HttpServer server(options);
  server.route("GET", "/", json_handler("{}"));
  ASSERT_TRUE(server.start().is_ok());
  TestClient client(server.port());
  ASSERT_EQ(client.send(bhttp::verb::get, "/").result_int(), 200);
  EXPECT_TRUE(client.server_closed());  // within the client's 10 s deadline
}

TEST(HttpServer, PortInUseIsAnError) {
  HttpServer first(test_options());
  ASSERT_TRUE(first.start().is_ok());
  HttpServerOptions options = test_options();
  options.port = first.port();
  HttpServer second(options);
  const Status started = second.start();
  EXPECT_EQ(started.code(), StatusCode::kUnavailable);
  EXPECT_NE(started.message().find(std::to_string(first.port())), std::string::npos) << started.message();
}

}  // namespace
}  // namespace quiver::http

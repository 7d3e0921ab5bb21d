// Routes marked blocking (HttpServerOptions::blocking_route) run their handler, or an
// upload's finish(), off the I/O threads: with a single I/O thread, a handler stuck in
// a slow commit must not hold up the requests of other connections.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "api/http/http_server.h"
#include "unit/http/http_test_client.h"

namespace quiver::http {
namespace {

namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;
using test_support::ClientResponse;
using test_support::TestClient;

HttpServerOptions one_io_thread() {
  HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.threads = 1;
  options.blocking_route = [](std::string_view, std::string_view pattern) { return pattern.starts_with("/v1/"); };
  return options;
}

// A handler that holds its thread until released, like a commit waiting on a disk or
// a database that went away.
struct Gate {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();

  void hold() {
    entered.set_value();
    released.wait_for(10s);
  }
};

Handler fast_handler() {
  return [](const std::shared_ptr<HttpRequest>&, Responder respond) { respond(HttpResponse::json(200, "{}")); };
}

TEST(BlockingRoutes, AHandlerThatBlocksLeavesTheIoThreadServing) {
  HttpServer server(one_io_thread());
  Gate gate;
  server.route("PUT", "/v1/slow", [&](const std::shared_ptr<HttpRequest>&, Responder respond) {
    gate.hold();
    respond(HttpResponse::json(200, R"({"committed":true})"));
  });
  server.route("POST", "/v2/fast", fast_handler());
  server.route("GET", "/v1/throws", [](const std::shared_ptr<HttpRequest>&, Responder) -> void {
    throw std::runtime_error("registry exploded");
  });
  ASSERT_TRUE(server.start().is_ok());

  auto slow = std::async(std::launch::async, [&] {
    TestClient client(server.port());
    return client.send(bhttp::verb::put, "/v1/slow", "{}");
  });
  ASSERT_EQ(gate.entered.get_future().wait_for(10s), std::future_status::ready);

  // The only I/O thread is free: another connection is answered while the handler holds.
  TestClient other(server.port());
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(other.send(bhttp::verb::post, "/v2/fast", "{}").result_int(), 200);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  // An exception on the pool is a 500 for its own request.
  const ClientResponse threw = other.send(bhttp::verb::get, "/v1/throws");
  EXPECT_EQ(threw.result_int(), 500);
  EXPECT_NE(threw.body().find("registry exploded"), std::string::npos);
  EXPECT_EQ(slow.wait_for(0s), std::future_status::timeout);

  gate.release.set_value();
  const ClientResponse committed = slow.get();
  EXPECT_EQ(committed.result_int(), 200);
  EXPECT_EQ(committed.body(), R"({"committed":true})");
}

class HoldingSink : public UploadSink {
 public:
  explicit HoldingSink(Gate& gate) : gate_(gate) {}
  Status append(std::span<const std::byte> chunk) override {
    received_ += chunk.size();
    return Status::ok();
  }
  void finish(Responder respond) override {
    gate_.hold();
    respond(HttpResponse::json(201, "{\"size\": " + std::to_string(received_) + "}"));
  }

 private:
  Gate& gate_;
  size_t received_ = 0;
};

TEST(BlockingRoutes, AnUploadFinishesOffTheIoThread) {
  HttpServer server(one_io_thread());
  Gate gate;
  server.route_upload("POST", "/v1/blobs", [&](const std::shared_ptr<HttpRequest>&) -> Result<std::unique_ptr<UploadSink>> {
    return std::unique_ptr<UploadSink>(std::make_unique<HoldingSink>(gate));
  });
  server.route("POST", "/v2/fast", fast_handler());
  ASSERT_TRUE(server.start().is_ok());

  auto upload = std::async(std::launch::async, [&] {
    TestClient client(server.port());
    return client.send(bhttp::verb::post, "/v1/blobs", std::string(100000, 'x'));
  });
  ASSERT_EQ(gate.entered.get_future().wait_for(10s), std::future_status::ready);
  TestClient other(server.port());
  EXPECT_EQ(other.send(bhttp::verb::post, "/v2/fast", "{}").result_int(), 200);

  gate.release.set_value();
  const ClientResponse done = upload.get();
  EXPECT_EQ(done.result_int(), 201);
  EXPECT_EQ(done.body(), R"({"size": 100000})");
}

TEST(BlockingRoutes, WithoutThePredicateHandlersRunOnTheIoThread) {
  HttpServerOptions options = one_io_thread();
  options.blocking_route = nullptr;
  HttpServer server(options);
  std::thread::id handler_thread;
  std::promise<std::thread::id> fast_thread;
  server.route("PUT", "/v1/slow", [&](const std::shared_ptr<HttpRequest>&, Responder respond) {
    handler_thread = std::this_thread::get_id();
    respond(HttpResponse::json(200, "{}"));
  });
  server.route("POST", "/v2/fast", [&](const std::shared_ptr<HttpRequest>&, Responder respond) {
    fast_thread.set_value(std::this_thread::get_id());
    respond(HttpResponse::json(200, "{}"));
  });
  ASSERT_TRUE(server.start().is_ok());
  TestClient client(server.port());
  EXPECT_EQ(client.send(bhttp::verb::put, "/v1/slow", "{}").result_int(), 200);
  EXPECT_EQ(client.send(bhttp::verb::post, "/v2/fast", "{}").result_int(), 200);
  EXPECT_EQ(handler_thread, fast_thread.get_future().get());  // one I/O thread ran both
}

}  // namespace
}  // namespace quiver::http

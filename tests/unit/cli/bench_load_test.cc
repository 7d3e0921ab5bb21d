#include "cli/bench_load.h"

#include <gtest/gtest.h>

#include "unit/cli/test_http_server.h"

namespace quiver::cli {
namespace {

using test_support::Reply;
using test_support::TestHttpServer;

LoadTarget target_for(unsigned short port) {
  LoadTarget target;
  target.host = "127.0.0.1";
  target.port = std::to_string(port);
  target.target = "/v2/models/iris/infer";
  target.headers["Content-Type"] = "application/json";
  target.body = R"({"inputs":[]})";
  return target;
}

TEST(BenchLoadTest, RequestBytesAreOneHttp11Post) {
  LoadTarget target = target_for(8000);
  target.headers["Inference-Header-Content-Length"] = "13";
  const std::string request = build_http_request(target);
  EXPECT_EQ(request.rfind("POST /v2/models/iris/infer HTTP/1.1\r\n", 0), 0u) << request;
  EXPECT_NE(request.find("Host: 127.0.0.1:8000\r\n"), std::string::npos);
  EXPECT_NE(request.find("Inference-Header-Content-Length: 13\r\n"), std::string::npos);
  EXPECT_NE(request.find("Content-Length: 13\r\n\r\n{\"inputs\":[]}"), std::string::npos);
}

TEST(BenchLoadTest, CountsAnswersByStatusAndStopsAfterTheRequestBudget) {
  int served = 0;
  TestHttpServer server([&](const test_support::RecordedRequest&) {
    ++served;
    return served % 2 == 1 ? Reply(200, "{}") : Reply(503, R"({"error":"not ready"})");
  });
  LoadOptions options;
  options.connections = 1;
  options.max_requests = 20;
  options.duration = std::chrono::seconds(30);
  auto result = run_load(target_for(server.port()), options);
  ASSERT_TRUE(result.is_ok()) << result.status().to_string();
  EXPECT_EQ(result->ok, 10);
  EXPECT_EQ(result->errors, 10);
  EXPECT_EQ(result->error_breakdown.at("HTTP 503"), 10);
  EXPECT_EQ(result->latency.count, 10);
  EXPECT_GT(result->latency.p50_ns, 0);

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 20u);  // the test server closes every connection: each was reopened
  EXPECT_EQ(requests[0].target, "/v2/models/iris/infer");
  EXPECT_EQ(requests[0].body, R"({"inputs":[])" "}");
}

TEST(BenchLoadTest, AServerThatIsDownGivesErrorsWithinTheDuration) {
  LoadOptions options;
  options.connections = 2;
  options.duration = std::chrono::milliseconds(50);
  const auto started = std::chrono::steady_clock::now();
  auto result = run_load(target_for(test_support::closed_port()), options);
  ASSERT_TRUE(result.is_ok()) << result.status().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(result->ok, 0);
  EXPECT_GT(result->error_breakdown.at("connection refused"), 0);
}

}  // namespace
}  // namespace quiver::cli

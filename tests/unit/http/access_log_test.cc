#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "api/http/access_log.h"
#include "api/http/http_server.h"
#include "api/http/trace_context.h"
#include "unit/http/http_test_client.h"

namespace quiver::http {
namespace {

namespace bhttp = boost::beast::http;
using test_support::TestClient;

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / (name + "-" + std::to_string(getpid()) + ".jsonl");
}

std::vector<nlohmann::json> read_lines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(AccessLogTest, FormatsOneJsonObjectPerLineAndEscapes) {
  AccessEntry e;
  e.time = "2026-12-02T01:02:03.456Z";
  e.request_id = "r\"1";
  e.method = "POST";
  e.path = "/v2/models/a\nb/infer";
  e.status = 200;
  e.latency_ms = 1.23456;
  e.bytes_in = 10;
  e.bytes_out = 20;
  const std::string line = format_access_line(e);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // one line, whatever the fields hold
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["request_id"], "r\"1");
  EXPECT_EQ(j["path"], "/v2/models/a\nb/infer");
  EXPECT_EQ(j["status"], 200);
  EXPECT_DOUBLE_EQ(j["latency_ms"].get<double>(), 1.235);
  EXPECT_EQ(j["bytes_in"], 10);
  EXPECT_FALSE(j.contains("model"));  // empty fields are left out
}

TEST(AccessLogTest, RedactsTokenSecretsInPaths) {
  EXPECT_EQ(redact_path("/v1/tokens/qv_ab12cd34_deadbeefcafe"), "/v1/tokens/qv_ab12cd34_<redacted>");
  EXPECT_EQ(redact_path("/v1/tokens/qv_ab12cd34"), "/v1/tokens/qv_ab12cd34");  // a key id alone is no secret
  EXPECT_EQ(redact_path("/v2/models/iris/infer"), "/v2/models/iris/infer");
  EXPECT_EQ(redact_path("/x/qv_a_s1/y/qv_b_s2"), "/x/qv_a_<redacted>/y/qv_b_<redacted>");
}

TEST(AccessLogTest, ClassifiesEndpoints) {
  EXPECT_EQ(endpoint_kind("POST", "/v2/models/iris/infer"), "infer");
  EXPECT_EQ(endpoint_kind("POST", "/v2/models/iris/versions/2/infer"), "infer");
  EXPECT_EQ(endpoint_kind("GET", "/v2/models/iris"), "metadata");
  EXPECT_EQ(endpoint_kind("GET", "/v2/health/ready"), "health");
  EXPECT_EQ(endpoint_kind("GET", "/metrics"), "metrics");
  EXPECT_EQ(endpoint_kind("PUT", "/v1/deployments/iris"), "management");
  EXPECT_EQ(endpoint_kind("GET", "/ui/app.js"), "ui");
  EXPECT_EQ(endpoint_kind("GET", "/nope"), "other");
}

TEST(AccessLogTest, DropsAndCountsOverTheBufferLimitInsteadOfBlocking) {
  const auto path = temp_file("quiver-access-drop");
  std::filesystem::remove(path);
  metrics::Counter dropped;
  AccessEntry e;
  e.path = std::string(200, 'p');
  const size_t line = format_access_line(e).size();
  AccessLogOptions options;
  options.max_buffered_bytes = 4 * line + line / 2;  // room for four lines
  options.flush_interval = std::chrono::hours(1);  // only explicit flushes write
  options.dropped = &dropped;
  auto log = AccessLogWriter::open(path.string(), options);
  ASSERT_TRUE(log.is_ok()) << log.status().message();
  for (int i = 0; i < 10; ++i) (*log)->write(e);
  EXPECT_EQ((*log)->dropped(), 6u);
  EXPECT_EQ(dropped.value(), 6u);
  (*log)->flush();
  EXPECT_EQ(read_lines(path).size(), 4u);
  (*log)->write(e);  // room again after the flush
  log->reset();      // the destructor writes out what is left
  EXPECT_EQ(read_lines(path).size(), 5u);
  std::filesystem::remove(path);
}

TEST(AccessLogTest, RefusesAPathItCannotOpen) {
  EXPECT_FALSE(AccessLogWriter::open("/nonexistent-dir/x/access.log").is_ok());
  EXPECT_FALSE(AccessLogWriter::open("").is_ok());
}

// The whole path through the server: traceparent in, traceparent out, one log line.
TEST(AccessLogTest, ServerLogsEveryRequestAndAnswersWithItsSpan) {
  const auto path = temp_file("quiver-access-server");
  std::filesystem::remove(path);
  auto log = AccessLogWriter::open(path.string());
  ASSERT_TRUE(log.is_ok());
  HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.threads = 2;
  options.access_log = *log;
  HttpServer server(options);
  server.route("POST", "/v2/models/{model}/versions/{version}/infer",
               [](const std::shared_ptr<HttpRequest>&, Responder respond) {
                 HttpResponse r = HttpResponse::json(200, R"({"outputs":[]})");
                 r.headers.emplace_back("x-quiver-model-version", "7");
                 respond(std::move(r));
               });
  ASSERT_TRUE(server.start().is_ok());
  TestClient client(server.port());
  const std::string parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const auto joined = client.send(bhttp::verb::post, "/v2/models/iris/versions/latest/infer?api_key=s3cret",
                                  R"({"inputs":[{"data":[0.125]}]})",
                                  {{"traceparent", parent}, {"Authorization", "Bearer qv_k_s3cret"},
                                   {"x-request-id", "req-42"}});
  ASSERT_EQ(joined.result_int(), 200);
  const auto answered = parse_traceparent(std::string(joined["traceparent"]));
  ASSERT_TRUE(answered.has_value()) << joined["traceparent"];
  EXPECT_EQ(answered->trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_NE(answered->span_id_hex(), "00f067aa0ba902b7");

  // An invalid traceparent is ignored: a new trace starts. 404s are logged too.
  const auto fresh = client.send(bhttp::verb::get, "/missing", "", {{"traceparent", "00-xyz"}});
  EXPECT_EQ(fresh.result_int(), 404);
  const auto started = parse_traceparent(std::string(fresh["traceparent"]));
  ASSERT_TRUE(started.has_value());
  EXPECT_NE(started->trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");

  server.stop();
  (*log)->flush();
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 2u);
  const auto& a = lines[0];
  EXPECT_EQ(a["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(a["span_id"], answered->span_id_hex());
  EXPECT_EQ(a["request_id"], "req-42");
  EXPECT_EQ(a["method"], "POST");
  EXPECT_EQ(a["path"], "/v2/models/iris/versions/latest/infer");  // no query string
  EXPECT_EQ(a["kind"], "infer");
  EXPECT_EQ(a["route"], "pinned");
  EXPECT_EQ(a["model"], "iris");
  EXPECT_EQ(a["version"], "7");  // the version that answered, not the alias asked for
  EXPECT_EQ(a["status"], 200);
  EXPECT_EQ(a["bytes_in"], 29);
  EXPECT_EQ(a["bytes_out"], 14);
  EXPECT_GE(a["latency_ms"].get<double>(), 0.0);
  EXPECT_TRUE(a["time"].get<std::string>().ends_with("Z"));
  const auto& b = lines[1];
  EXPECT_EQ(b["status"], 404);
  EXPECT_EQ(b["trace_id"], started->trace_id_hex());
  EXPECT_EQ(b["request_id"], started->span_id_hex());  // no id given: the span id stands in

  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str().find("s3cret"), std::string::npos);
  EXPECT_EQ(text.str().find("0.125"), std::string::npos);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace quiver::http

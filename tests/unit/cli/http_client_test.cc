#include "cli/http_client.h"

#include <sstream>

#include <gtest/gtest.h>

#include "unit/cli/test_http_server.h"

namespace quiver::cli {
namespace {

using test_support::Reply;
using test_support::RecordedRequest;
using test_support::TestHttpServer;

TEST(ParseServerUrlTest, SplitsHostPortAndPrefix) {
  auto url = parse_server_url("http://models.internal:9000/quiver/");
  ASSERT_TRUE(url.is_ok()) << url.status().to_string();
  EXPECT_EQ(url->host, "models.internal");
  EXPECT_EQ(url->port, "9000");
  EXPECT_EQ(url->prefix, "/quiver");
  EXPECT_EQ(url->to_string(), "http://models.internal:9000/quiver");
}

TEST(ParseServerUrlTest, DefaultsToPort80AndAcceptsIpv6Literals) {
  auto plain = parse_server_url("http://localhost");
  ASSERT_TRUE(plain.is_ok());
  EXPECT_EQ(plain->port, "80");
  EXPECT_EQ(plain->prefix, "");

  auto v6 = parse_server_url("http://[::1]:8000");
  ASSERT_TRUE(v6.is_ok()) << v6.status().to_string();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, "8000");
  EXPECT_EQ(v6->to_string(), "http://[::1]:8000");
}

TEST(ParseServerUrlTest, RejectsWhatItCannotServe) {
  for (const char* bad : {"ftp://host:8000", "host:8000", "http://:8000", "http://host:80000",
                          "http://host:abc", "http://host:8000/x?y=1"}) {
    auto url = parse_server_url(bad);
    ASSERT_FALSE(url.is_ok()) << bad;
    EXPECT_EQ(url.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(url.status().message().find(bad), std::string::npos) << url.status().message();
  }
}

TEST(ParseServerUrlTest, HttpsMeansTlsAndPort443ByDefault) {
  auto url = parse_server_url("https://models.example.com/quiver/");
  ASSERT_TRUE(url.is_ok()) << url.status().to_string();
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->port, "443");
  EXPECT_EQ(url->prefix, "/quiver");
  EXPECT_EQ(url->to_string(), "https://models.example.com:443/quiver");
  auto plain = parse_server_url("HTTP://h:1");
  ASSERT_TRUE(plain.is_ok());
  EXPECT_FALSE(plain->tls);
}

TEST(HttpClientTest, HttpsWithAnUnreadableCaFileIsRefusedBeforeAnyConnection) {
  HttpClientOptions options;
  options.tls.ca_file = "/nonexistent/ca.pem";
  auto client = HttpClient::create("https://127.0.0.1:1", options);
  ASSERT_FALSE(client.is_ok());
  EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(client.status().message().find("/nonexistent/ca.pem"), std::string::npos) << client.status().message();
  options.tls.ca_file.clear();
  options.tls.cert_file = "/some/cert.pem";  // a certificate without its key
  auto half = HttpClient::create("https://127.0.0.1:1", options);
  ASSERT_FALSE(half.is_ok());
  EXPECT_NE(half.status().message().find("needs its key"), std::string::npos) << half.status().message();
}

TEST(EncodePathSegmentTest, EscapesEverythingButUnreservedCharacters) {
  EXPECT_EQ(encode_path_segment("resnet-50_v1.2~x"), "resnet-50_v1.2~x");
  EXPECT_EQ(encode_path_segment("a b/c?d"), "a%20b%2Fc%3Fd");
}

TEST(HttpClientTest, ReturnsStatusHeadersAndBody) {
  TestHttpServer server([](const RecordedRequest&) {
    return Reply{200, R"({"ready":true})", {{"X-Quiver-Model-Version", "3"}}};
  });
  auto client = HttpClient::create(server.url());
  ASSERT_TRUE(client.is_ok());

  HttpRequest request;
  request.method = "PUT";
  request.target = "/v1/models/m/aliases/prod";
  request.headers["x-quiver-reason"] = "testing";
  request.body = R"({"version":3})";
  auto response = client->send(request);

  ASSERT_TRUE(response.is_ok()) << response.status().to_string();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, R"({"ready":true})");
  EXPECT_EQ(response->headers["x-quiver-model-version"], "3");

  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "PUT");
  EXPECT_EQ(seen[0].target, "/v1/models/m/aliases/prod");
  EXPECT_EQ(seen[0].body, R"({"version":3})");
  EXPECT_EQ(seen[0].headers.at("x-quiver-reason"), "testing");
  EXPECT_EQ(seen[0].headers.at("host"), "127.0.0.1:" + std::to_string(server.port()));
}

TEST(HttpClientTest, PutsTheUrlPrefixInFrontOfEveryTarget) {
  TestHttpServer server([](const RecordedRequest&) { return Reply{200, "[]"}; });
  auto client = HttpClient::create(server.url() + "/quiver/");
  ASSERT_TRUE(client.is_ok());
  ASSERT_TRUE(client->send(HttpRequest{"GET", "/v1/models", {}, ""}).is_ok());
  EXPECT_EQ(server.requests().at(0).target, "/quiver/v1/models");
}

TEST(HttpClientTest, StreamsABodyInChunksWithContentLengthAndReportsProgress) {
  TestHttpServer server([](const RecordedRequest&) { return Reply{201, R"({"sha256":"ab","size":2600000})"}; });
  auto client = HttpClient::create(server.url());
  ASSERT_TRUE(client.is_ok());

  std::string payload(2'600'000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 % 251);
  std::istringstream body(payload);
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  auto response = client->exchange_streamed(
      HttpRequest{"POST", "/v1/blobs", {{"content-type", "application/octet-stream"}}, ""}, body,
      payload.size(), [&](uint64_t sent, uint64_t total) { progress.emplace_back(sent, total); },
      1'000'000);

  ASSERT_TRUE(response.is_ok()) << response.status().to_string();
  EXPECT_EQ(response->status, 201);
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].body, payload);
  EXPECT_EQ(seen[0].headers.at("content-length"), "2600000");
  EXPECT_EQ(seen[0].headers.count("transfer-encoding"), 0u);
  EXPECT_EQ(progress, (std::vector<std::pair<uint64_t, uint64_t>>{
                          {1'000'000, 2'600'000}, {2'000'000, 2'600'000}, {2'600'000, 2'600'000}}));
}

TEST(HttpClientTest, StreamedBodyShorterThanAnnouncedIsAnError) {
  TestHttpServer server([](const RecordedRequest&) { return Reply{201, "{}"}; });
  auto client = HttpClient::create(server.url());
  ASSERT_TRUE(client.is_ok());
  std::istringstream body("only ten b");
  auto response = client->exchange_streamed(HttpRequest{"POST", "/v1/blobs", {}, ""}, body, 100, {}, 4);
  ASSERT_FALSE(response.is_ok());
  EXPECT_EQ(response.status().code(), StatusCode::kDataLoss);
}

TEST(HttpClientTest, NonSuccessCarriesTheServersErrorMessage) {
  TestHttpServer server([](const RecordedRequest&) {
    return Reply{404, R"({"error":"model 'nope' is not registered"})"};
  });
  auto client = HttpClient::create(server.url());
  ASSERT_TRUE(client.is_ok());

  auto raw = client->exchange(HttpRequest{"GET", "/v1/models/nope/versions/1", {}, ""});
  ASSERT_TRUE(raw.is_ok()) << "exchange() returns any answer";
  EXPECT_EQ(raw->status, 404);

  auto response = client->send(HttpRequest{"GET", "/v1/models/nope/versions/1", {}, ""});
  ASSERT_FALSE(response.is_ok());
  EXPECT_EQ(response.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(response.status().message(), "model 'nope' is not registered");
}

TEST(HttpClientTest, ErrorWithoutJsonBodyNamesTheHttpStatus) {
  TestHttpServer server([](const RecordedRequest&) { return Reply{502, "upstream down\n"}; });
  auto client = HttpClient::create(server.url());
  ASSERT_TRUE(client.is_ok());
  auto response = client->send(HttpRequest{"GET", "/v1/models", {}, ""});
  ASSERT_FALSE(response.is_ok());
  EXPECT_EQ(response.status().code(), StatusCode::kInternal);
  EXPECT_EQ(response.status().message(), "the server answered HTTP 502 Bad Gateway: upstream down");
}

TEST(HttpClientTest, MapsHttpStatusesBackToStatusCodes) {
  const std::pair<int, StatusCode> cases[] = {
      {400, StatusCode::kInvalidArgument}, {409, StatusCode::kAlreadyExists},
      {413, StatusCode::kPayloadTooLarge}, {429, StatusCode::kResourceExhausted},
      {503, StatusCode::kUnavailable},     {500, StatusCode::kInternal},
  };
  for (const auto& [http_status, code] : cases) {
    const Status status = status_from_http_error(HttpResponse{http_status, {}, R"({"error":"why"})"});
    EXPECT_EQ(status.code(), code) << http_status;
    EXPECT_EQ(status.message(), "why");
  }
}

TEST(HttpClientTest, ConnectionRefusedSaysTheServerCannotBeReached) {
  const unsigned short port = test_support::closed_port();
  auto client = HttpClient::create("http://127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(client.is_ok());
  auto response = client->send(HttpRequest{"GET", "/v1/models", {}, ""});
  ASSERT_FALSE(response.is_ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(response.status().message(),
            "cannot reach the Quiver server at http://127.0.0.1:" + std::to_string(port) +
                ": connection refused");
}

TEST(HttpClientTest, GivesUpWhenTheServerDoesNotAnswerInTime) {
  TestHttpServer server([](const RecordedRequest&) {
    Reply reply;
    reply.silent = true;
    return reply;
  });
  HttpClientOptions options;
  options.request_timeout = std::chrono::milliseconds(200);
  auto client = HttpClient::create(server.url(), options);
  ASSERT_TRUE(client.is_ok());
  auto response = client->send(HttpRequest{"GET", "/v1/models", {}, ""});
  ASSERT_FALSE(response.is_ok());
  EXPECT_EQ(response.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(response.status().message().find("did not answer within 0.2s"), std::string::npos)
      << response.status().message();
}

}  // namespace
}  // namespace quiver::cli

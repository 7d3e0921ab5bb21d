// Responses streamed from a BodySource (HttpResponse::stream), as GET /v1/backup sends
// its archive: the body arrives whole with its Content-Length, the connection stays
// usable afterwards, HEAD sends only the length, and a source that fails midway ends the
// connection instead of sending a short or wrong body as if it were complete.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "api/http/http_server.h"
#include "unit/http/http_test_client.h"

namespace quiver::http {
namespace {

using test_support::TestClient;
namespace bhttp = boost::beast::http;

// Bytes 0, 1, 2, ... (mod 251) up to `size`, handed out in pieces of at most `piece`;
// fails once `fail_at` bytes were produced, if set.
class CountingSource final : public BodySource {
 public:
  CountingSource(uint64_t size, size_t piece, uint64_t fail_at = UINT64_MAX)
      : size_(size), piece_(piece), fail_at_(fail_at) {}
  uint64_t size() const override { return size_; }
  Result<size_t> read(std::span<std::byte> out) override {
    if (produced_ >= fail_at_) return data_loss("source broke");
    const size_t n = static_cast<size_t>(std::min<uint64_t>({out.size(), piece_, size_ - produced_}));
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>((produced_ + i) % 251);
    produced_ += n;
    return n;
  }

 private:
  uint64_t size_;
  size_t piece_;
  uint64_t fail_at_;
  uint64_t produced_ = 0;
};

std::string expected_bytes(uint64_t size) {
  std::string s(size, '\0');
  for (uint64_t i = 0; i < size; ++i) s[i] = static_cast<char>(i % 251);
  return s;
}

class StreamedResponseTest : public ::testing::Test {
 protected:
  void start(uint64_t size, size_t piece, uint64_t fail_at = UINT64_MAX) {
    HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    server_ = std::make_unique<HttpServer>(options);
    server_->route("GET", "/stream", [=](const auto&, Responder respond) {
      HttpResponse r;
      r.content_type = "application/x-tar";
      r.headers.emplace_back("x-test", "1");
      r.stream = std::make_shared<CountingSource>(size, piece, fail_at);
      respond(std::move(r));
    });
    server_->route("HEAD", "/stream", [=](const auto&, Responder respond) {
      HttpResponse r;
      r.stream = std::make_shared<CountingSource>(size, piece, fail_at);
      respond(std::move(r));
    });
    server_->route("GET", "/small", [](const auto&, Responder respond) { respond(HttpResponse::json(200, "{}")); });
    ASSERT_TRUE(server_->start().is_ok());
  }

  std::unique_ptr<HttpServer> server_;
};

TEST_F(StreamedResponseTest, BodyArrivesWholeAndTheConnectionStaysUsable) {
  const uint64_t size = 3 * (64 << 10) + 12345;  // several writer pieces, an odd tail
  start(size, 7000);
  TestClient client(server_->port());
  auto response = client.send(bhttp::verb::get, "/stream");
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_EQ(response[bhttp::field::content_type], "application/x-tar");
  EXPECT_EQ(response["x-test"], "1");
  EXPECT_EQ(response[bhttp::field::content_length], std::to_string(size));
  EXPECT_EQ(response.body(), expected_bytes(size));
  auto next = client.send(bhttp::verb::get, "/small");  // keep-alive after a streamed body
  EXPECT_EQ(next.body(), "{}");
}

TEST_F(StreamedResponseTest, EmptyStreamAndHead) {
  start(0, 100);
  TestClient client(server_->port());
  auto response = client.send(bhttp::verb::get, "/stream");
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_EQ(response.body(), "");
}

TEST_F(StreamedResponseTest, HeadSendsOnlyTheLength) {
  start(1000, 100);
  TestClient client(server_->port());
  bhttp::request<bhttp::string_body> request(bhttp::verb::head, "/stream", 11);
  request.set(bhttp::field::host, "127.0.0.1");
  request.set(bhttp::field::connection, "close");
  ASSERT_FALSE(client.write(std::move(request)));
  const std::string raw = client.read_until_close();
  EXPECT_NE(raw.find("Content-Length: 1000"), std::string::npos) << raw;
  EXPECT_EQ(raw.substr(raw.find("\r\n\r\n") + 4), "");
}

TEST_F(StreamedResponseTest, AFailingSourceEndsTheConnectionEarly) {
  const uint64_t size = 500000;
  start(size, 10000, /*fail_at=*/200000);
  TestClient client(server_->port());
  bhttp::request<bhttp::string_body> request(bhttp::verb::get, "/stream", 11);
  request.set(bhttp::field::host, "127.0.0.1");
  ASSERT_FALSE(client.write(std::move(request)));
  const std::string raw = client.read_until_close();
  const size_t body_at = raw.find("\r\n\r\n") + 4;
  ASSERT_NE(raw.find("Content-Length: 500000"), std::string::npos);
  EXPECT_LT(raw.size() - body_at, size);  // short: the client can tell it is incomplete
  EXPECT_EQ(raw.substr(body_at), expected_bytes(size).substr(0, raw.size() - body_at));
}

}  // namespace
}  // namespace quiver::http

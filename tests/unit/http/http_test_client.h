// A blocking HTTP/1.1 test client over 127.0.0.1, built on async operations with a
// deadline so that a server bug fails the test instead of hanging it. Shared by the
// HTTP server's unit tests.
#pragma once

#include <array>
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace quiver::http::test_support {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

using ClientResponse = bhttp::response<bhttp::string_body>;

class TestClient {
 public:
  explicit TestClient(uint16_t port) : stream_(io_) {
    stream_.expires_after(10s);
    beast::error_code result;
    stream_.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                          [&](beast::error_code ec) { result = ec; });
    run();
    if (result) throw std::runtime_error("connect failed: " + result.message());
  }

  beast::error_code write_raw(std::string_view bytes) {
    beast::error_code result;
    stream_.expires_after(10s);
    net::async_write(stream_, net::buffer(bytes.data(), bytes.size()),
                     [&](beast::error_code ec, std::size_t) { result = ec; });
    run();
    return result;
  }

  beast::error_code write(bhttp::request<bhttp::string_body> request) {
    request.prepare_payload();
    beast::error_code result;
    stream_.expires_after(10s);
    bhttp::async_write(stream_, request, [&](beast::error_code ec, std::size_t) { result = ec; });
    run();
    return result;
  }

  ClientResponse read() {
    ClientResponse response;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(boost::none);
    beast::error_code result;
    stream_.expires_after(10s);
    bhttp::async_read(stream_, buffer_, parser, [&](beast::error_code ec, std::size_t) { result = ec; });
    run();
    if (result) throw std::runtime_error("read failed: " + result.message());
    return parser.release();
  }

  ClientResponse send(bhttp::verb method, std::string target, std::string body = {},
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    bhttp::request<bhttp::string_body> request(method, target, 11);
    request.set(bhttp::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = std::move(body);
    const beast::error_code written = write(std::move(request));
    if (written) throw std::runtime_error("write failed: " + written.message());
    return read();
  }

  // True when the server closes the connection (EOF or reset) within the deadline.
  bool server_closed() {
    beast::error_code result;
    std::array<char, 4096> scratch{};
    stream_.expires_after(10s);
    while (true) {
      std::size_t got = 0;
      stream_.async_read_some(net::buffer(scratch), [&](beast::error_code ec, std::size_t n) {
        result = ec;
        got = n;
      });
      run();
      if (result || got == 0) break;
    }
    return result == net::error::eof || result == net::error::connection_reset;
  }

  // Everything the server sends until it closes the connection; "" when it closes
  // without answering.
  std::string read_until_close() {
    std::string all = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    std::array<char, 4096> scratch{};
    stream_.expires_after(10s);
    while (true) {
      beast::error_code result;
      std::size_t got = 0;
      stream_.async_read_some(net::buffer(scratch), [&](beast::error_code ec, std::size_t n) {
        result = ec;
        got = n;
      });
      run();
      all.append(scratch.data(), got);
      if (result) return all;
    }
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream& stream() { return stream_; }

 private:
  void run() {
    io_.restart();
    io_.run();
  }

  net::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

}  // namespace quiver::http::test_support

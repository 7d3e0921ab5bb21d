// A tiny HTTP/1.1 server on 127.0.0.1 and a free port, for testing the client side:
// it records every request and answers with whatever the test's handler returns.
// One connection at a time, one request per connection (the client closes after
// each answer).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace quiver::cli::test_support {

struct RecordedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

struct Reply {
  Reply() = default;
  Reply(int status_code, std::string body_text,
        std::vector<std::pair<std::string, std::string>> extra_headers = {})
      : status(status_code), body(std::move(body_text)), headers(std::move(extra_headers)) {}

  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool silent = false;  // read the request, then never answer
};

class TestHttpServer {
 public:
  using Handler = std::function<Reply(const RecordedRequest&)>;

  explicit TestHttpServer(Handler handler)
      : handler_(std::move(handler)), acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }

  ~TestHttpServer() {
    stopping_ = true;
    // Wakes the blocking accept() with a connection that is then ignored.
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket poke(ioc);
    boost::system::error_code ec;
    poke.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
    thread_.join();
  }

  unsigned short port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<RecordedRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void serve() {
    namespace http = boost::beast::http;
    while (true) {
      boost::asio::ip::tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (stopping_ || ec) return;

      boost::beast::flat_buffer buffer;
      http::request_parser<http::string_body> parser;
      parser.body_limit(std::uint64_t{1} << 30);
      http::read(socket, buffer, parser, ec);
      if (ec) continue;
      const auto& req = parser.get();
      RecordedRequest recorded{std::string(req.method_string()), std::string(req.target()), {}, req.body()};
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        recorded.headers[name] = std::string(f.value());
      }
      {
        std::lock_guard lock(mu_);
        requests_.push_back(recorded);
      }
      const Reply reply = handler_(recorded);
      if (reply.silent) {
        // Hold the connection open until the client gives up and closes it.
        char byte;
        socket.read_some(boost::asio::buffer(&byte, 1), ec);
        continue;
      }
      http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
      for (const auto& [name, value] : reply.headers) res.set(name, value);
      res.set(http::field::connection, "close");
      res.body() = reply.body;
      res.prepare_payload();
      http::write(socket, res, ec);
      socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    }
  }

  Handler handler_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::vector<RecordedRequest> requests_;
  std::thread thread_;
};

// A port on 127.0.0.1 that nothing listens on (bound, then released).
inline unsigned short closed_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const unsigned short port = acceptor.local_endpoint().port();
  acceptor.close();
  return port;
}

}  // namespace quiver::cli::test_support

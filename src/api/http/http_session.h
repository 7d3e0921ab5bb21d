// One HTTP/1.1 connection: reads a request, runs its handler, writes the response,
// and repeats while the connection is kept alive. Internal to HttpServer.
//
// Thread-safety: every member runs on the connection's strand, except start(),
// begin_shutdown() and post_response(), which post onto it and may be called from
// any thread, and close_after_stop(), which is only called once no I/O thread runs.
//
// Lifetime: a Session is owned by shared_ptrs held in its pending asynchronous
// operations and in the Responder of the request being handled, so it lives until
// the response is written even when a handler answers from another thread.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "api/http/http_server.h"
#include "api/http/http_types.h"
#include "api/http/route_table.h"
#include "api/http/upload_body.h"

namespace quiver::http::detail {

class Session;

// What all connections of one server share. Outlives the server object when a
// connection does (a handler still holding a Responder).
struct ServerContext {
  HttpServerOptions options;
  RouteTable routes;  // read-only once the server has started

  // Live connections, so stop() can close them and wait for them to finish.
  std::mutex mu;
  std::condition_variable all_closed;  // notified when `sessions` becomes empty
  bool stopping = false;
  uint64_t next_session_id = 0;
  std::unordered_map<uint64_t, std::weak_ptr<Session>> sessions;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `io_context` is weak because the Session must not keep it alive: pending
  // operations inside the io_context own the Session.
  Session(boost::asio::ip::tcp::socket socket, std::shared_ptr<ServerContext> context,
          std::weak_ptr<boost::asio::io_context> io_context, uint64_t id);
  ~Session();  // unregisters from the ServerContext (if close() did not already)

  void start();
  // Server stopping: close now if no request is being handled, else after its response.
  void begin_shutdown();
  // Delivers a handler's response (from any thread).
  void post_response(HttpResponse response);
  // Closes the socket. Precondition: the I/O threads have been joined.
  void close_after_stop();

 private:
  enum class Phase { kReadingHeader, kReadingBody, kHandling, kWriting, kLingering, kClosed };

  void read_header();
  void on_header(boost::beast::error_code ec);
  void on_header_error(boost::beast::error_code ec);
  Status build_request();
  void route_request();
  // Answers "Expect: 100-continue" (when asked) and then runs `next` to read the body.
  void send_continue_then(void (Session::*next)());
  void read_buffered_body();
  void continue_buffered_body();
  void on_buffered_body(boost::beast::error_code ec);
  void start_upload(const UploadHandler& upload);
  void read_upload();
  void continue_upload();
  void on_upload(boost::beast::error_code ec);
  void on_body_error(boost::beast::error_code ec, uint64_t limit);
  // Destroys the sink without finish(): the upload did not complete.
  void abandon_upload();
  bool request_fully_read() const;
  void run_handler();
  void finish_upload();
  Responder make_responder();

  // Responds from the session itself (routing or parse errors). When the request
  // body was not read, the connection closes after the response.
  void respond_directly(HttpResponse response);
  void write_response(HttpResponse response);
  void on_write(boost::beast::error_code ec);
  // Half-closes and discards what the client still sends for a moment, so that
  // the client reads our response instead of a connection reset.
  void linger_then_close();
  void on_linger_read(boost::beast::error_code ec, std::size_t bytes);
  void close();
  void unregister();

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  const std::shared_ptr<ServerContext> context_;
  const std::weak_ptr<boost::asio::io_context> io_context_;
  const uint64_t id_;
  std::string remote_;

  Phase phase_ = Phase::kReadingHeader;
  bool keep_alive_ = true;
  bool is_head_ = false;
  bool shutting_down_ = false;
  bool unread_input_ = false;  // the client may still be sending: linger before closing
  uint64_t lingered_bytes_ = 0;

  std::optional<boost::beast::http::request_parser<boost::beast::http::empty_body>> header_parser_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> body_parser_;
  std::optional<boost::beast::http::request_parser<UploadBody>> upload_parser_;
  std::shared_ptr<HttpRequest> request_;
  std::string raw_path_;  // still percent-encoded, for the router
  const RouteTarget* target_ = nullptr;
  std::unique_ptr<UploadSink> sink_;
  boost::beast::http::response<boost::beast::http::empty_body> continue_response_;
  std::optional<boost::beast::http::response<boost::beast::http::string_body>> response_;
  std::array<char, 16 << 10> linger_buffer_{};
};

}  // namespace quiver::http::detail

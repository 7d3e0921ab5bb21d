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
#include <chrono>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>

#include "api/http/http_server.h"
#include "api/http/http_types.h"
#include "api/http/request_body.h"
#include "api/http/route_table.h"
#include "api/http/session_stream.h"
#include "api/http/source_body.h"
#include "api/http/upload_body.h"

namespace quiver::http::detail {

class Session;

// Each read of the connection asks for at most this much.
inline constexpr std::size_t kReadSize = 64 << 10;
// Chunks under this size count toward HttpServerOptions::max_small_chunks.
inline constexpr uint64_t kSmallChunkBytes = 1024;

// An error answer with a status of its own (408, 414, 415, 431, ...), which the Status
// table does not distinguish; the body has the usual {"error": ...} shape.
HttpResponse error_with_status(int status, const std::string& message);

// What all connections of one server share. Outlives the server object when a
// connection does (a handler still holding a Responder).
struct ServerContext {
  HttpServerOptions options;
  RouteTable routes;  // read-only once the server has started
  // Runs the handlers of blocking routes (HttpServerOptions::blocking_route); set by
  // start() when there are any, joined by stop() after the I/O threads.
  std::shared_ptr<boost::asio::thread_pool> blocking_pool;
  RequestGuard guard;  // access control and audit (request_guard.h); may be empty

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
  Session(ConnectionSocket socket, std::shared_ptr<ServerContext> context,
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
  enum class Phase { kHandshake, kReadingHeader, kReadingBody, kHandling, kWriting, kLingering, kClosed };

  // TLS listeners: reads the first bytes, answers plain HTTP with a plain 400, else
  // completes the handshake (within the header timeout) and records the client's
  // certificate identity.
  void start_tls();
  void on_tls_first_bytes(boost::beast::error_code ec, std::size_t bytes);
  void on_handshake(boost::beast::error_code ec, std::size_t bytes_used);
  void refuse_plain_http();

  // Waits for the first byte of the next request (the idle timeout), then reads the
  // rest of its header (the header timeout).
  void read_header();
  void on_first_bytes(boost::beast::error_code ec, std::size_t bytes);
  void read_header_rest();
  void on_header(boost::beast::error_code ec);
  void on_header_error(boost::beast::error_code ec);
  // The answer to a header over a limit (URL length, field count, Transfer-Encoding).
  std::optional<HttpResponse> check_header_limits() const;
  // The header and body deadlines (answered with 408); see the .cc.
  void arm_read_timer(std::chrono::steady_clock::time_point deadline);
  void disarm_read_timer();
  // Beast's chunk-header callback: counts small chunks against max_small_chunks.
  void count_chunk(std::uint64_t size, boost::beast::error_code& ec);
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
  // A streamed body (HttpResponse::stream) goes out one piece per call, each with its
  // own idle timeout, so a long download is not cut off as long as it moves.
  void write_streamed_some();
  // Half-closes and discards what the client still sends for a moment, so that
  // the client reads our response instead of a connection reset.
  void linger_then_close();
  void on_linger_read(boost::beast::error_code ec, std::size_t bytes);
  void close();
  void unregister();

  SessionStream stream_;
  boost::beast::flat_buffer buffer_;
  boost::asio::basic_waitable_timer<std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>,
                                    ConnectionExecutor>
      read_timer_;  // header and body deadlines
  const std::shared_ptr<ServerContext> context_;
  const std::weak_ptr<boost::asio::io_context> io_context_;
  const uint64_t id_;
  std::string remote_;
  std::string tls_identity_;  // the verified client certificate's CN; "" without one

  Phase phase_ = Phase::kReadingHeader;
  bool keep_alive_ = true;
  bool is_head_ = false;
  bool shutting_down_ = false;
  bool unread_input_ = false;  // the client may still be sending: linger before closing
  bool first_request_ = true;  // no request header read yet on this connection
  std::chrono::steady_clock::time_point header_deadline_;  // for the header being read
  uint64_t read_timer_generation_ = 0;  // tells a stale expiry from the current one
  bool read_timed_out_ = false;         // the pending read was cancelled by its deadline
  ContentCoding content_coding_ = ContentCoding::kIdentity;  // of the request being read
  uint32_t small_chunks_ = 0;   // chunks under 1 KiB in the body being read
  bool chunk_flood_ = false;    // the body was refused for max_small_chunks
  // Parsers keep a reference to their chunk callback, so it lives here.
  std::function<void(std::uint64_t, std::string_view, boost::beast::error_code&)> on_chunk_ =
      [this](std::uint64_t size, std::string_view, boost::beast::error_code& ec) { count_chunk(size, ec); };
  uint64_t lingered_bytes_ = 0;

  std::optional<boost::beast::http::request_parser<boost::beast::http::empty_body>> header_parser_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> body_parser_;
  std::optional<boost::beast::http::request_parser<UploadBody>> upload_parser_;
  std::shared_ptr<HttpRequest> request_;
  std::string raw_path_;  // still percent-encoded, for the router
  const RouteTarget* target_ = nullptr;
  std::shared_ptr<UploadSink> sink_;  // shared with a finish() running on the blocking pool
  std::function<void(HttpResponse&)> on_response_;  // from the request guard, for this request
  boost::beast::http::response<boost::beast::http::empty_body> continue_response_;
  std::optional<boost::beast::http::response<boost::beast::http::string_body>> response_;
  std::optional<boost::beast::http::response<SourceBody>> streamed_response_;
  std::optional<boost::beast::http::response_serializer<SourceBody>> streamed_serializer_;  // of streamed_response_
  std::array<char, 16 << 10> linger_buffer_{};
};

}  // namespace quiver::http::detail

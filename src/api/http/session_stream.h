// The byte stream of one HTTP connection: plain TCP, or TLS over it. One type for the
// Session whichever its listener, so the HTTP code is written once; Beast's HTTP
// operations use it like any stream. Timeouts and the socket belong to the TCP layer
// (tcp()), under TLS too. Internal to HttpServer.
//
// Thread-safety: used only from the connection's strand.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace quiver::http::detail {

// A connection's executor, its socket and its TCP stream, named by the executor's
// concrete type. asio's default, the type-erased any_io_executor, is copied (and its
// strand's reference count touched) by every read, write and timer of a request: about
// 6% of the server's CPU in a profile at 32 connections; in alternated runs the concrete
// type lowered p50 at one connection by about 20 us.
using ConnectionExecutor = boost::asio::strand<boost::asio::io_context::executor_type>;
using ConnectionSocket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, ConnectionExecutor>;
using TcpStream = boost::beast::basic_stream<boost::asio::ip::tcp, ConnectionExecutor, boost::beast::unlimited_rate_policy>;

class SessionStream {
 public:
  using executor_type = ConnectionExecutor;
  using Tls = boost::beast::ssl_stream<TcpStream>;

  // With a context, the connection speaks TLS (after handshake()); without, plain TCP.
  // The context is kept alive as long as the connection: reloading the server's
  // certificate does not touch connections already open.
  SessionStream(ConnectionSocket socket, std::shared_ptr<boost::asio::ssl::context> context)
      : context_(std::move(context)) {
    if (context_) {
      tls_.emplace(std::move(socket), *context_);
    } else {
      plain_.emplace(std::move(socket));
    }
  }

  bool is_tls() const { return tls_.has_value(); }
  TcpStream& tcp() { return tls_ ? tls_->next_layer() : *plain_; }
  ConnectionSocket& socket() { return tcp().socket(); }
  executor_type get_executor() { return tcp().get_executor(); }
  // Precondition: is_tls().
  Tls& tls() { return *tls_; }

  template <class MutableBufferSequence, class ReadHandler>
  void async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
    if (tls_) {
      tls_->async_read_some(buffers, std::forward<ReadHandler>(handler));
    } else {
      plain_->async_read_some(buffers, std::forward<ReadHandler>(handler));
    }
  }

  template <class ConstBufferSequence, class WriteHandler>
  void async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
    if (tls_) {
      tls_->async_write_some(buffers, std::forward<WriteHandler>(handler));
    } else {
      plain_->async_write_some(buffers, std::forward<WriteHandler>(handler));
    }
  }

  // Timeouts of the TCP layer, which TLS reads and writes go through.
  template <class Duration>
  void expires_after(Duration duration) { tcp().expires_after(duration); }
  template <class TimePoint>
  void expires_at(TimePoint when) { tcp().expires_at(when); }
  void expires_never() { tcp().expires_never(); }
  void close() { tcp().close(); }

 private:
  std::shared_ptr<boost::asio::ssl::context> context_;  // declared first: outlives tls_
  std::optional<TcpStream> plain_;
  std::optional<Tls> tls_;
};

}  // namespace quiver::http::detail

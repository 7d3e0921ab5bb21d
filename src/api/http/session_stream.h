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

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace quiver::http::detail {

class SessionStream {
 public:
  using executor_type = boost::beast::tcp_stream::executor_type;
  using Tls = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  // With a context, the connection speaks TLS (after handshake()); without, plain TCP.
  // The context is kept alive as long as the connection: reloading the server's
  // certificate does not touch connections already open.
  SessionStream(boost::asio::ip::tcp::socket socket, std::shared_ptr<boost::asio::ssl::context> context)
      : context_(std::move(context)) {
    if (context_) {
      tls_.emplace(std::move(socket), *context_);
    } else {
      plain_.emplace(std::move(socket));
    }
  }

  bool is_tls() const { return tls_.has_value(); }
  boost::beast::tcp_stream& tcp() { return tls_ ? tls_->next_layer() : *plain_; }
  boost::asio::ip::tcp::socket& socket() { return tcp().socket(); }
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
  std::optional<boost::beast::tcp_stream> plain_;
  std::optional<Tls> tls_;
};

}  // namespace quiver::http::detail

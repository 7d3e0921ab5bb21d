// The Session's TLS start: plain HTTP detection, the handshake and the client's
// certificate identity. Part of http_session.cc's class.
#include <string>

#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "api/http/http_session.h"
#include "api/common/tls_context.h"

namespace quiver::http::detail {
namespace net = boost::asio;
namespace beast = boost::beast;

void Session::start_tls() {
  phase_ = Phase::kHandshake;
  stream_.expires_at(header_deadline_);  // the handshake counts toward the first header
  stream_.tcp().async_read_some(buffer_.prepare(kReadSize),
                                [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                  self->on_tls_first_bytes(ec, n);
                                });
}

void Session::on_tls_first_bytes(beast::error_code ec, std::size_t bytes) {
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    close();
    return;
  }
  buffer_.commit(bytes);
  // Every TLS connection opens with a handshake record (content type 22).
  if (static_cast<const unsigned char*>(buffer_.data().data())[0] != 0x16) {
    refuse_plain_http();
    return;
  }
  stream_.tls().async_handshake(net::ssl::stream_base::server, buffer_.data(),
                                [self = shared_from_this()](beast::error_code handshake_ec, std::size_t used) {
                                  self->on_handshake(handshake_ec, used);
                                });
}

void Session::on_handshake(beast::error_code ec, std::size_t bytes_used) {
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    // Scanners, old protocol versions, clients without a required certificate: common
    // and harmless, so not worth more than a debug line.
    spdlog::debug("TLS handshake with {} failed: {}", remote_, ec.message());
    close();
    return;
  }
  buffer_.consume(bytes_used);
  tls_identity_ = api::peer_identity(stream_.tls().native_handle());
  read_header();
}

// Plain HTTP on the TLS port: a readable answer instead of a reset or binary alert.
void Session::refuse_plain_http() {
  static const std::string kAnswer = [] {
    const std::string body = "{\"error\": \"this port speaks HTTPS; plain HTTP was sent to it\"}";
    return "HTTP/1.1 400 Bad Request\r\nServer: quiver\r\nContent-Type: application/json\r\nConnection: close\r\n"
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  phase_ = Phase::kWriting;
  unread_input_ = true;
  stream_.expires_after(context_->options.idle_timeout);
  net::async_write(stream_.tcp(), net::buffer(kAnswer), [self = shared_from_this()](beast::error_code ec, std::size_t) {
    if (ec || self->phase_ == Phase::kClosed) {
      self->close();
      return;
    }
    self->linger_then_close();
  });
}

}  // namespace quiver::http::detail

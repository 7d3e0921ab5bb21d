// The Session's limits on the request header and body framing, and the deadlines
// answered with 408 (see HttpServerOptions). Part of http_session.cc's class.
#include <cctype>
#include <string>
#include <string_view>

#include "api/http/http_session.h"

namespace quiver::http::detail {
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {

// RFC 9112 6.1: a request whose Transfer-Encoding does not end in chunked cannot be
// framed; anything but plain "chunked" is refused here (Beast would read such a body
// as empty and take it for the next request).
bool is_plain_chunked(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  std::string lowered(value);
  for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lowered == "chunked";
}

}  // namespace

HttpResponse error_with_status(int status, const std::string& message) {
  return HttpResponse::json(status, "{\"error\": \"" + json_escape(message) + "\"}");
}

std::optional<HttpResponse> Session::check_header_limits() const {
  const HttpServerOptions& options = context_->options;
  const auto& header = header_parser_->get();
  if (header.target().size() > options.max_url_bytes) {
    return error_with_status(414, "the request target has " + std::to_string(header.target().size()) +
                                      " bytes, more than the limit of " + std::to_string(options.max_url_bytes));
  }
  size_t fields = 0;
  for (auto it = header.begin(); it != header.end(); ++it) ++fields;
  if (fields > options.max_header_fields) {
    return error_with_status(431, "the request has " + std::to_string(fields) + " header fields, more than the limit of " +
                                      std::to_string(options.max_header_fields));
  }
  if (header.count(bhttp::field::transfer_encoding) > 0) {
    std::string value;
    const auto [first, last] = header.equal_range(bhttp::field::transfer_encoding);
    for (auto it = first; it != last; ++it) {
      if (!value.empty()) value += ", ";
      value += it->value();
    }
    if (!is_plain_chunked(value)) {
      return error_with_status(400, "Transfer-Encoding '" + value + "' is not supported; only 'chunked' is");
    }
  }
  return std::nullopt;
}

// Beast's own stream timeout closes the socket, which leaves no way to answer; the
// header and body deadlines use this timer instead: it cancels the pending read, and
// the read's handler sees read_timed_out_ and answers 408.
void Session::arm_read_timer(std::chrono::steady_clock::time_point deadline) {
  read_timed_out_ = false;
  const uint64_t generation = ++read_timer_generation_;
  read_timer_.expires_at(deadline);
  read_timer_.async_wait([self = shared_from_this(), generation](beast::error_code ec) {
    // A stale expiry (its read already completed) must not touch a later operation.
    if (ec || generation != self->read_timer_generation_ || self->phase_ == Phase::kClosed) return;
    self->read_timed_out_ = true;
    beast::error_code ignored;
    self->stream_.socket().cancel(ignored);
  });
}

void Session::disarm_read_timer() {
  ++read_timer_generation_;
  read_timer_.cancel();
}

}  // namespace quiver::http::detail

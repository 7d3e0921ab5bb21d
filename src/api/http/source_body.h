// A Boost.Beast Body type that writes a response body from a BodySource
// (http_types.h), so a streamed answer (a backup archive) goes out in 64 KiB pieces
// instead of being built in memory. Internal to the HTTP server (http_session.cc).
//
// Thread-safety: a writer is used by one connection, on its strand.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional.hpp>
#include <boost/system/error_code.hpp>

#include "api/http/http_types.h"

namespace quiver::http::detail {

struct SourceBody {
  using value_type = std::shared_ptr<BodySource>;

  static std::uint64_t size(const value_type& source) { return source ? source->size() : 0; }

  class writer {
   public:
    using const_buffers_type = boost::asio::const_buffer;

    template <bool isRequest, class Fields>
    writer(const boost::beast::http::header<isRequest, Fields>&, const value_type& source)
        : source_(source), remaining_(size(source)), buffer_(64 << 10) {}

    void init(boost::beast::error_code& ec) { ec = {}; }

    boost::optional<std::pair<const_buffers_type, bool>> get(boost::beast::error_code& ec) {
      ec = {};
      if (remaining_ == 0) return boost::none;
      const size_t want = static_cast<size_t>(std::min<std::uint64_t>(buffer_.size(), remaining_));
      Result<size_t> got = source_->read(std::span<std::byte>(buffer_.data(), want));
      if (!got.is_ok() || *got == 0 || *got > want) {
        // The header promised more bytes: end the connection rather than send a
        // body that is short or different.
        ec = boost::system::errc::make_error_code(boost::system::errc::io_error);
        return boost::none;
      }
      remaining_ -= *got;
      return std::make_pair(const_buffers_type(buffer_.data(), *got), remaining_ > 0);
    }

   private:
    value_type source_;
    std::uint64_t remaining_;
    std::vector<std::byte> buffer_;
  };
};

}  // namespace quiver::http::detail

// A Beast body type that hands each piece of a request body to an UploadSink as the
// parser produces it, so an upload of gigabytes never sits in memory. Internal to
// the HTTP server.
//
// Thread-safety: used only from the owning connection's strand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional.hpp>

#include "api/http/http_types.h"
#include "core/status.h"

namespace quiver::http::detail {

struct UploadBody {
  struct value_type {
    UploadSink* sink = nullptr;  // not owned; the connection owns the sink
    uint64_t received = 0;       // bytes accepted by the sink so far
    Status failure;              // why the sink refused a chunk (then the read fails)
  };

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>& /*header*/, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& /*content_length*/, boost::beast::error_code& ec) {
      ec = {};
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::beast::error_code& ec) {
      std::size_t consumed = 0;
      for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers);
           ++it) {
        const boost::asio::const_buffer piece = *it;
        if (piece.size() == 0) continue;
        Status st = deliver(piece);
        if (!st.is_ok()) {
          body_.failure = std::move(st);
          // Any error stops the parser; the connection reads `failure` for the reason.
          ec = boost::beast::errc::make_error_code(boost::beast::errc::operation_canceled);
          return consumed;
        }
        consumed += piece.size();
        body_.received += piece.size();
      }
      ec = {};
      return consumed;
    }

    void finish(boost::beast::error_code& ec) { ec = {}; }

   private:
    Status deliver(const boost::asio::const_buffer& piece) {
      if (body_.sink == nullptr) return internal_error("internal error: upload has no sink");
      try {
        return body_.sink->append({static_cast<const std::byte*>(piece.data()), piece.size()});
      } catch (const std::exception& e) {
        return internal_error(std::string("internal error: ") + e.what());
      } catch (...) {
        return internal_error("internal error: unknown exception while storing the upload");
      }
    }

    value_type& body_;
  };
};

}  // namespace quiver::http::detail

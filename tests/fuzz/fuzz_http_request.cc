// The HTTP request path from raw bytes to the router, as one connection
// (detail::Session in api/http/http_session.cc) runs it, over an in-memory stream
// (Beast's test::stream) instead of a socket:
//   read_header with the server's header limit -> the request line and fields into an
//   HttpRequest (lower-cased names, repeated fields joined, target checked,
//   percent-decoded path, query parsed) -> RouteTable::match on the still-encoded path
//   (the real route table, read from the handler sources at build time) -> the body:
//   refused over max_body_bytes by Content-Length, else read piece by piece with the
//   body limit (chunked included), or streamed into an UploadSink for upload routes
//   -> for inference routes the OIP parser with Inference-Header-Content-Length, for
//   deployments the spec parser, and the name validators on {model}/{alias}.
// Keep-alive: several requests may follow one another in the same bytes, as
// pipelining clients send them. The first byte sets how many bytes each read
// returns (1..256), so requests are also cut at every possible place.
//
// The Session itself is tied to a TCP socket, a strand and timers; this target
// repeats its parsing steps with the same Beast calls and limits (HttpServerOptions'
// defaults) so it builds without the server.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "api/http/http_server.h"
#include "api/http/http_types.h"
#include "api/http/oip_codec.h"
#include "api/http/route_table.h"
#include "api/http/upload_body.h"
#include "fuzz_check.h"
#include "registry/deployment_spec_json.h"
#include "registry/registry.h"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using namespace quiver;
using namespace quiver::http;

namespace {

struct RouteEntry {
  const char* method;
  const char* pattern;
  const char* kind;  // "_upload" for route_upload routes
};
constexpr RouteEntry kRoutes[] = {
#include "fuzz_routes.inc"
};

enum class Purpose { kOther, kInfer, kDeployment };

struct Table {
  RouteTable routes;
};

Purpose purpose_of(std::string_view method, std::string_view pattern) {
  if (method == "POST" && pattern.ends_with("/infer")) return Purpose::kInfer;
  if (method == "PUT" && pattern == "/v1/deployments/{model}") return Purpose::kDeployment;
  return Purpose::kOther;
}

// Set by the matched route's handler, so a match tells which parser to run.
Purpose g_purpose = Purpose::kOther;

const Table& table() {
  static const Table* t = [] {
    auto* table = new Table;
    for (const RouteEntry& r : kRoutes) {
      RouteTarget target;
      const Purpose p = purpose_of(r.method, r.pattern);
      if (std::string_view(r.kind) == "_upload") {
        target.upload = [](const std::shared_ptr<HttpRequest>&) -> Result<std::unique_ptr<UploadSink>> {
          return internal_error("not called");
        };
      } else {
        target.handler = [p](const std::shared_ptr<HttpRequest>&, Responder) { g_purpose = p; };
      }
      FUZZ_CHECK(table->routes.add(r.method, r.pattern, std::move(target)).is_ok(), "route %s %s refused", r.method,
                 r.pattern);
    }
    FUZZ_CHECK(std::size(kRoutes) > 20, "the route table read from the sources is suspiciously small");
    return table;
  }();
  return *t;
}

class CountingSink : public UploadSink {
 public:
  Status append(std::span<const std::byte> chunk) override {
    received += chunk.size();
    return Status::ok();
  }
  void finish(Responder) override {}
  uint64_t received = 0;
};

bool is_malformed(beast::error_code ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
         ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

// The same steps as Session::build_request.
Status build_request(const bhttp::request_parser<bhttp::empty_body>::value_type& header, HttpRequest& request,
                     std::string& raw_path) {
  request.method = std::string(header.method_string());
  request.body = std::make_shared<const std::string>();
  for (const auto& field : header) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto [it, inserted] = request.headers.emplace(std::move(name), std::string(field.value()));
    if (!inserted) {
      it->second += ", ";
      it->second += field.value();
    }
  }
  const std::string_view target = header.target();
  if (target.empty() || target.front() != '/') return invalid_argument("not an absolute path");
  const size_t question = target.find('?');
  raw_path = std::string(target.substr(0, question));
  QUIVER_ASSIGN_OR_RETURN(request.path, percent_decode(raw_path, false));
  if (question != std::string_view::npos) {
    QUIVER_ASSIGN_OR_RETURN(request.query, parse_query(target.substr(question + 1)));
  }
  return Status::ok();
}

// What the handlers do first with the body (inference_handlers.cc, deployment_handlers.cc).
void handle(Purpose purpose, const HttpRequest& request) {
  for (const char* key : {"model", "alias"}) {
    auto it = request.path_params.find(key);
    if (it != request.path_params.end()) {
      (void)registry::validate_model_name(it->second);
      (void)registry::validate_alias_name(it->second);
    }
  }
  if (purpose == Purpose::kInfer) {
    const std::string v = request.header("inference-header-content-length");
    std::optional<size_t> json_length;
    if (!v.empty()) {
      size_t n = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || end != v.data() + v.size()) return;
      json_length = n;
    }
    auto parsed = parse_infer_request(request.body, json_length);
    if (parsed.is_ok())
      for (const Tensor& t : parsed->inputs) FUZZ_CHECK(t.validate().is_ok(), "input does not validate");
  } else if (purpose == Purpose::kDeployment) {
    (void)registry::parse_deployment_spec(*request.body);
  }
}

// One request on the connection; false when the connection closes after it.
bool serve_one(beast::test::stream& stream, beast::flat_buffer& buffer, const HttpServerOptions& options) {
  bhttp::request_parser<bhttp::empty_body> header_parser;
  header_parser.header_limit(options.max_header_bytes);
  header_parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  beast::error_code ec;
  bhttp::read_header(stream, buffer, header_parser, ec);
  if (ec) {
    (void)is_malformed(ec);  // 431 / 400 / close: the connection ends either way
    return false;
  }
  FUZZ_CHECK(header_parser.is_header_done(), "read_header returned before the header was complete");

  auto request = std::make_shared<HttpRequest>();
  std::string raw_path;
  if (!build_request(header_parser.get(), *request, raw_path).is_ok()) return header_parser.is_done();
  const bool keep_alive = header_parser.get().keep_alive();

  Result<RouteMatch> matched = table().routes.match(request->method, raw_path);
  if (!matched.is_ok() || matched->kind != RouteMatch::Kind::kFound)
    return header_parser.is_done() && keep_alive;  // answered without reading a body
  request->path_params = std::move(matched->path_params);
  const RouteTarget* target = matched->target;
  FUZZ_CHECK(target != nullptr && (static_cast<bool>(target->handler) != static_cast<bool>(target->upload)),
             "a route match without exactly one target");

  if (target->upload) {
    const uint64_t limit = options.max_upload_bytes;
    if (auto length = header_parser.content_length(); length && *length > limit) return false;
    if (header_parser.is_done()) return keep_alive;
    CountingSink sink;
    bhttp::request_parser<detail::UploadBody> upload_parser(std::move(header_parser));
    upload_parser.body_limit(limit);
    upload_parser.get().body().sink = &sink;
    while (!upload_parser.is_done()) {
      bhttp::read_some(stream, buffer, upload_parser, ec);
      if (ec) return false;
    }
    FUZZ_CHECK(sink.received == upload_parser.get().body().received, "the sink missed upload bytes");
    FUZZ_CHECK(sink.received <= limit, "an upload over the limit was accepted");
    return keep_alive;
  }

  const uint64_t limit = options.max_body_bytes;
  if (auto length = header_parser.content_length(); length && *length > limit) return false;
  if (!header_parser.is_done()) {
    bhttp::request_parser<bhttp::string_body> body_parser(std::move(header_parser));
    body_parser.body_limit(limit);
    while (!body_parser.is_done()) {
      bhttp::read_some(stream, buffer, body_parser, ec);
      if (ec) return false;
    }
    FUZZ_CHECK(body_parser.get().body().size() <= limit, "a body over the limit was accepted");
    request->body = std::make_shared<const std::string>(std::move(body_parser.get().body()));
  }
  g_purpose = Purpose::kOther;
  target->handler(request, [](HttpResponse) {});
  handle(g_purpose, *request);
  return keep_alive;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const HttpServerOptions options;  // the server's default limits
  net::io_context ioc;
  beast::test::stream stream(ioc);
  stream.read_size(static_cast<size_t>(data[0]) + 1);
  stream.append(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  stream.close_remote();  // the client has sent everything: reads past it see EOF
  beast::flat_buffer buffer;
  for (int i = 0; i < 16 && serve_one(stream, buffer, options); ++i) {
  }
  return 0;
}

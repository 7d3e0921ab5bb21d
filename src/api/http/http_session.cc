#include "api/http/http_session.h"

#include <atomic>
#include <cctype>
#include <exception>
#include <limits>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "api/common/tls_context.h"
#include "api/http/access_log.h"

namespace quiver::http::detail {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

// After an error response on a connection we close, how long and how much we keep
// reading (and discarding) so the client sees the response, not a reset.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr uint64_t kLingerMaxBytes = 8ull << 20;

// Shared by all copies of one Responder: sends the response once, or a 500 when
// the last copy goes away without having been called.
class ResponderState {
 public:
  ResponderState(std::shared_ptr<net::io_context> io_context, std::shared_ptr<Session> session)
      : io_context_(std::move(io_context)), session_(std::move(session)) {}

  ~ResponderState() {
    if (responded_.exchange(true)) return;
    try {
      session_->post_response(HttpResponse::error(internal_error("internal error: handler did not respond")));
    } catch (...) {
      // Out of memory while posting: nothing sensible left to do in a destructor.
    }
  }

  void respond(HttpResponse response) {
    if (responded_.exchange(true)) return;  // documented: only the first call counts
    session_->post_response(std::move(response));
  }

 private:
  // Declared first so it is released last: a handler may hold the Responder past
  // the server's lifetime, and the session's socket must go before its io_context.
  std::shared_ptr<net::io_context> io_context_;
  std::shared_ptr<Session> session_;
  std::atomic<bool> responded_{false};
};

std::string endpoint_text(const tcp::endpoint& endpoint) {
  const net::ip::address address = endpoint.address();
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

// Parse errors mean the client sent something that is not HTTP; end_of_stream and
// partial_message only mean it went away.
bool is_malformed_request(beast::error_code ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
         ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Headers the server owns; a handler setting them would corrupt the framing.
bool is_managed_header(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") || iequals(name, "connection");
}

bool is_safe_header_text(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

HttpResponse body_too_large(uint64_t limit, std::optional<uint64_t> size) {
  const std::string what = size ? "request body of " + std::to_string(*size) + " bytes"
                                : std::string("chunked request body");
  return HttpResponse::error(
      payload_too_large(what + " exceeds the limit of " + std::to_string(limit) + " bytes"));
}

bhttp::response<bhttp::string_body> to_message(HttpResponse response, bool keep_alive, bool is_head) {
  if (response.status < 200 || response.status > 599) {
    response = HttpResponse::error(
        internal_error("internal error: handler returned HTTP status " + std::to_string(response.status)));
  }
  if (response.content_type.empty() || !is_safe_header_text(response.content_type)) {
    response.content_type = "application/octet-stream";
  }
  bhttp::response<bhttp::string_body> message;
  message.version(11);
  message.result(static_cast<unsigned>(response.status));
  message.set(bhttp::field::server, "quiver");
  message.set(bhttp::field::content_type, response.content_type);
  for (const auto& [name, value] : response.headers) {
    if (name.empty() || is_managed_header(name) || !is_safe_header_text(name) || !is_safe_header_text(value) ||
        name.find_first_of(" :\t") != std::string::npos) {
      continue;
    }
    message.insert(name, value);
  }
  message.keep_alive(keep_alive);
  if (response.status == 204 || response.status == 304) return message;  // no body by definition
  if (is_head) {
    message.content_length(response.head_content_length.value_or(response.body.size()));  // what a GET would return
  } else {
    message.body() = std::move(response.body);
    message.prepare_payload();
  }
  return message;
}

}  // namespace

Session::Session(ConnectionSocket socket, std::shared_ptr<ServerContext> context,
                 std::weak_ptr<net::io_context> io_context, uint64_t id)
    : stream_(std::move(socket), context->options.tls ? context->options.tls->current() : nullptr),
      // Bounded: a header or a chunk-size line that never ends cannot grow it without limit.
      buffer_(static_cast<std::size_t>(context->options.max_header_bytes) + 2 * kReadSize),
      read_timer_(stream_.get_executor()),
      context_(std::move(context)),
      io_context_(std::move(io_context)),
      id_(id) {
  beast::error_code ec;
  const tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
  if (!ec) remote_ = endpoint_text(peer);
  // Responses are written whole; waiting to coalesce them only adds latency.
  stream_.socket().set_option(tcp::no_delay(true), ec);
  // The first request's header must arrive within header_timeout of the connection.
  header_deadline_ = std::chrono::steady_clock::now() + context_->options.header_timeout;
}

Session::~Session() { unregister(); }

void Session::unregister() {
  std::lock_guard lock(context_->mu);
  context_->sessions.erase(id_);
  if (context_->sessions.empty()) context_->all_closed.notify_all();
}

void Session::start() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (self->stream_.is_tls()) {
      self->start_tls();
    } else {
      self->read_header();
    }
  });
}

void Session::begin_shutdown() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    self->shutting_down_ = true;
    const Phase phase = self->phase_;
    if (phase == Phase::kHandshake || phase == Phase::kReadingHeader || phase == Phase::kReadingBody ||
        phase == Phase::kLingering) {
      self->close();
    }
    // kHandling / kWriting: on_write sees shutting_down_ and closes after the response.
  });
}

void Session::post_response(HttpResponse response) {
  net::post(stream_.get_executor(), [self = shared_from_this(), response = std::move(response)]() mutable {
    self->write_response(std::move(response));
  });
}

void Session::close_after_stop() {
  beast::error_code ec;
  stream_.socket().close(ec);
}

// ---- reading the request ----------------------------------------------------

void Session::read_header() {
  if (shutting_down_) {
    close();
    return;
  }
  phase_ = Phase::kReadingHeader;
  is_head_ = false;
  keep_alive_ = true;
  unread_input_ = false;
  request_.reset();
  target_ = nullptr;
  body_parser_.reset();
  upload_parser_.reset();
  sink_.reset();
  on_response_ = nullptr;
  header_parser_.emplace();
  header_parser_->header_limit(context_->options.max_header_bytes);
  // The route sets the real limit once it is known. (Not boost::none: Beast 1.74
  // compares a Content-Length against an empty limit as if it were exceeded.)
  header_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  small_chunks_ = 0;
  chunk_flood_ = false;
  content_coding_ = ContentCoding::kIdentity;
  if (buffer_.size() > 0) {  // a pipelined request has begun already
    if (!first_request_) header_deadline_ = std::chrono::steady_clock::now() + context_->options.header_timeout;
    read_header_rest();
    return;
  }
  // Waiting for the next request on a kept-alive connection is idleness, not a slow
  // header: it has its own, longer timeout, and ends silently.
  if (first_request_) {
    stream_.expires_at(header_deadline_);
  } else {
    stream_.expires_after(context_->options.idle_timeout);
  }
  stream_.async_read_some(buffer_.prepare(kReadSize), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
    self->on_first_bytes(ec, n);
  });
}

void Session::on_first_bytes(beast::error_code ec, std::size_t bytes) {
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    close();  // idle too long, or the client went away between requests
    return;
  }
  buffer_.commit(bytes);
  if (!first_request_) header_deadline_ = std::chrono::steady_clock::now() + context_->options.header_timeout;
  read_header_rest();
}

void Session::read_header_rest() {
  stream_.expires_never();
  arm_read_timer(header_deadline_);
  bhttp::async_read_header(stream_, buffer_, *header_parser_,
                           [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
}

void Session::on_header(beast::error_code ec) {
  if (phase_ == Phase::kClosed) return;
  disarm_read_timer();
  if (ec) {
    on_header_error(ec);
    return;
  }
  first_request_ = false;
  if (std::optional<HttpResponse> refused = check_header_limits()) {
    keep_alive_ = false;
    unread_input_ = true;
    write_response(std::move(*refused));
    return;
  }
  Status built = build_request();
  if (!built.is_ok()) {
    // What follows a header we could not make sense of cannot be trusted either.
    keep_alive_ = false;
    unread_input_ = true;
    write_response(HttpResponse::error(built));
    return;
  }
  // Trace context and the access log, for every request that parsed (access_log.h).
  const auto length = header_parser_->content_length();
  on_response_ = observe_request(context_->options.access_log, request_,
                                 length ? std::optional<uint64_t>(*length) : std::nullopt);
  route_request();
}

void Session::on_header_error(beast::error_code ec) {
  keep_alive_ = false;
  unread_input_ = true;
  const HttpServerOptions& options = context_->options;
  if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
    // The request line alone over the URL limit is a long URL (414), not many headers.
    // Beast consumes a complete request line, so the buffer starts with it ("GET /...")
    // only when it did not end.
    const std::string_view received(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    const size_t method_end = received.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    const bool in_request_line = method_end != std::string_view::npos && method_end > 0 && received[method_end] == ' ';
    const size_t line_end = received.find("\r\n");
    const size_t line = line_end == std::string_view::npos ? received.size() : line_end;
    if (in_request_line && line > static_cast<size_t>(options.max_url_bytes) + 32) {
      write_response(error_with_status(414, "the request line exceeds the URL limit of " +
                                                std::to_string(options.max_url_bytes) + " bytes"));
      return;
    }
    write_response(error_with_status(
        431, "request header exceeds the limit of " + std::to_string(options.max_header_bytes) + " bytes"));
  } else if (read_timed_out_) {
    write_response(error_with_status(408, "the request header did not arrive within " +
                                              std::to_string(options.header_timeout.count()) + " ms"));
  } else if (is_malformed_request(ec)) {
    write_response(HttpResponse::error(invalid_argument("malformed HTTP request: " + ec.message())));
  } else {
    close();  // the client went away or was idle too long
  }
}

Status Session::build_request() {
  const auto& header = header_parser_->get();
  request_ = std::make_shared<HttpRequest>();
  request_->method = std::string(header.method_string());
  request_->remote = remote_;
  request_->tls_client_identity = tls_identity_;
  static const auto kEmptyBody = std::make_shared<const std::string>();
  request_->body = kEmptyBody;
  for (const auto& field : header) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto [it, inserted] = request_->headers.emplace(std::move(name), std::string(field.value()));
    if (!inserted) {  // repeated field: combine as a comma-separated list (RFC 9110 5.3)
      it->second += ", ";
      it->second += field.value();
    }
  }
  keep_alive_ = header.keep_alive();
  is_head_ = header.method() == bhttp::verb::head;

  const std::string_view target = header.target();
  if (target.empty() || target.front() != '/') {
    return invalid_argument("request target '" + std::string(target) + "' is not an absolute path");
  }
  const size_t question = target.find('?');
  raw_path_ = std::string(target.substr(0, question));
  QUIVER_ASSIGN_OR_RETURN(request_->path, percent_decode(raw_path_, false));
  if (question != std::string_view::npos) {
    QUIVER_ASSIGN_OR_RETURN(request_->query, parse_query(target.substr(question + 1)));
  }
  return Status::ok();
}

void Session::route_request() {
  Result<RouteMatch> matched = context_->routes.match(request_->method, raw_path_);
  if (!matched.is_ok()) {
    respond_directly(HttpResponse::error(matched.status()));
    return;
  }
  RouteMatch& match = matched.value();
  switch (match.kind) {
    case RouteMatch::Kind::kNoPath:
      respond_directly(HttpResponse::error(not_found("no route for " + request_->method + " " + request_->path)));
      return;
    case RouteMatch::Kind::kWrongMethod: {
      HttpResponse response = HttpResponse::json(
          405, "{\"error\": \"" +
                   json_escape("method " + request_->method + " is not allowed for " + request_->path +
                               "; allowed: " + match.allowed_methods) +
                   "\"}");
      response.headers.emplace_back("Allow", match.allowed_methods);
      respond_directly(std::move(response));
      return;
    }
    case RouteMatch::Kind::kFound:
      break;
  }
  request_->path_params = std::move(match.path_params);
  target_ = match.target;
  if (context_->guard) {  // access control and audit, before any body is read (api/http/authz.h)
    GuardVerdict verdict = context_->guard(*request_, match.pattern);
    on_response_ = chain_hooks(std::move(verdict.on_response), std::move(on_response_));
    if (verdict.refusal) {
      respond_directly(std::move(*verdict.refusal));
      return;
    }
  }
  // Bodies may be compressed (the Open Inference Protocol allows gzip and deflate);
  // uploads are stored as sent, so they must come as they are.
  Result<ContentCoding> coding = parse_content_coding(request_->header("content-encoding"));
  if (coding.is_ok() && *coding != ContentCoding::kIdentity && target_->upload) {
    coding = invalid_argument("Content-Encoding '" + request_->header("content-encoding") +
                              "' is not supported for uploads; send the bytes as they are");
  }
  if (!coding.is_ok()) {
    respond_directly(error_with_status(415, coding.status().message()));
    return;
  }
  content_coding_ = *coding;
  if (target_->upload) {
    start_upload(target_->upload);
    return;
  }
  const uint64_t limit = context_->options.max_body_bytes;
  if (const auto length = header_parser_->content_length(); length && *length > limit) {
    respond_directly(body_too_large(limit, *length));
    return;
  }
  if (header_parser_->is_done()) {
    run_handler();
    return;
  }
  send_continue_then(&Session::read_buffered_body);
}

void Session::send_continue_then(void (Session::*next)()) {
  phase_ = Phase::kReadingBody;
  const auto& header = header_parser_->get();
  if (header.version() < 11 || !iequals(header[bhttp::field::expect], "100-continue")) {
    (this->*next)();
    return;
  }
  continue_response_ = bhttp::response<bhttp::empty_body>(bhttp::status::continue_, 11);
  stream_.expires_after(context_->options.idle_timeout);
  bhttp::async_write(stream_, continue_response_,
                     [self = shared_from_this(), next](beast::error_code ec, std::size_t) {
                       if (ec || self->phase_ == Phase::kClosed) {
                         self->close();
                         return;
                       }
                       ((*self).*next)();
                     });
}

void Session::read_buffered_body() {
  body_parser_.emplace(std::move(*header_parser_));
  header_parser_.reset();
  body_parser_->body_limit(context_->options.max_body_bytes);
  body_parser_->on_chunk_header(on_chunk_);
  continue_buffered_body();
}

void Session::count_chunk(std::uint64_t size, beast::error_code& ec) {
  if (size == 0 || size >= kSmallChunkBytes) return;  // 0: the last chunk
  if (++small_chunks_ > context_->options.max_small_chunks) {
    chunk_flood_ = true;
    ec = bhttp::error::bad_chunk;
  }
}

// Reads piece by piece (rather than one async_read) so that the timeout measures a
// stall, not the duration of the whole body.
void Session::continue_buffered_body() {
  stream_.expires_never();
  arm_read_timer(std::chrono::steady_clock::now() + context_->options.body_timeout);
  bhttp::async_read_some(stream_, buffer_, *body_parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                           self->on_buffered_body(ec);
                         });
}

void Session::on_buffered_body(beast::error_code ec) {
  if (phase_ == Phase::kClosed) return;
  disarm_read_timer();
  if (ec) {
    on_body_error(ec, context_->options.max_body_bytes);
    return;
  }
  if (!body_parser_->is_done()) {
    continue_buffered_body();
    return;
  }
  std::string body = std::move(body_parser_->get().body());
  if (content_coding_ != ContentCoding::kIdentity) {
    Result<std::string> decoded = decode_body(content_coding_, body, context_->options.max_body_bytes);
    if (!decoded.is_ok()) {
      write_response(HttpResponse::error(decoded.status()));
      return;
    }
    body = std::move(decoded).value();
  }
  // One depth limit for every JSON body, whichever parser its handler uses. With the
  // binary tensor extension only the JSON part before the tensor bytes is looked at.
  std::string_view json = body;
  if (size_t json_length = 0; parse_json_length(request_->header("inference-header-content-length"), json_length)) {
    json = json.substr(0, json_length);
  }
  if (json_nesting_exceeds(json, context_->options.max_json_depth)) {
    write_response(HttpResponse::error(invalid_argument(
        "the JSON body nests deeper than the limit of " + std::to_string(context_->options.max_json_depth) + " levels")));
    return;
  }
  request_->body = std::make_shared<const std::string>(std::move(body));
  run_handler();
}

void Session::start_upload(const UploadHandler& upload) {
  const uint64_t limit = context_->options.max_upload_bytes;
  if (const auto length = header_parser_->content_length(); length && *length > limit) {
    respond_directly(body_too_large(limit, *length));
    return;
  }
  Result<std::unique_ptr<UploadSink>> created = internal_error("internal error: upload handler did not run");
  try {
    created = upload(request_);
  } catch (const std::exception& e) {
    created = internal_error(std::string("internal error: ") + e.what());
  } catch (...) {
    created = internal_error("internal error: unknown exception from the upload handler");
  }
  if (created.is_ok() && created.value() == nullptr) {
    created = internal_error("internal error: upload handler returned no sink");
  }
  if (!created.is_ok()) {
    respond_directly(HttpResponse::error(created.status()));
    return;
  }
  sink_ = std::move(created).value();
  if (header_parser_->is_done()) {  // empty body
    finish_upload();
    return;
  }
  send_continue_then(&Session::read_upload);
}

void Session::read_upload() {
  upload_parser_.emplace(std::move(*header_parser_));
  header_parser_.reset();
  upload_parser_->body_limit(context_->options.max_upload_bytes);
  upload_parser_->get().body().sink = sink_.get();
  upload_parser_->on_chunk_header(on_chunk_);
  continue_upload();
}

void Session::continue_upload() {
  stream_.expires_never();
  arm_read_timer(std::chrono::steady_clock::now() + context_->options.body_timeout);
  bhttp::async_read_some(stream_, buffer_, *upload_parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_upload(ec); });
}

void Session::on_upload(beast::error_code ec) {
  if (phase_ == Phase::kClosed) return;
  disarm_read_timer();
  if (ec) {
    Status refused = upload_parser_->get().body().failure;
    if (!refused.is_ok()) {
      abandon_upload();
      keep_alive_ = false;
      unread_input_ = true;
      write_response(HttpResponse::error(refused));
      return;
    }
    on_body_error(ec, context_->options.max_upload_bytes);
    return;
  }
  if (!upload_parser_->is_done()) {
    continue_upload();
    return;
  }
  finish_upload();
}

void Session::on_body_error(beast::error_code ec, uint64_t limit) {
  abandon_upload();
  keep_alive_ = false;
  unread_input_ = true;
  const HttpServerOptions& options = context_->options;
  if (ec == bhttp::error::body_limit) {
    // A Content-Length over the limit is refused before reading, so only a chunked
    // body whose size was not announced gets here.
    write_response(body_too_large(limit, std::nullopt));
  } else if (chunk_flood_) {
    write_response(HttpResponse::error(invalid_argument(
        "the chunked body has more than " + std::to_string(options.max_small_chunks) + " chunks under " +
        std::to_string(kSmallChunkBytes) + " bytes; send larger chunks")));
  } else if (ec == bhttp::error::buffer_overflow) {
    write_response(HttpResponse::error(
        invalid_argument("malformed HTTP request body: a chunk header line is longer than " +
                         std::to_string(buffer_.max_size()) + " bytes")));
  } else if (read_timed_out_) {
    write_response(error_with_status(408, "no byte of the request body arrived for " +
                                              std::to_string(options.body_timeout.count()) + " ms"));
  } else if (is_malformed_request(ec)) {
    write_response(HttpResponse::error(invalid_argument("malformed HTTP request body: " + ec.message())));
  } else {
    close();  // the client went away mid-body
  }
}

void Session::abandon_upload() {
  if (upload_parser_) upload_parser_->get().body().sink = nullptr;
  sink_.reset();
}

bool Session::request_fully_read() const {
  if (upload_parser_) return upload_parser_->is_done();
  if (body_parser_) return body_parser_->is_done();
  if (header_parser_) return header_parser_->is_done();
  return false;
}

// ---- handling -----------------------------------------------------------------

Responder Session::make_responder() {
  auto state = std::make_shared<ResponderState>(io_context_.lock(), shared_from_this());
  return [state](HttpResponse response) { state->respond(std::move(response)); };
}

namespace {

// A route's handler: an exception becomes a 500 for this request, not a dead server.
void invoke_handler(const RouteTarget& target, const std::shared_ptr<HttpRequest>& request, const Responder& respond) {
  try {
    target.handler(request, respond);
  } catch (const std::exception& e) {
    spdlog::error("HTTP handler for {} {} threw: {}", request->method, request->path, e.what());
    respond(HttpResponse::error(internal_error(std::string("internal error: ") + e.what())));
  } catch (...) {
    spdlog::error("HTTP handler for {} {} threw an unknown exception", request->method, request->path);
    respond(HttpResponse::error(internal_error("internal error: unknown exception from the handler")));
  }
}

void invoke_finish(UploadSink& sink, const Responder& respond) {
  try {
    sink.finish(respond);
  } catch (const std::exception& e) {
    respond(HttpResponse::error(internal_error(std::string("internal error: ") + e.what())));
  } catch (...) {
    respond(HttpResponse::error(internal_error("internal error: unknown exception while finishing the upload")));
  }
}

}  // namespace

void Session::run_handler() {
  phase_ = Phase::kHandling;
  stream_.expires_never();  // a slow model is not an idle client
  Responder respond = make_responder();
  if (target_->blocking && context_->blocking_pool) {
    // The context keeps the route table (and so *target_) alive; the request is not
    // touched by the session until the response comes back.
    net::post(*context_->blocking_pool,
              [context = context_, target = target_, request = request_, respond = std::move(respond)] {
                invoke_handler(*target, request, respond);
              });
    return;
  }
  invoke_handler(*target_, request_, respond);
}

void Session::finish_upload() {
  phase_ = Phase::kHandling;
  stream_.expires_never();
  Responder respond = make_responder();
  if (target_->blocking && context_->blocking_pool) {
    // The pool's copy keeps the sink alive if the session lets go of it meanwhile.
    net::post(*context_->blocking_pool,
              [sink = sink_, respond = std::move(respond)] { invoke_finish(*sink, respond); });
    return;
  }
  invoke_finish(*sink_, respond);
}

// ---- writing the response -------------------------------------------------------

void Session::respond_directly(HttpResponse response) {
  if (!request_fully_read()) {  // unread body bytes would be taken for the next request
    keep_alive_ = false;
    unread_input_ = true;
  }
  write_response(std::move(response));
}

void Session::write_response(HttpResponse response) {
  if (phase_ == Phase::kClosed || phase_ == Phase::kWriting || phase_ == Phase::kLingering) return;
  phase_ = Phase::kWriting;
  if (shutting_down_) keep_alive_ = false;
  if (on_response_) {
    const auto hook = std::move(on_response_);
    on_response_ = nullptr;
    try {
      hook(response);
    } catch (const std::exception& e) {
      spdlog::error("HTTP response hook failed: {}", e.what());
    }
  }
  std::shared_ptr<BodySource> source = std::move(response.stream);
  if (source) response.head_content_length = source->size();
  const bool streamed = source && !is_head_ && response.status >= 200 && response.status <= 599 &&
                        response.status != 204 && response.status != 304;
  try {
    response_.emplace(to_message(std::move(response), keep_alive_, is_head_));
    if (streamed) {
      streamed_response_.emplace(std::move(response_->base()), std::move(source));
      response_.reset();
      streamed_response_->content_length(SourceBody::size(streamed_response_->body()));
      streamed_serializer_.emplace(*streamed_response_);
    }
  } catch (const std::exception& e) {
    spdlog::error("HTTP response could not be built: {}", e.what());
    close();
    return;
  }
  if (streamed) {
    write_streamed_some();
    return;
  }
  stream_.expires_after(context_->options.idle_timeout);
  bhttp::async_write(stream_, *response_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
}

void Session::write_streamed_some() {
  stream_.expires_after(context_->options.idle_timeout);
  bhttp::async_write_some(stream_, *streamed_serializer_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (!ec && self->phase_ == Phase::kWriting && !self->streamed_serializer_->is_done()) {
                              self->write_streamed_some();
                              return;
                            }
                            self->on_write(ec);
                          });
}

void Session::on_write(beast::error_code ec) {
  response_.reset();
  streamed_serializer_.reset();
  streamed_response_.reset();
  sink_.reset();
  request_.reset();
  if (ec || phase_ == Phase::kClosed) {
    close();
    return;
  }
  if (!keep_alive_ || shutting_down_) {
    if (unread_input_) {
      linger_then_close();
    } else {
      close();
    }
    return;
  }
  read_header();
}

void Session::linger_then_close() {
  phase_ = Phase::kLingering;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    close();
    return;
  }
  lingered_bytes_ = 0;
  stream_.expires_after(kLingerTime);  // bounds the whole linger, not each read
  // Raw TCP reads, under TLS too: the bytes are dropped unread.
  stream_.tcp().async_read_some(net::buffer(linger_buffer_), [self = shared_from_this()](beast::error_code read_ec,
                                                                                    std::size_t bytes) {
    self->on_linger_read(read_ec, bytes);
  });
}

void Session::on_linger_read(beast::error_code ec, std::size_t bytes) {
  lingered_bytes_ += bytes;
  if (ec || phase_ != Phase::kLingering || lingered_bytes_ > kLingerMaxBytes) {
    close();
    return;
  }
  stream_.tcp().async_read_some(net::buffer(linger_buffer_), [self = shared_from_this()](beast::error_code read_ec,
                                                                                          std::size_t n) {
    self->on_linger_read(read_ec, n);
  });
}

void Session::close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  disarm_read_timer();
  abandon_upload();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
  // Counted as gone for stop() now, even if a Responder still holds this object.
  unregister();
}

}  // namespace quiver::http::detail

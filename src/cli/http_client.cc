#include "cli/http_client.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <limits>
#include <optional>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/err.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace quiver::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;

constexpr std::string_view kUserAgent = "quiver-cli/0.1";

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string seconds_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return fmt::format("{}s", d.count() / 1000);
  return fmt::format("{:.1f}s", static_cast<double>(d.count()) / 1000.0);
}

// Beast's timeouts (tcp_stream::expires_after) apply to asynchronous operations
// only, so each step is started asynchronously and the io_context is run until that
// one operation completes: a synchronous call with a deadline.
template <typename Start>
ErrorCode run_until_done(asio::io_context& ioc, Start&& start) {
  ErrorCode result = asio::error::would_block;
  start([&result](ErrorCode ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

// One request on one connection; holds the socket for the lifetime of the call.
class Exchange {
 public:
  Exchange(const ServerUrl& url, const HttpClientOptions& options, ssl::context* tls)
      : url_(url), options_(options), stream_(ioc_) {
    if (tls != nullptr) tls_.emplace(ioc_, *tls);
  }

  ~Exchange() {
    ErrorCode ignored;
    tcp_stream().socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  Status connect() {
    tcp::resolver resolver(ioc_);
    ErrorCode ec;
    auto endpoints = resolver.resolve(url_.host, url_.port, ec);
    if (ec) return unreachable(fmt::format("cannot resolve host '{}' ({})", url_.host, ec.message()));
    tcp_stream().expires_after(options_.connect_timeout);
    ec = run_until_done(ioc_, [&](auto handler) { tcp_stream().async_connect(endpoints, handler); });
    if (ec == beast::error::timeout) {
      return unreachable(fmt::format("no connection within {}", seconds_text(options_.connect_timeout)));
    }
    if (ec == asio::error::connection_refused) return unreachable("connection refused");
    if (ec) return unreachable(ec.message());
    if (tls_) return handshake();
    return Status::ok();
  }

  // TLS: the server name goes out in SNI and must match the certificate (a name in
  // subjectAltName, or an IP address for an IP literal), which must chain to a trusted CA.
  Status handshake() {
    SSL* native = tls_->native_handle();
    ErrorCode parse_ec;
    (void)asio::ip::make_address(url_.host, parse_ec);
    const bool is_ip = !parse_ec;  // SNI carries host names only
    if (!is_ip && SSL_set_tlsext_host_name(native, url_.host.c_str()) != 1)
      return unreachable("cannot set the TLS server name");
    tls_->set_verify_mode(ssl::verify_peer);
    tls_->set_verify_callback(ssl::host_name_verification(url_.host));
    tcp_stream().expires_after(options_.connect_timeout);
    ErrorCode ec = run_until_done(ioc_, [&](auto handler) { tls_->async_handshake(ssl::stream_base::client, handler); });
    if (!ec) return Status::ok();
    if (ec == beast::error::timeout)
      return unreachable(fmt::format("no TLS handshake within {}", seconds_text(options_.connect_timeout)));
    const long verify = SSL_get_verify_result(native);
    if (verify != X509_V_OK)
      return unreachable(fmt::format("the server's certificate is not trusted: {}{}",
                                     X509_verify_cert_error_string(verify),
                                     options_.tls.ca_file.empty() ? " (give its CA with --cacert or QUIVER_CACERT)" : ""));
    return unreachable(fmt::format("TLS handshake failed: {}", ec.message()));
  }

  // Every read and write goes through here: the TLS stream when there is one.
  template <typename F>
  auto with_stream(F&& f) {
    if (tls_) return f(*tls_);
    return f(stream_);
  }
  beast::tcp_stream& tcp_stream() { return tls_ ? beast::get_lowest_layer(*tls_) : stream_; }

  template <typename Body>
  void fill_headers(http::request<Body>& req, const HttpRequest& request) const {
    req.method_string(request.method);
    req.target(url_.prefix + request.target);
    req.version(11);
    req.set(http::field::host, host_header());
    req.set(http::field::user_agent, kUserAgent);
    for (const auto& [name, value] : request.headers) req.set(name, value);
  }

  Result<HttpResponse> send_buffered(const HttpRequest& request) {
    http::request<http::string_body> req;
    fill_headers(req, request);
    req.body() = request.body;
    req.prepare_payload();
    tcp_stream().expires_after(options_.request_timeout);
    ErrorCode ec = run_until_done(ioc_, [&](auto handler) { with_stream([&](auto& s) { http::async_write(s, req, handler); }); });
    if (ec) return after_write_failure(ec);
    return read_response();
  }

  Result<HttpResponse> send_download(const HttpRequest& request, std::ostream& out, const ProgressCallback& progress) {
    http::request<http::string_body> req;
    fill_headers(req, request);
    req.prepare_payload();
    tcp_stream().expires_after(options_.request_timeout);
    ErrorCode ec = run_until_done(ioc_, [&](auto handler) { with_stream([&](auto& s) { http::async_write(s, req, handler); }); });
    if (ec) return after_write_failure(ec);

    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    // Not boost::none: Beast 1.74 treats an empty limit as exceeded by any Content-Length.
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    tcp_stream().expires_after(options_.request_timeout);
    ec = run_until_done(ioc_, [&](auto handler) { with_stream([&](auto& s) { http::async_read_header(s, buffer, parser, handler); }); });
    if (ec == beast::error::timeout) return timed_out("answer");
    if (ec)
      return unavailable(fmt::format("bad answer from the Quiver server at {}: {}", url_.to_string(), ec.message()));
    const int status = static_cast<int>(parser.get().result_int());
    const bool success = status >= 200 && status < 300;
    const uint64_t total = parser.content_length().value_or(0);
    HttpResponse response;
    response.status = status;
    for (const auto& field : parser.get()) {
      auto [it, inserted] = response.headers.emplace(lower(field.name_string()), std::string(field.value()));
      if (!inserted) it->second += ", " + std::string(field.value());
    }
    std::vector<char> piece(1 << 20);
    uint64_t received = 0;
    while (!parser.is_done()) {
      parser.get().body().data = piece.data();
      parser.get().body().size = piece.size();
      tcp_stream().expires_after(options_.request_timeout);  // per piece: a long download is fine while it moves
      ec = run_until_done(ioc_, [&](auto handler) { with_stream([&](auto& s) { http::async_read_some(s, buffer, parser, handler); }); });
      if (ec == http::error::need_buffer) ec = {};
      if (ec == beast::error::timeout) return timed_out("send the rest of the answer");
      if (ec)
        return unavailable(fmt::format("the download from {} broke off after {} bytes: {}", url_.to_string(),
                                       received, ec.message()));
      const size_t n = piece.size() - parser.get().body().size;
      if (n == 0) continue;
      received += n;
      if (success) {
        out.write(piece.data(), static_cast<std::streamsize>(n));
        if (!out) return internal_error(fmt::format("writing the download failed after {} bytes", received));
        if (progress) progress(received, total);
      } else if (response.body.size() < (1u << 20)) {
        response.body.append(piece.data(), n);
      }
    }
    return response;
  }

  Result<HttpResponse> send_streamed(const HttpRequest& request, std::istream& body, uint64_t size,
                                     const ProgressCallback& progress, size_t chunk_size) {
    http::request<http::buffer_body> req;
    fill_headers(req, request);
    req.content_length(size);
    req.body().data = nullptr;
    req.body().more = size > 0;
    http::request_serializer<http::buffer_body> serializer(req);

    tcp_stream().expires_after(options_.request_timeout);
    ErrorCode ec = run_until_done(
        ioc_, [&](auto handler) { with_stream([&](auto& s) { http::async_write_header(s, serializer, handler); }); });
    if (ec) return after_write_failure(ec);

    std::vector<char> chunk(std::max<size_t>(chunk_size, 1));
    uint64_t sent = 0;
    while (sent < size) {
      const auto want = static_cast<std::streamsize>(std::min<uint64_t>(chunk.size(), size - sent));
      body.read(chunk.data(), want);
      const auto got = body.gcount();
      if (got <= 0) {
        return data_loss(fmt::format("the body ended after {} of {} bytes", sent, size));
      }
      req.body().data = chunk.data();
      req.body().size = static_cast<size_t>(got);
      req.body().more = sent + static_cast<uint64_t>(got) < size;
      tcp_stream().expires_after(options_.request_timeout);
      ec = run_until_done(ioc_, [&](auto handler) { with_stream([&](auto& s) { http::async_write(s, serializer, handler); }); });
      // need_buffer only says the serializer consumed this chunk and wants the next.
      if (ec && ec != http::error::need_buffer) return after_write_failure(ec);
      sent += static_cast<uint64_t>(got);
      if (progress) progress(sent, size);
    }
    if (size == 0 && progress) progress(0, 0);
    return read_response();
  }

 private:
  std::string host_header() const {
    if (url_.host.find(':') != std::string::npos) return fmt::format("[{}]:{}", url_.host, url_.port);
    return fmt::format("{}:{}", url_.host, url_.port);
  }

  Status unreachable(std::string_view why) const {
    return unavailable(fmt::format("cannot reach the Quiver server at {}: {}", url_.to_string(), why));
  }

  // A server that rejects a request early (413 for a body over its limit) may answer
  // and close before the body is all sent; that answer is more useful than "broken pipe".
  Result<HttpResponse> after_write_failure(ErrorCode write_error) {
    if (write_error == beast::error::timeout) return timed_out("accept the request");
    auto early = read_response(options_.connect_timeout);
    if (early.is_ok()) return early;
    return unavailable(fmt::format("lost the connection to the Quiver server at {} while sending: {}",
                                   url_.to_string(), write_error.message()));
  }

  Status timed_out(std::string_view what) const {
    return deadline_exceeded(fmt::format("the Quiver server at {} did not {} within {}",
                                         url_.to_string(), what,
                                         seconds_text(options_.request_timeout)));
  }

  Result<HttpResponse> read_response(std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(options_.max_response_bytes);
    tcp_stream().expires_after(timeout.value_or(options_.request_timeout));
    ErrorCode ec = run_until_done(
        ioc_, [&](auto handler) { with_stream([&](auto& s) { http::async_read(s, buffer, parser, handler); }); });
    if (ec == beast::error::timeout) return timed_out("answer");
    if (ec == http::error::body_limit) {
      return internal_error(fmt::format("the answer from {} is larger than {} bytes",
                                        url_.to_string(), options_.max_response_bytes));
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == ssl::error::stream_truncated) {
      return unavailable(fmt::format("the Quiver server at {} closed the connection without answering",
                                     url_.to_string()));
    }
    if (ec) {
      return unavailable(fmt::format("bad answer from the Quiver server at {}: {}", url_.to_string(),
                                     ec.message()));
    }
    auto& message = parser.get();
    HttpResponse response;
    response.status = static_cast<int>(message.result_int());
    for (const auto& field : message) {
      std::string name = lower(field.name_string());
      auto [it, inserted] = response.headers.emplace(name, std::string(field.value()));
      if (!inserted) it->second += ", " + std::string(field.value());
    }
    response.body = std::move(message.body());
    return response;
  }

  const ServerUrl& url_;
  const HttpClientOptions& options_;
  asio::io_context ioc_;
  beast::tcp_stream stream_;  // plain http
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;  // https
};

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(e, text, sizeof text);
  return text;
}

// The TLS client context: TLS 1.2 or newer, the given CA file or else the system's
// trust store, and the client certificate when one is given.
Result<std::shared_ptr<ssl::context>> make_tls_context(const TlsClientOptions& o) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  ERR_clear_error();
  if (!o.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(native, o.ca_file.c_str(), nullptr) != 1)
      return invalid_argument(fmt::format("cannot load the CA file '{}': {}", o.ca_file, openssl_error()));
  } else if (SSL_CTX_set_default_verify_paths(native) != 1) {
    return invalid_argument(fmt::format("cannot load the system's trusted CAs: {}", openssl_error()));
  }
  if (o.cert_file.empty() != o.key_file.empty())
    return invalid_argument("a client certificate needs its key, and a key its certificate (--client-cert, --client-key)");
  if (!o.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(native, o.cert_file.c_str()) != 1)
      return invalid_argument(fmt::format("cannot load the client certificate '{}': {}", o.cert_file, openssl_error()));
    if (SSL_CTX_use_PrivateKey_file(native, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      return invalid_argument(fmt::format("cannot load the client key '{}': {}", o.key_file, openssl_error()));
    if (SSL_CTX_check_private_key(native) != 1)
      return invalid_argument(fmt::format("the client key '{}' does not match the certificate '{}'", o.key_file, o.cert_file));
  }
  return ctx;
}

StatusCode status_code_for_http(int http_status) {
  switch (http_status) {
    case 400: return StatusCode::kInvalidArgument;
    case 401: return StatusCode::kUnauthenticated;
    case 403: return StatusCode::kPermissionDenied;
    case 404: return StatusCode::kNotFound;
    case 409: return StatusCode::kAlreadyExists;
    case 412: return StatusCode::kFailedPrecondition;
    case 413: return StatusCode::kPayloadTooLarge;
    case 429: return StatusCode::kResourceExhausted;
    case 503: return StatusCode::kUnavailable;
    case 504: return StatusCode::kDeadlineExceeded;
    case 507: return StatusCode::kInsufficientStorage;
    default: break;
  }
  if (http_status >= 400 && http_status < 500) return StatusCode::kInvalidArgument;
  return StatusCode::kInternal;
}

}  // namespace

std::string ServerUrl::to_string() const {
  const char* scheme = tls ? "https" : "http";
  // An IPv6 literal needs its brackets back.
  if (host.find(':') != std::string::npos) return fmt::format("{}://[{}]:{}{}", scheme, host, port, prefix);
  return fmt::format("{}://{}:{}{}", scheme, host, port, prefix);
}

Result<ServerUrl> parse_server_url(std::string_view url) {
  const std::string original(url);
  ServerUrl out;
  if (lower(url.substr(0, 7)) == "http://") {
    url.remove_prefix(7);
  } else if (lower(url.substr(0, 8)) == "https://") {
    url.remove_prefix(8);
    out.tls = true;
  } else {
    return invalid_argument(
        fmt::format("server URL '{}' must look like http://host:port or https://host:port", original));
  }
  const size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : url.substr(slash);

  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return invalid_argument(fmt::format("server URL '{}': unclosed '[' in the host", original));
    }
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return invalid_argument(fmt::format("server URL '{}': unexpected text after ']'", original));
      }
      port = rest.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return invalid_argument(fmt::format("server URL '{}' names no host", original));
  if (out.host.find('@') != std::string::npos) {
    return invalid_argument(fmt::format("server URL '{}': user names in URLs are not supported", original));
  }
  if (port.empty()) {
    out.port = out.tls ? "443" : "80";
  } else {
    const bool digits = std::all_of(port.begin(), port.end(),
                                    [](unsigned char c) { return std::isdigit(c) != 0; });
    if (!digits || port.size() > 5 || std::stoi(std::string(port)) > 65535) {
      return invalid_argument(fmt::format("server URL '{}': '{}' is not a port number", original, port));
    }
    out.port = std::string(port);
  }
  if (path.find_first_of("?#") != std::string_view::npos) {
    return invalid_argument(fmt::format("server URL '{}' must not carry a query or fragment", original));
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out.prefix = std::string(path);
  return out;
}

std::string encode_path_segment(std::string_view segment) {
  std::string out;
  out.reserve(segment.size());
  for (unsigned char c : segment) {
    const bool unreserved = std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

Result<HttpClient> HttpClient::create(std::string_view server_url, HttpClientOptions options) {
  QUIVER_ASSIGN_OR_RETURN(ServerUrl url, parse_server_url(server_url));
  std::shared_ptr<void> tls;
  if (url.tls) {
    QUIVER_ASSIGN_OR_RETURN(tls, make_tls_context(options.tls));
  }
  return HttpClient(std::move(url), std::move(options), std::move(tls));
}

Result<HttpResponse> HttpClient::exchange(const HttpRequest& request) const {
  try {
    Exchange call(url_, options_, static_cast<ssl::context*>(tls_context_.get()));
    QUIVER_RETURN_IF_ERROR(call.connect());
    return call.send_buffered(request);
  } catch (const std::exception& e) {
    return internal_error(fmt::format("HTTP request to {} failed: {}", url_.to_string(), e.what()));
  }
}

Result<HttpResponse> HttpClient::exchange_streamed(const HttpRequest& request, std::istream& body,
                                                   uint64_t size, const ProgressCallback& progress,
                                                   size_t chunk_size) const {
  try {
    Exchange call(url_, options_, static_cast<ssl::context*>(tls_context_.get()));
    QUIVER_RETURN_IF_ERROR(call.connect());
    return call.send_streamed(request, body, size, progress, chunk_size);
  } catch (const std::exception& e) {
    return internal_error(fmt::format("HTTP upload to {} failed: {}", url_.to_string(), e.what()));
  }
}

Result<HttpResponse> HttpClient::exchange_download(const HttpRequest& request, std::ostream& out,
                                                   const ProgressCallback& progress) const {
  try {
    Exchange call(url_, options_, static_cast<ssl::context*>(tls_context_.get()));
    QUIVER_RETURN_IF_ERROR(call.connect());
    return call.send_download(request, out, progress);
  } catch (const std::exception& e) {
    return internal_error(fmt::format("HTTP download from {} failed: {}", url_.to_string(), e.what()));
  }
}

Result<HttpResponse> HttpClient::send(const HttpRequest& request) const {
  QUIVER_ASSIGN_OR_RETURN(HttpResponse response, exchange(request));
  if (!is_success(response)) return status_from_http_error(response);
  return response;
}

bool is_success(const HttpResponse& response) {
  return response.status >= 200 && response.status < 300;
}

Status status_from_http_error(const HttpResponse& response) {
  const StatusCode code = status_code_for_http(response.status);
  const auto parsed = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object()) {
    const auto it = parsed.find("error");
    if (it != parsed.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
      return {code, it->get<std::string>()};
    }
  }
  std::string message = fmt::format("the server answered HTTP {}", response.status);
  const auto reason = http::obsolete_reason(static_cast<http::status>(response.status));
  if (!reason.empty() && reason != "<unknown-status>") message += fmt::format(" {}", reason);
  // A proxy's HTML error page is not worth printing; a short plain-text one is.
  std::string_view body = response.body;
  if (!body.empty() && body.size() <= 200 && body.find('<') == std::string_view::npos) {
    while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back()))) body.remove_suffix(1);
    message += fmt::format(": {}", body);
  }
  return {code, message};
}

}  // namespace quiver::cli

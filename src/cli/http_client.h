// A small synchronous HTTP/1.1 client for talking to a Quiver server.
//
// One connection per request (the CLI makes a handful of calls per run, so pooling
// would buy nothing). http:// and https:// alike: over https the server's certificate
// is verified against the system's trust store or a given CA file, and its name must
// match the URL's host; a client certificate may be presented for mutual TLS.
//
// Thread-safety: an HttpClient is immutable after create(); each send() uses its own
// io_context and socket (the TLS context is shared read-only), so one client may be
// used from several threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <string>
#include <string_view>

#include "core/params.h"
#include "core/status.h"

namespace quiver::cli {

// "http[s]://host[:port][/prefix]", split. The prefix (no trailing slash) is put in
// front of every request target, so a server mounted under a path works.
struct ServerUrl {
  std::string host;  // without brackets for IPv6 literals
  std::string port;  // "80" ("443" for https) when the URL names none
  std::string prefix;
  bool tls = false;  // https://

  // Back to "http[s]://host:port/prefix", as error messages show it.
  std::string to_string() const;
};

Result<ServerUrl> parse_server_url(std::string_view url);

// Percent-encodes one path segment (a model name, an alias) so that '/', '?', ' '
// and the like cannot change the meaning of the request target.
std::string encode_path_segment(std::string_view segment);

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";  // path and query, without the URL prefix
  Headers headers;           // extra headers; Host, User-Agent, Content-Length are set here
  std::string body;
};

struct HttpResponse {
  int status = 0;
  Headers headers;  // names lower-cased; repeated headers joined with ", "
  std::string body;
};

// How an https:// client trusts the server and proves who it is. Empty paths: the
// system's trust store, and no client certificate.
struct TlsClientOptions {
  std::string ca_file;    // PEM bundle of the CAs that may sign the server's certificate
  std::string cert_file;  // PEM client certificate (mutual TLS)
  std::string key_file;   // its private key
};

struct HttpClientOptions {
  TlsClientOptions tls;
  std::chrono::milliseconds connect_timeout{5'000};
  // The longest wait for any one step of a request: sending a chunk of the body, or
  // receiving the whole answer. A large upload is not cut off as long as it moves.
  std::chrono::milliseconds request_timeout{300'000};
  uint64_t max_response_bytes = uint64_t{4} << 30;
};

// Called after each chunk of a streamed body: (bytes sent so far, total bytes).
using ProgressCallback = std::function<void(uint64_t sent, uint64_t total)>;

class HttpClient {
 public:
  static Result<HttpClient> create(std::string_view server_url, HttpClientOptions options = {});

  const ServerUrl& url() const { return url_; }

  // Sends `request` and returns the answer whatever its HTTP status. A Status here
  // means no answer came back: kUnavailable when the server cannot be reached or
  // drops the connection, kDeadlineExceeded on a timeout.
  Result<HttpResponse> exchange(const HttpRequest& request) const;

  // Like exchange(), but streams `size` bytes read from `body` in chunks of
  // `chunk_size` instead of request.body, calling `progress` after every chunk.
  Result<HttpResponse> exchange_streamed(const HttpRequest& request, std::istream& body,
                                         uint64_t size, const ProgressCallback& progress,
                                         size_t chunk_size = size_t{1} << 20) const;

  // Like exchange(), but a 2xx answer's body goes to `out` piece by piece as it arrives
  // (a backup of any size), calling `progress` (bytes received, Content-Length or 0)
  // after each piece; the returned response's body is then empty. A non-2xx answer's
  // body (an error message) is returned as usual. A body that ends before its
  // Content-Length is kUnavailable.
  Result<HttpResponse> exchange_download(const HttpRequest& request, std::ostream& out,
                                         const ProgressCallback& progress) const;

  // exchange(), then a non-2xx answer becomes a Status carrying the server's message.
  Result<HttpResponse> send(const HttpRequest& request) const;

 private:
  HttpClient(ServerUrl url, HttpClientOptions options, std::shared_ptr<void> tls_context)
      : url_(std::move(url)), options_(std::move(options)), tls_context_(std::move(tls_context)) {}

  ServerUrl url_;
  HttpClientOptions options_;
  // A boost::asio::ssl::context for https (null for http); opaque here so that the
  // many files including this header do not pull in OpenSSL.
  std::shared_ptr<void> tls_context_;
};

// The Status for a non-2xx answer: the body's {"error": "..."} message when there is
// one, else the HTTP status line; the code is the StatusCode that maps to that HTTP
// status (404 -> kNotFound, 409 -> kAlreadyExists, 503 -> kUnavailable, ...).
Status status_from_http_error(const HttpResponse& response);

bool is_success(const HttpResponse& response);

}  // namespace quiver::cli

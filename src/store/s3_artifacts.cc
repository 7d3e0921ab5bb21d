#include "store/s3_artifacts.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>

#include "store/sha256.h"

namespace quiver::store {

namespace {

// sha256 of no bytes: the payload hash of a GET or HEAD.
constexpr const char* kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// An S3 error body is a small XML document; anything longer is not worth keeping.
constexpr size_t kMaxErrorBody = 64 * 1024;

void init_curl_once() {
  // curl_global_init is not thread-safe in older libcurl; do it once, before any handle.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// The text of <Tag>...</Tag> in an S3 error document, or "".
std::string xml_field(const std::string& body, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  const size_t begin = body.find(open);
  if (begin == std::string::npos) return "";
  const size_t end = body.find(close, begin + open.size());
  if (end == std::string::npos) return "";
  return body.substr(begin + open.size(), end - begin - open.size());
}

std::span<const std::byte> bytes_of(const char* data, size_t size) {
  return std::as_bytes(std::span(data, size));
}

// One HTTP request: a curl easy handle and what it owns.
class Request {
 public:
  Request() : handle_(curl_easy_init()) {}
  ~Request() {
    curl_slist_free_all(headers_);
    if (handle_) curl_easy_cleanup(handle_);
  }
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  CURL* handle() const { return handle_; }
  void add_header(const std::string& line) { headers_ = curl_slist_append(headers_, line.c_str()); }
  char* error_buffer() { return error_; }

  // Sets what every request needs: URL, signing, credentials, timeouts.
  void configure(const S3Config& config, const std::string& url, const std::string& payload_sha256) {
    const std::string sigv4 = "aws:amz:" + config.region + ":s3";
    curl_easy_setopt(handle_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM: we run on many threads
    curl_easy_setopt(handle_, CURLOPT_ERRORBUFFER, error_);
    curl_easy_setopt(handle_, CURLOPT_CONNECTTIMEOUT, static_cast<long>(config.connect_timeout.count()));
    curl_easy_setopt(handle_, CURLOPT_LOW_SPEED_LIMIT, config.low_speed_bytes_per_second);
    curl_easy_setopt(handle_, CURLOPT_LOW_SPEED_TIME, static_cast<long>(config.low_speed_time.count()));
    curl_easy_setopt(handle_, CURLOPT_AWS_SIGV4, sigv4.c_str());  // copied by libcurl
    // USERNAME and PASSWORD rather than USERPWD "key:secret": a ':' in either is then
    // harmless.
    curl_easy_setopt(handle_, CURLOPT_USERNAME, config.access_key_id.c_str());
    curl_easy_setopt(handle_, CURLOPT_PASSWORD, config.secret_access_key.c_str());
    // S3 requires the payload hash header, and libcurl signs with its value.
    add_header("x-amz-content-sha256: " + payload_sha256);
    if (!config.session_token.empty()) add_header("x-amz-security-token: " + config.session_token);
  }

  // Runs the request; the headers are attached last so configure() callers may add some.
  CURLcode perform() {
    curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, headers_);
    return curl_easy_perform(handle_);
  }

  long http_status() const {
    long status = 0;
    curl_easy_getinfo(handle_, CURLINFO_RESPONSE_CODE, &status);
    return status;
  }

 private:
  CURL* handle_;
  curl_slist* headers_ = nullptr;
  char error_[CURL_ERROR_SIZE] = {};
};

// Collects an error body (capped) instead of the object's bytes.
size_t collect_error_body(std::string& body, const char* data, size_t size) {
  body.append(data, std::min(size, kMaxErrorBody - std::min(kMaxErrorBody, body.size())));
  return size;
}

size_t write_error_body(char* data, size_t size, size_t count, void* user) {
  return collect_error_body(*static_cast<std::string*>(user), data, size * count);
}

// Streams a GET's body into a blob upload and its hasher, but only a 2xx body: an
// error's XML is kept aside for the message.
struct Download {
  CURL* handle = nullptr;
  BlobWriter* writer = nullptr;
  Sha256* hasher = nullptr;
  std::string error_body;
  Status failure;  // why the transfer was stopped from here, if it was
};

size_t write_download(char* data, size_t size, size_t count, void* user) {
  auto& d = *static_cast<Download*>(user);
  const size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(d.handle, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status >= 300) return collect_error_body(d.error_body, data, n);
  Status st = d.hasher->update(bytes_of(data, n));
  if (st.is_ok()) st = d.writer->append(bytes_of(data, n));
  if (!st.is_ok()) {
    d.failure = st;
    return 0;  // anything but n stops the transfer
  }
  return n;
}

// Streams a PUT's body from the file, hashing it on the way. The file was hashed
// before the upload began; this catches a file that changes meanwhile: the upload is
// aborted before its last bytes are sent, so a real S3 never completes the request
// (and it checks x-amz-content-sha256 as well).
struct Upload {
  std::ifstream* in = nullptr;
  Sha256* hasher = nullptr;
  std::string expected_sha256;
  uint64_t size = 0;
  uint64_t sent = 0;
  std::string file;
  Status failure;
};

size_t read_upload(char* buffer, size_t size, size_t count, void* user) {
  auto& u = *static_cast<Upload*>(user);
  const uint64_t want = std::min<uint64_t>(size * count, u.size - u.sent);
  if (want == 0) return 0;
  u.in->read(buffer, static_cast<std::streamsize>(want));
  const auto got = static_cast<size_t>(u.in->gcount());
  if (got == 0) {
    u.failure = internal_error("'" + u.file + "' ended after " + std::to_string(u.sent) + " of " +
                               std::to_string(u.size) + " bytes while it was uploaded");
    return CURL_READFUNC_ABORT;
  }
  Status st = u.hasher->update(bytes_of(buffer, got));
  if (!st.is_ok()) {
    u.failure = st;
    return CURL_READFUNC_ABORT;
  }
  u.sent += got;
  if (u.sent == u.size) {
    Result<std::string> actual = u.hasher->finish_hex();
    if (!actual.is_ok()) {
      u.failure = actual.status();
      return CURL_READFUNC_ABORT;
    }
    if (*actual != u.expected_sha256) {
      u.failure = invalid_argument("'" + u.file + "' hashes to " + *actual + ", not to the artifact's sha256");
      return CURL_READFUNC_ABORT;
    }
  }
  return got;
}

bool is_bucket_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
         c == '_';
}

// Prefix characters that need no escaping in a URL path, so the path libcurl signs is
// exactly the one the server sees.
bool is_prefix_char(char c) { return is_bucket_char(c) || c == '/'; }

Result<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    const std::string hex(i + 2 < s.size() ? s.substr(i + 1, 2) : std::string_view());
    if (hex.size() != 2 || !std::isxdigit(static_cast<unsigned char>(hex[0])) ||
        !std::isxdigit(static_cast<unsigned char>(hex[1])))
      return invalid_argument("bad percent-encoding in '" + std::string(s) + "'");
    out.push_back(static_cast<char>(std::stoi(hex, nullptr, 16)));
    i += 2;
  }
  return out;
}

}  // namespace

Result<S3Config> parse_s3_spec(const std::string& spec) {
  const auto bad = [&](const std::string& why) {
    return invalid_argument("bad S3 artifact location '" + spec + "' (expected s3://BUCKET[/PREFIX]?endpoint=" +
                            "http://HOST:PORT&region=REGION): " + why);
  };
  constexpr std::string_view kScheme = "s3://";
  if (!std::string_view(spec).starts_with(kScheme)) return bad("it does not start with s3://");
  const std::string rest = spec.substr(kScheme.size());
  const size_t question = rest.find('?');
  const std::string location = rest.substr(0, question);
  const std::string query = question == std::string::npos ? "" : rest.substr(question + 1);

  S3Config config;
  const size_t slash = location.find('/');
  config.bucket = location.substr(0, slash);
  if (config.bucket.empty()) return bad("no bucket");
  if (!std::all_of(config.bucket.begin(), config.bucket.end(), is_bucket_char))
    return bad("a bucket name has only letters, digits, '.', '-' and '_'");
  if (slash != std::string::npos) {
    std::string prefix = location.substr(slash + 1);
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (!std::all_of(prefix.begin(), prefix.end(), is_prefix_char))
      return bad("a prefix has only letters, digits, '.', '-', '_' and '/'");
    if (prefix.find("//") != std::string::npos) return bad("empty folder in the prefix");
    config.prefix = prefix;
  }

  for (size_t begin = 0; begin < query.size();) {
    size_t end = query.find('&', begin);
    if (end == std::string::npos) end = query.size();
    const std::string pair = query.substr(begin, end - begin);
    begin = end + 1;
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    if (eq == std::string::npos) return bad("'" + pair + "' has no value");
    const std::string key = pair.substr(0, eq);
    Result<std::string> decoded = percent_decode(pair.substr(eq + 1));
    if (!decoded.is_ok()) return bad(decoded.status().message());
    std::string value = std::move(decoded).value();
    if (key == "endpoint") {
      while (!value.empty() && value.back() == '/') value.pop_back();
      config.endpoint = value;
    } else if (key == "region") {
      if (value.empty()) return bad("empty region");
      config.region = value;
    } else {
      return bad("unknown parameter '" + key + "'");
    }
  }
  if (config.endpoint.empty()) config.endpoint = "https://s3." + config.region + ".amazonaws.com";
  if (!config.endpoint.starts_with("http://") && !config.endpoint.starts_with("https://"))
    return bad("the endpoint must be an http:// or https:// URL");
  return config;
}

Result<std::unique_ptr<S3Artifacts>> S3Artifacts::open(S3Config config) {
  if (config.endpoint.empty() || config.bucket.empty())
    return invalid_argument("S3 artifacts need an endpoint and a bucket");
  if (config.access_key_id.empty() || config.secret_access_key.empty())
    return invalid_argument("S3 artifacts need credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  init_curl_once();
  return std::unique_ptr<S3Artifacts>(new S3Artifacts(std::move(config)));
}

std::string S3Artifacts::describe() const {
  std::string where = "s3://" + config_.bucket;
  if (!config_.prefix.empty()) where += "/" + config_.prefix;
  return where + " at " + config_.endpoint + " (region " + config_.region + ")";
}

std::string S3Artifacts::url_of(const std::string& sha256) const {
  std::string url = config_.endpoint + "/" + config_.bucket + "/";
  if (!config_.prefix.empty()) url += config_.prefix + "/";
  return url + sha256;
}

namespace {

// The Status of a finished request: a failure raised by our own callback first, then
// transport errors, then the HTTP status with S3's error code and message.
Status request_status(const std::string& what, CURLcode rc, const char* curl_error, long http,
                      const std::string& error_body, const Status& callback_failure) {
  if (!callback_failure.is_ok()) return callback_failure.with_context(what);
  if (rc != CURLE_OK) {
    const std::string why = (curl_error && *curl_error) ? curl_error : curl_easy_strerror(rc);
    return unavailable(what + ": the object store cannot be reached (" + why + ")");
  }
  if (http >= 200 && http < 300) return Status::ok();
  const std::string code = xml_field(error_body, "Code");
  const std::string message = xml_field(error_body, "Message");
  std::string detail = "HTTP " + std::to_string(http);
  if (!code.empty()) detail = code + (message.empty() ? "" : ": " + message) + " (" + detail + ")";
  const std::string text = what + ": " + detail;
  if (http == 404) return not_found(text);
  if (http == 401 || http == 403) return permission_denied(text);
  if (http >= 500) return unavailable(text);
  if (http == 400) return invalid_argument(text);
  return internal_error(text);
}

}  // namespace

Result<std::optional<uint64_t>> S3Artifacts::stored_size(const std::string& sha256) const {
  Request request;
  if (!request.handle()) return internal_error("cannot create a curl handle");
  request.configure(config_, url_of(sha256), kEmptySha256);
  curl_easy_setopt(request.handle(), CURLOPT_NOBODY, 1L);
  const CURLcode rc = request.perform();
  const long http = request.http_status();
  if (rc == CURLE_OK && http == 404) return std::optional<uint64_t>();
  // A HEAD response has no body, so a refusal carries only its HTTP status.
  QUIVER_RETURN_IF_ERROR(
      request_status("HEAD " + url_of(sha256), rc, request.error_buffer(), http, std::string(), Status::ok()));
  curl_off_t length = -1;
  curl_easy_getinfo(request.handle(), CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
  return std::optional<uint64_t>(length < 0 ? 0 : static_cast<uint64_t>(length));
}

Result<bool> S3Artifacts::exists(const std::string& sha256) const {
  if (!is_valid_sha256(sha256)) return invalid_argument("not a sha256: '" + sha256 + "'");
  QUIVER_ASSIGN_OR_RETURN(std::optional<uint64_t> size, stored_size(sha256));
  return size.has_value();
}

Status S3Artifacts::put(const std::string& sha256, const std::filesystem::path& file) {
  if (!is_valid_sha256(sha256)) return invalid_argument("not a sha256: '" + sha256 + "'");
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(file, ec);
  if (ec) return not_found("cannot read '" + file.string() + "': " + ec.message());
  // An object of another size under this key cannot be the artifact (a truncated
  // upload some servers keep): it is replaced rather than trusted.
  QUIVER_ASSIGN_OR_RETURN(std::optional<uint64_t> stored, stored_size(sha256));
  if (stored == size) return Status::ok();

  // Hashed before anything is sent: aborting an upload midway is not enough, as some
  // S3-compatible servers (s3rver) keep the truncated body as the object.
  QUIVER_ASSIGN_OR_RETURN(std::string actual, sha256_file_hex(file));
  if (actual != sha256)
    return invalid_argument("'" + file.string() + "' hashes to " + actual + ", not to the artifact's sha256");
  std::ifstream in(file, std::ios::binary);
  if (!in) return not_found("cannot open '" + file.string() + "'");
  // Hashed again while it streams, in case the file changes under us.
  QUIVER_ASSIGN_OR_RETURN(Sha256 hasher, Sha256::create());

  Upload upload{&in, &hasher, sha256, size, 0, file.string(), Status::ok()};
  std::string error_body;
  Request request;
  if (!request.handle()) return internal_error("cannot create a curl handle");
  // The payload hash is the artifact's own sha256: S3 checks the bytes against it.
  request.configure(config_, url_of(sha256), sha256);
  request.add_header("Content-Type: application/octet-stream");
  curl_easy_setopt(request.handle(), CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(request.handle(), CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
  curl_easy_setopt(request.handle(), CURLOPT_READFUNCTION, read_upload);
  curl_easy_setopt(request.handle(), CURLOPT_READDATA, &upload);
  curl_easy_setopt(request.handle(), CURLOPT_WRITEFUNCTION, write_error_body);
  curl_easy_setopt(request.handle(), CURLOPT_WRITEDATA, &error_body);
  const CURLcode rc = request.perform();
  return request_status("PUT " + url_of(sha256), rc, request.error_buffer(), request.http_status(), error_body,
                        upload.failure);
}

Status S3Artifacts::fetch_into(const std::string& sha256, BlobStore& blobs) const {
  if (!is_valid_sha256(sha256)) return invalid_argument("not a sha256: '" + sha256 + "'");
  // The writer removes its temporary file when it goes out of scope uncommitted, so
  // every early return below leaves nothing in the blob store.
  QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<BlobWriter> writer, blobs.begin_upload());
  // Hashed here as well as in the writer: the writer's hash is known only after commit,
  // and by then the wrong bytes would already be in the store under their own name.
  QUIVER_ASSIGN_OR_RETURN(Sha256 hasher, Sha256::create());

  Request request;
  if (!request.handle()) return internal_error("cannot create a curl handle");
  Download download{request.handle(), writer.get(), &hasher, std::string(), Status::ok()};
  request.configure(config_, url_of(sha256), kEmptySha256);
  curl_easy_setopt(request.handle(), CURLOPT_WRITEFUNCTION, write_download);
  curl_easy_setopt(request.handle(), CURLOPT_WRITEDATA, &download);
  const CURLcode rc = request.perform();
  const std::string what = "GET " + url_of(sha256);
  QUIVER_RETURN_IF_ERROR(request_status(what, rc, request.error_buffer(), request.http_status(),
                                        download.error_body, download.failure));

  QUIVER_ASSIGN_OR_RETURN(std::string actual, hasher.finish_hex());
  if (actual != sha256)
    return data_loss(what + ": the remote copy is corrupt: its " + std::to_string(writer->bytes_written()) +
                     " bytes hash to " + actual);
  QUIVER_ASSIGN_OR_RETURN(BlobInfo info, writer->commit());
  if (info.sha256 != sha256) return data_loss(what + ": the stored blob hashes to " + info.sha256);
  return Status::ok();
}

}  // namespace quiver::store

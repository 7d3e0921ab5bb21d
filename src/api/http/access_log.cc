#include "api/http/access_log.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "api/http/trace_context.h"
#include "core/clock.h"

namespace quiver::http {
namespace {

constexpr std::string_view kTokenPrefix = "qv_";
// Wake the writer early once this much waits, so bursts do not pile up to the limit.
constexpr size_t kEagerFlushBytes = 256 << 10;

void field(std::string& out, std::string_view name, std::string_view value) {
  if (value.empty()) return;
  out += out.size() > 1 ? ",\"" : "\"";
  out += name;
  out += "\":\"";
  out += json_escape(value);
  out += '"';
}

void number(std::string& out, std::string_view name, std::string_view value) {
  out += ",\"";
  out += name;
  out += "\":";
  out += value;
}

// A client's x-request-id when it is short printable ASCII, as the audit log takes it.
std::string usable_request_id(const std::string& id) {
  if (id.empty() || id.size() > 128) return {};
  for (char c : id)
    if (c <= 0x20 || c >= 0x7f) return {};
  return id;
}

std::string header_of(const HttpResponse& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < key.size() && same; ++i) same = std::tolower(static_cast<unsigned char>(key[i])) == name[i];
    if (same) return value;
  }
  return {};
}

bool is_infer(std::string_view method, std::string_view path) {
  return method == "POST" && path.starts_with("/v2/models/") && path.ends_with("/infer");
}

}  // namespace

std::string format_access_line(const AccessEntry& e) {
  std::string out = "{";
  field(out, "time", e.time);
  field(out, "request_id", e.request_id);
  field(out, "trace_id", e.trace_id);
  field(out, "span_id", e.span_id);
  field(out, "method", e.method);
  field(out, "path", e.path);
  field(out, "kind", e.kind);
  field(out, "route", e.route);
  field(out, "model", e.model);
  field(out, "version", e.version);
  number(out, "status", std::to_string(e.status));
  number(out, "latency_ms", fmt::format("{:.3f}", e.latency_ms));
  number(out, "bytes_in", std::to_string(e.bytes_in));
  number(out, "bytes_out", std::to_string(e.bytes_out));
  field(out, "remote", e.remote);
  out += "}\n";
  return out;
}

std::string redact_path(std::string path) {
  size_t at = 0;
  while ((at = path.find(kTokenPrefix, at)) != std::string::npos) {
    const bool segment_start = at == 0 || path[at - 1] == '/';
    const size_t id_end = path.find('_', at + kTokenPrefix.size());
    const size_t segment_end = std::min(path.find('/', at), path.size());
    if (segment_start && id_end != std::string::npos && id_end + 1 < segment_end) {
      path.replace(id_end + 1, segment_end - id_end - 1, "<redacted>");
    }
    at += kTokenPrefix.size();
  }
  return path;
}

std::string endpoint_kind(std::string_view method, std::string_view path) {
  if (is_infer(method, path)) return "infer";
  if (path.starts_with("/v2/health/") || path == "/readyz" || path == "/healthz") return "health";
  if (path == "/metrics") return "metrics";
  if (path == "/ui" || path.starts_with("/ui/")) return "ui";
  if (path.starts_with("/v2/repository") || path.starts_with("/v1/") || path == "/v1") return "management";
  if (path == "/v2" || path.starts_with("/v2/models/")) return "metadata";
  return "other";
}

// ---- the writer -------------------------------------------------------------------

Result<std::shared_ptr<AccessLogWriter>> AccessLogWriter::open(const std::string& path, AccessLogOptions options) {
  if (path.empty()) return invalid_argument("the access log needs a file path or '-' for standard output");
  if (path == "-") return std::shared_ptr<AccessLogWriter>(new AccessLogWriter(stdout, false, options));
  std::FILE* file = std::fopen(path.c_str(), "a");
  if (file == nullptr) {
    return unavailable("cannot open the access log " + path + ": " + std::strerror(errno));
  }
  return std::shared_ptr<AccessLogWriter>(new AccessLogWriter(file, true, options));
}

AccessLogWriter::AccessLogWriter(std::FILE* file, bool owned, AccessLogOptions options)
    : file_(file), owned_(owned), options_(options) {
  thread_ = std::thread([this] { run(); });
}

AccessLogWriter::~AccessLogWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  flush();
  if (owned_) std::fclose(file_);
}

void AccessLogWriter::write(const AccessEntry& entry) {
  std::string line = format_access_line(entry);
  bool eager = false;
  {
    std::lock_guard lock(mu_);
    if (pending_.size() + line.size() > options_.max_buffered_bytes) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      if (options_.dropped) options_.dropped->inc();
      return;
    }
    pending_ += line;
    eager = pending_.size() >= kEagerFlushBytes;
  }
  if (eager) wake_.notify_one();
}

void AccessLogWriter::flush() {
  std::lock_guard writing(write_mu_);
  std::string batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(pending_);
  }
  if (batch.empty()) return;
  std::fwrite(batch.data(), 1, batch.size(), file_);
  std::fflush(file_);
}

void AccessLogWriter::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.flush_interval,
                   [this] { return stopping_ || pending_.size() >= kEagerFlushBytes; });
    lock.unlock();
    flush();
    lock.lock();
  }
}

// ---- the per-request hook ---------------------------------------------------------

std::function<void(HttpResponse&)> observe_request(std::shared_ptr<AccessLogWriter> log,
                                                   std::shared_ptr<const HttpRequest> request,
                                                   std::optional<uint64_t> content_length) {
  const auto started = std::chrono::steady_clock::now();
  const TraceContext span = server_span(parse_traceparent(request->header("traceparent")));
  return [log = std::move(log), request = std::move(request), content_length, started,
          span](HttpResponse& response) {
    response.headers.emplace_back("traceparent", span.header_value());
    if (!log) return;
    AccessEntry e;
    e.time = format_utc(std::chrono::system_clock::now());
    e.trace_id = span.trace_id_hex();
    e.span_id = span.span_id_hex();
    e.request_id = request->request_id;
    if (e.request_id.empty()) e.request_id = usable_request_id(request->header("x-request-id"));
    if (e.request_id.empty()) e.request_id = e.span_id;
    e.method = request->method;
    e.path = redact_path(request->path);
    e.kind = endpoint_kind(request->method, request->path);
    if (e.kind == "infer") e.route = request->path_params.count("version") ? "pinned" : "routed";
    if (auto m = request->path_params.find("model"); m != request->path_params.end()) e.model = m->second;
    e.version = header_of(response, "x-quiver-model-version");
    if (auto v = request->path_params.find("version"); e.version.empty() && v != request->path_params.end()) {
      e.version = v->second;
    }
    e.status = response.status;
    e.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    e.bytes_in = content_length.value_or(request->body ? request->body->size() : 0);
    e.bytes_out = response.stream ? response.stream->size() : response.body.size();
    e.remote = request->remote;
    log->write(e);
  };
}

std::function<void(HttpResponse&)> chain_hooks(std::function<void(HttpResponse&)> first,
                                               std::function<void(HttpResponse&)> second) {
  if (!first) return second;
  if (!second) return first;
  return [first = std::move(first), second = std::move(second)](HttpResponse& response) {
    first(response);
    second(response);
  };
}

}  // namespace quiver::http

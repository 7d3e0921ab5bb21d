// GET /v1/backup: a consistent online backup of the registry and the blobs it names,
// streamed as a tar archive (backup/archive.h) while the server keeps serving and
// accepting writes. Takes no parameters: no request can name a server file.
#include <chrono>

#include "api/http/api_context.h"
#include "api/http/http_server.h"
#include "backup/backup_stream.h"
#include "core/clock.h"

#include <spdlog/spdlog.h>

namespace quiver::http {
namespace {

class BackupBody final : public BodySource {
 public:
  explicit BackupBody(std::unique_ptr<backup::BackupStream> stream) : stream_(std::move(stream)) {}
  uint64_t size() const override { return stream_->size(); }
  Result<size_t> read(std::span<std::byte> out) override {
    auto n = stream_->read(out);
    if (!n.is_ok()) spdlog::error("backup aborted: {}", n.status().message());
    return n;
  }

 private:
  std::unique_ptr<backup::BackupStream> stream_;
};

}  // namespace

void register_backup_routes(HttpServer& server, ApiContext& ctx) {
  server.route("GET", "/v1/backup", [&ctx](const auto& req, Responder respond) {
    if (!req->query.empty())
      return respond(HttpResponse::error(invalid_argument(
          "GET /v1/backup takes no parameters: it always backs up this server's whole registry and blob store")));
    // The snapshot is one VACUUM INTO of the (small) registry; blob bytes are read
    // later, piece by piece, while the response is written.
    const auto now = std::chrono::system_clock::now();
    const std::string created_at = format_utc(now);
    const int64_t seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    auto stream = backup::BackupStream::create(ctx.registry, ctx.blobs, ctx.backup_tmp_dir, created_at, seconds);
    if (!stream.is_ok()) return respond(HttpResponse::error(stream.status().with_context("backup")));
    const auto& manifest = (*stream)->manifest();
    spdlog::info("backup started: registry {} bytes, {} blobs, {} bytes in all", manifest.registry_size,
                 manifest.blobs.size(), (*stream)->size());
    HttpResponse resp;
    resp.content_type = "application/x-tar";
    std::string stamp = created_at;
    for (char& c : stamp)
      if (c == ':') c = '-';
    resp.headers.emplace_back("Content-Disposition", "attachment; filename=\"quiver-backup-" + stamp + ".tar\"");
    resp.headers.emplace_back("x-quiver-backup-blobs", std::to_string(manifest.blobs.size()));
    resp.stream = std::make_shared<BackupBody>(std::move(stream).value());
    respond(std::move(resp));
  });
}

}  // namespace quiver::http

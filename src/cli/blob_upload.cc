#include "cli/blob_upload.h"

#include <unistd.h>

#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "cli/http_client.h"
#include "cli/progress_bar.h"

namespace quiver::cli {

using nlohmann::json;

Result<UploadedBlob> upload_blob(CommandContext& ctx, const std::string& path, uint64_t size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ctx.usage(not_found(fmt::format("cannot open '{}'", path)));

  HttpRequest request;
  request.method = "POST";
  request.target = "/v1/blobs";
  request.headers.emplace("content-type", "application/octet-stream");
  request.headers.emplace("accept", "application/json");

  ProgressBar bar(std::cerr, isatty(STDERR_FILENO) != 0, size, ProgressBar::Clock::now());
  auto sent = ctx.send_streamed(request, in, size, [&bar](uint64_t done, uint64_t) {
    bar.update(done, ProgressBar::Clock::now());
  });
  if (!sent.is_ok()) {
    bar.abandon();
    return sent.status();
  }
  bar.finish(ProgressBar::Clock::now());

  QUIVER_ASSIGN_OR_RETURN(json answer, parse_json(sent->body, "the answer to POST /v1/blobs"));
  UploadedBlob blob;
  QUIVER_ASSIGN_OR_RETURN(blob.sha256, required_text(answer, "sha256"));
  const json* stored = answer.is_object() && answer.contains("size") ? &answer["size"] : nullptr;
  blob.size = stored != nullptr && stored->is_number_unsigned() ? stored->get<uint64_t>() : size;
  return blob;
}

}  // namespace quiver::cli

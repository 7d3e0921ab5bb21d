// Uploading a file as a content-addressed blob (POST /v1/blobs), streamed from disk
// with a progress bar on a terminal: `quiver push` sends artifacts this way and
// `quiver eval` datasets.
#pragma once

#include <cstdint>
#include <string>

#include "cli/command_context.h"

namespace quiver::cli {

struct UploadedBlob {
  std::string sha256;
  uint64_t size = 0;
};

// `size` is the file's size (what the progress bar counts to).
Result<UploadedBlob> upload_blob(CommandContext& ctx, const std::string& path, uint64_t size);

}  // namespace quiver::cli

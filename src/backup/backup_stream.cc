#include "backup/backup_stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "backup/tar.h"
#include "store/sha256.h"

namespace quiver::backup {
namespace fs = std::filesystem;

namespace {

// One file of the archive: its header, then its data (in memory, or read from a file
// and checked against its sha256), then padding.
struct Part {
  TarBlock header{};
  std::string inline_data;  // used when `file` is empty
  fs::path file;
  uint64_t size = 0;
  std::string sha256;  // expected digest of a file's bytes
  uint64_t total() const { return tar_entry_size(size); }
};

}  // namespace

struct BackupStream::Impl {
  Manifest manifest;
  fs::path snapshot;  // the registry copy; removed with the stream
  std::vector<Part> parts;
  uint64_t size = 0;

  // Read position.
  size_t part = 0;
  uint64_t offset = 0;  // within the current part
  uint64_t trailer_sent = 0;
  int fd = -1;
  std::optional<store::Sha256> hasher;

  ~Impl() {
    close_file();
    if (!snapshot.empty()) {
      std::error_code ec;
      fs::remove(snapshot, ec);
    }
  }

  void close_file() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  // Copies data bytes of the current part at `data_offset` into `out`.
  Result<size_t> read_data(Part& p, uint64_t data_offset, std::span<std::byte> out) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), p.size - data_offset));
    if (p.file.empty()) {
      std::memcpy(out.data(), p.inline_data.data() + data_offset, want);
      return want;
    }
    if (fd < 0) {
      fd = ::open(p.file.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return data_loss("backup: cannot open '" + p.file.string() + "': " + std::strerror(errno));
      QUIVER_ASSIGN_OR_RETURN(store::Sha256 h, store::Sha256::create());
      hasher.emplace(std::move(h));
    }
    ssize_t n = 0;
    do {
      n = ::read(fd, out.data(), want);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return data_loss("backup: reading '" + p.file.string() + "' failed: " + std::strerror(errno));
    if (n == 0)
      return data_loss("backup: '" + p.file.string() + "' is shorter than the " + std::to_string(p.size) +
                       " bytes it had when the backup started");
    QUIVER_RETURN_IF_ERROR(hasher->update(out.first(static_cast<size_t>(n))));
    if (data_offset + static_cast<uint64_t>(n) == p.size) {
      QUIVER_ASSIGN_OR_RETURN(std::string digest, hasher->finish_hex());
      hasher.reset();
      close_file();
      if (digest != p.sha256)
        return data_loss("backup: '" + p.file.string() + "' no longer matches its sha256 " + p.sha256 +
                         " (it hashes to " + digest + "); the store is damaged, run a verify");
    }
    return static_cast<size_t>(n);
  }
};

BackupStream::BackupStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BackupStream::~BackupStream() = default;

Result<std::unique_ptr<BackupStream>> BackupStream::create(const registry::Registry& registry,
                                                           const store::BlobStore& blobs, const fs::path& tmp_dir,
                                                           std::string created_at, int64_t mtime) {
  auto impl = std::make_unique<Impl>();
  std::error_code ec;
  fs::create_directories(tmp_dir, ec);
  if (ec) return internal_error("backup: cannot create '" + tmp_dir.string() + "': " + ec.message());
  // A unique name that does not exist yet (VACUUM INTO refuses an existing file).
  std::string pattern = (tmp_dir / "backup-XXXXXX").string();
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0)
    return internal_error("backup: cannot create a file in '" + tmp_dir.string() + "': " + std::strerror(errno));
  ::close(fd);
  ::unlink(pattern.c_str());
  impl->snapshot = pattern + ".db";

  // 1. The registry, as of one moment.
  QUIVER_RETURN_IF_ERROR(registry.snapshot_to(impl->snapshot));
  Manifest& m = impl->manifest;
  m.created_at = std::move(created_at);
  const uintmax_t snapshot_size = fs::file_size(impl->snapshot, ec);
  if (ec) return internal_error("backup: cannot read the registry snapshot's size: " + ec.message());
  m.registry_size = snapshot_size;
  QUIVER_ASSIGN_OR_RETURN(m.registry_sha256, store::sha256_file_hex(impl->snapshot));

  // 2. Every blob that snapshot names; immutable, so reading them later is consistent.
  QUIVER_ASSIGN_OR_RETURN(std::vector<std::string> named, registry::blobs_named_in(impl->snapshot));
  std::vector<Part> blob_parts;
  for (const std::string& sha : named) {
    auto path = blobs.path_of(sha);
    if (!path.is_ok())
      return not_found("backup: the registry names blob " + sha + ", which is missing from the blob store");
    QUIVER_ASSIGN_OR_RETURN(store::BlobInfo info, blobs.stat(sha));
    m.blobs.push_back({sha, info.size});
    Part p;
    p.file = *path;
    p.size = info.size;
    p.sha256 = sha;
    QUIVER_ASSIGN_OR_RETURN(p.header, tar_file_header(std::string(kBlobPrefix) + sha, info.size, mtime));
    blob_parts.push_back(std::move(p));
  }

  Part manifest_part;
  manifest_part.inline_data = m.to_json();
  manifest_part.size = manifest_part.inline_data.size();
  QUIVER_ASSIGN_OR_RETURN(manifest_part.header, tar_file_header(kManifestName, manifest_part.size, mtime));
  Part registry_part;
  registry_part.file = impl->snapshot;
  registry_part.size = m.registry_size;
  registry_part.sha256 = m.registry_sha256;
  QUIVER_ASSIGN_OR_RETURN(registry_part.header, tar_file_header(kRegistryName, m.registry_size, mtime));

  impl->parts.push_back(std::move(manifest_part));
  impl->parts.push_back(std::move(registry_part));
  for (Part& p : blob_parts) impl->parts.push_back(std::move(p));
  impl->size = kTarTrailerSize;
  for (const Part& p : impl->parts) impl->size += p.total();
  return std::unique_ptr<BackupStream>(new BackupStream(std::move(impl)));
}

uint64_t BackupStream::size() const { return impl_->size; }

const Manifest& BackupStream::manifest() const { return impl_->manifest; }

Result<size_t> BackupStream::read(std::span<std::byte> out) {
  Impl& s = *impl_;
  size_t filled = 0;
  while (filled < out.size()) {
    std::span<std::byte> rest = out.subspan(filled);
    if (s.part == s.parts.size()) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(rest.size(), kTarTrailerSize - s.trailer_sent));
      if (n == 0) break;
      std::fill_n(rest.begin(), n, std::byte{0});
      s.trailer_sent += n;
      filled += n;
      continue;
    }
    Part& p = s.parts[s.part];
    size_t n = 0;
    if (s.offset < kTarBlock) {
      n = static_cast<size_t>(std::min<uint64_t>(rest.size(), kTarBlock - s.offset));
      std::copy_n(p.header.begin() + static_cast<std::ptrdiff_t>(s.offset), n, rest.begin());
    } else if (s.offset < kTarBlock + p.size) {
      QUIVER_ASSIGN_OR_RETURN(n, s.read_data(p, s.offset - kTarBlock, rest));
    } else {
      n = static_cast<size_t>(std::min<uint64_t>(rest.size(), p.total() - s.offset));
      std::fill_n(rest.begin(), n, std::byte{0});
    }
    s.offset += n;
    filled += n;
    if (s.offset == p.total()) {
      s.part += 1;
      s.offset = 0;
    }
  }
  return filled;
}

}  // namespace quiver::backup

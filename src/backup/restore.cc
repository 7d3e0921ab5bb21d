#include "backup/restore.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "backup/tar.h"
#include "registry/registry.h"
#include "store/blob_store.h"
#include "store/sha256.h"

namespace quiver::backup {
namespace fs = std::filesystem;

namespace {

using Chunk = std::span<const std::byte>;

// Reads tar entries front to back from a stream.
class TarReader {
 public:
  explicit TarReader(std::istream& in) : in_(in), buffer_(1 << 20) {}

  // The next entry's header, or nullopt at the end-of-archive block.
  Result<std::optional<TarEntry>> next() {
    TarBlock block;
    QUIVER_RETURN_IF_ERROR(read_exactly(block.data(), block.size()));
    return parse_tar_header(block);
  }

  // The current entry's data, in pieces, then its padding.
  Status read_data(uint64_t size, const std::function<Status(Chunk)>& sink) {
    uint64_t left = size;
    while (left > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, buffer_.size()));
      QUIVER_RETURN_IF_ERROR(read_exactly(buffer_.data(), n));
      QUIVER_RETURN_IF_ERROR(sink(Chunk(buffer_.data(), n)));
      left -= n;
    }
    return read_exactly(buffer_.data(), static_cast<size_t>(tar_padding(size)));
  }

  uint64_t bytes_read() const { return bytes_read_; }

 private:
  Status read_exactly(std::byte* out, size_t n) {
    if (n == 0) return Status::ok();
    in_.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(n));
    const auto got = static_cast<size_t>(in_.gcount());
    bytes_read_ += got;
    if (got != n)
      return data_loss("the archive ends early, after " + std::to_string(bytes_read_) +
                       " bytes (an interrupted download?)");
    return Status::ok();
  }

  std::istream& in_;
  std::vector<std::byte> buffer_;
  uint64_t bytes_read_ = 0;
};

// Where restored bytes go; absent when only verifying.
class Restorer {
 public:
  explicit Restorer(fs::path data_dir) : dir_(std::move(data_dir)) {}

  ~Restorer() {
    if (!done_) undo();
  }

  Status prepare() {
    std::error_code ec;
    if (fs::exists(dir_, ec)) {
      if (!fs::is_directory(dir_, ec)) return failed_precondition("'" + dir_.string() + "' is not a directory");
      if (!fs::is_empty(dir_, ec))
        return failed_precondition("'" + dir_.string() +
                                   "' is not empty; restore into a new, empty data directory (a restore never "
                                   "overwrites or mixes with existing data)");
    } else {
      fs::create_directories(dir_, ec);
      if (ec) return internal_error("cannot create '" + dir_.string() + "': " + ec.message());
      created_dir_ = true;
    }
    prepared_ = true;
    QUIVER_ASSIGN_OR_RETURN(store_, store::BlobStore::open(dir_));
    return Status::ok();
  }

  Status registry_begin() {
    const fs::path path = dir_ / std::string(kRegistryName);
    registry_fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (registry_fd_ < 0) return internal_error("cannot create '" + path.string() + "': " + std::strerror(errno));
    return Status::ok();
  }

  Status registry_chunk(Chunk chunk) {
    const std::byte* p = chunk.data();
    size_t left = chunk.size();
    while (left > 0) {
      const ssize_t n = ::write(registry_fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return internal_error(std::string("writing the restored registry failed: ") + std::strerror(errno));
      p += n;
      left -= static_cast<size_t>(n);
    }
    return Status::ok();
  }

  Status registry_end() {
    const int rc = ::fsync(registry_fd_);
    ::close(registry_fd_);
    registry_fd_ = -1;
    if (rc != 0) return internal_error(std::string("fsync of the restored registry failed: ") + std::strerror(errno));
    return Status::ok();
  }

  Status blob_begin() {
    QUIVER_ASSIGN_OR_RETURN(blob_, store_->begin_upload());
    return Status::ok();
  }
  Status blob_chunk(Chunk chunk) { return blob_->append(chunk); }
  Status blob_commit(const std::string& sha256) {
    QUIVER_ASSIGN_OR_RETURN(store::BlobInfo info, blob_->commit());
    blob_.reset();
    if (info.sha256 != sha256) return data_loss("blob " + sha256 + " was stored as " + info.sha256);
    return Status::ok();
  }
  void blob_abandon() { blob_.reset(); }

  // Opens the restored registry the way a server will, and checks it names only
  // blobs that were restored.
  Status finish(const std::set<std::string>& restored_blobs) {
    const fs::path db = dir_ / std::string(kRegistryName);
    QUIVER_ASSIGN_OR_RETURN(std::vector<std::string> named, registry::blobs_named_in(db));
    for (const auto& sha : named)
      if (!restored_blobs.count(sha))
        return data_loss("the archive's registry names blob " + sha + ", which the archive does not hold");
    {
      auto opened = registry::Registry::open(db);
      if (!opened.is_ok()) return opened.status().with_context("the restored registry cannot be opened");
    }
    done_ = true;
    return Status::ok();
  }

 private:
  void undo() {
    if (registry_fd_ >= 0) ::close(registry_fd_);
    blob_.reset();
    store_.reset();
    if (!prepared_) return;
    std::error_code ec;
    if (created_dir_) {
      fs::remove_all(dir_, ec);
      return;
    }
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code remove_ec;
      fs::remove_all(it->path(), remove_ec);
    }
  }

  fs::path dir_;
  bool prepared_ = false;
  bool created_dir_ = false;
  bool done_ = false;
  int registry_fd_ = -1;
  std::unique_ptr<store::BlobStore> store_;
  std::unique_ptr<store::BlobWriter> blob_;
};

Status expect_regular(const TarEntry& e) {
  if (e.type != '0' && e.type != '\0')
    return data_loss("archive entry '" + e.name + "' is not a regular file; a Quiver backup holds only files");
  return Status::ok();
}

// Reads `size` bytes into the hasher (and the sink) and returns their sha256.
Result<std::string> hash_entry(TarReader& reader, uint64_t size, const std::function<Status(Chunk)>& sink) {
  QUIVER_ASSIGN_OR_RETURN(store::Sha256 hasher, store::Sha256::create());
  auto hash_and_sink = [&](Chunk chunk) -> Status {
    QUIVER_RETURN_IF_ERROR(hasher.update(chunk));
    return sink ? sink(chunk) : Status::ok();
  };
  QUIVER_RETURN_IF_ERROR(reader.read_data(size, hash_and_sink));
  return hasher.finish_hex();
}

Result<ArchiveReport> process(std::istream& in, Restorer* restorer) {
  TarReader reader(in);
  ArchiveReport report;

  // 1. The manifest.
  QUIVER_ASSIGN_OR_RETURN(std::optional<TarEntry> first, reader.next());
  if (!first || first->name != kManifestName)
    return data_loss("not a Quiver backup: the archive does not start with " + std::string(kManifestName));
  QUIVER_RETURN_IF_ERROR(expect_regular(*first));
  if (first->size > kMaxManifestBytes) return data_loss("the backup manifest is implausibly large");
  std::string manifest_text;
  auto collect = [&](Chunk c) {
    manifest_text.append(reinterpret_cast<const char*>(c.data()), c.size());
    return Status::ok();
  };
  QUIVER_RETURN_IF_ERROR(reader.read_data(first->size, collect));
  QUIVER_ASSIGN_OR_RETURN(report.manifest, Manifest::from_json(manifest_text));
  const Manifest& m = report.manifest;

  // 2. The registry snapshot.
  QUIVER_ASSIGN_OR_RETURN(std::optional<TarEntry> second, reader.next());
  if (!second || second->name != kRegistryName)
    return data_loss("the backup has no " + std::string(kRegistryName) + " after its manifest");
  QUIVER_RETURN_IF_ERROR(expect_regular(*second));
  if (second->size != m.registry_size)
    return data_loss("the registry in the archive has " + std::to_string(second->size) + " bytes, the manifest says " +
                     std::to_string(m.registry_size));
  if (restorer) QUIVER_RETURN_IF_ERROR(restorer->registry_begin());
  std::function<Status(Chunk)> registry_sink;
  if (restorer) registry_sink = [restorer](Chunk c) { return restorer->registry_chunk(c); };
  QUIVER_ASSIGN_OR_RETURN(std::string registry_sha, hash_entry(reader, second->size, registry_sink));
  if (registry_sha != m.registry_sha256)
    return data_loss("the registry in the archive is corrupt: its sha256 is " + registry_sha + ", the manifest says " +
                     m.registry_sha256);
  if (restorer) QUIVER_RETURN_IF_ERROR(restorer->registry_end());

  // 3. The blobs, each checked against its name.
  std::map<std::string, uint64_t> expected;
  for (const auto& b : m.blobs) expected.emplace(b.sha256, b.size);
  std::set<std::string> seen;
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(std::optional<TarEntry> entry, reader.next());
    if (!entry) {
      // The end is two zero blocks; only a complete archive has the second.
      QUIVER_ASSIGN_OR_RETURN(std::optional<TarEntry> second_end, reader.next());
      if (second_end) return data_loss("the archive has entries after its end marker");
      break;
    }
    QUIVER_RETURN_IF_ERROR(expect_regular(*entry));
    const std::string_view name = entry->name;
    const std::string sha = name.starts_with(kBlobPrefix) ? std::string(name.substr(kBlobPrefix.size())) : "";
    if (!store::is_valid_sha256(sha))
      return data_loss("unexpected entry '" + entry->name + "' in the archive; a Quiver backup holds only " +
                       std::string(kManifestName) + ", " + std::string(kRegistryName) + " and " +
                       std::string(kBlobPrefix) + "<sha256>");
    auto listed = expected.find(sha);
    if (listed == expected.end()) return data_loss("blob " + sha + " is in the archive but not in its manifest");
    if (!seen.insert(sha).second) return data_loss("blob " + sha + " appears twice in the archive");
    if (listed->second != entry->size)
      return data_loss("blob " + sha + " has " + std::to_string(entry->size) + " bytes, the manifest says " +
                       std::to_string(listed->second));
    if (restorer) QUIVER_RETURN_IF_ERROR(restorer->blob_begin());
    std::function<Status(Chunk)> blob_sink;
    if (restorer) blob_sink = [restorer](Chunk c) { return restorer->blob_chunk(c); };
    QUIVER_ASSIGN_OR_RETURN(std::string actual, hash_entry(reader, entry->size, blob_sink));
    if (actual != sha) {
      if (restorer) restorer->blob_abandon();
      return data_loss("blob " + sha + " in the archive is corrupt: its bytes hash to " + actual);
    }
    if (restorer) QUIVER_RETURN_IF_ERROR(restorer->blob_commit(sha));
  }
  if (seen.size() != expected.size()) {
    for (const auto& [sha, size] : expected)
      if (!seen.count(sha))
        return data_loss("the archive lacks blob " + sha + " (" + std::to_string(expected.size() - seen.size()) +
                         " of the " + std::to_string(expected.size()) + " its manifest lists are missing)");
  }
  if (restorer) QUIVER_RETURN_IF_ERROR(restorer->finish(seen));
  report.archive_bytes = reader.bytes_read();
  return report;
}

}  // namespace

Result<ArchiveReport> verify_archive(std::istream& in) { return process(in, nullptr); }

Result<ArchiveReport> restore_archive(std::istream& in, const fs::path& data_dir) {
  Restorer restorer(data_dir);
  QUIVER_RETURN_IF_ERROR(restorer.prepare());
  return process(in, &restorer);
}

}  // namespace quiver::backup

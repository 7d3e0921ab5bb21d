#include "store/blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "store/sha256.h"

namespace quiver::store {
namespace fs = std::filesystem;

namespace {

std::string errno_text() { return std::strerror(errno); }
std::string errno_text(int err) { return std::strerror(err); }

// ENOSPC and EDQUOT: the disk (or the user's quota) is full. A client can do nothing
// about it but wait for an operator, so it is InsufficientStorage (HTTP 507), not a
// server bug (500).
bool is_out_of_space(int err) { return err == ENOSPC || err == EDQUOT; }

// `what` failed with `err`: InsufficientStorage for a full disk, Internal otherwise.
Status io_error(const std::string& what, int err) {
  std::string message = what + ": " + errno_text(err);
  if (is_out_of_space(err))
    return insufficient_storage(message + " (the disk holding the blob store is full; free space or grow it)");
  return internal_error(std::move(message));
}

Status io_error(const std::string& what, const std::error_code& ec) {
  if (ec.category() == std::generic_category() || ec.category() == std::system_category())
    return io_error(what, ec.value());
  return internal_error(what + ": " + ec.message());
}

Status malformed_sha(const std::string& sha256) {
  return invalid_argument("'" + sha256 + "' is not a sha256 digest (64 lower-case hex characters)");
}

// A directory entry (a rename, a new file) is durable only once the directory itself
// is fsynced; without this a crash after commit() could lose a blob we reported stored.
Status fsync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return internal_error("cannot open directory '" + dir.string() + "': " + errno_text());
  const int rc = ::fsync(fd);
  const std::string err = rc != 0 ? errno_text() : "";
  ::close(fd);
  if (rc != 0) return internal_error("fsync of directory '" + dir.string() + "' failed: " + err);
  return Status::ok();
}

class FileBlobWriter final : public BlobWriter {
 public:
  FileBlobWriter(fs::path blobs_dir, fs::path temp_path, int fd, Sha256 hasher, const BlobStoreIo& io)
      : blobs_dir_(std::move(blobs_dir)),
        temp_path_(std::move(temp_path)),
        fd_(fd),
        hasher_(std::move(hasher)),
        io_(io) {}

  ~FileBlobWriter() override { discard(); }

  Status append(std::span<const std::byte> data) override {
    if (committed_) return failed_precondition("blob upload: append after commit");
    if (!broken_.is_ok()) return broken_;
    const std::byte* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      const ssize_t n = io_.write(fd_, p, left);
      if (n < 0) {
        const int err = errno;
        if (err == EINTR) continue;
        broken_ = io_error("writing blob upload '" + temp_path_.string() + "' failed after " +
                               std::to_string(written_ + (data.size() - left)) + " bytes",
                           err);
        // Give the space back now, not when the connection lets go of the upload:
        // on a full disk every byte counts for the writes that follow.
        discard();
        return broken_;
      }
      if (n == 0) {  // write(2) makes no progress only when something is badly wrong
        broken_ = internal_error("writing blob upload '" + temp_path_.string() + "' made no progress");
        discard();
        return broken_;
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    if (Status st = hasher_.update(data); !st.is_ok()) {
      broken_ = st;
      return st;
    }
    written_ += data.size();
    return Status::ok();
  }

  Result<BlobInfo> commit() override {
    if (committed_) return failed_precondition("blob upload: commit called twice");
    if (!broken_.is_ok()) return broken_;
    committed_ = true;
    QUIVER_ASSIGN_OR_RETURN(std::string hex, hasher_.finish_hex());
    BlobInfo info{hex, written_};

    const fs::path shard = blobs_dir_ / hex.substr(0, 2);
    const fs::path target = shard / hex;
    std::error_code ec;
    if (fs::is_regular_file(target, ec)) {
      // Same bytes already stored: keep the existing copy, drop ours.
      close_fd();
      ::unlink(temp_path_.c_str());
      temp_path_.clear();
      return info;
    }
    // From here on a failure removes the temporary file at once (see append()).
    auto fail = [this](Status status) -> Status {
      discard();
      return status;
    };
    // Stored blobs are never modified in place; read-only makes an accidental write fail.
    if (::fchmod(fd_, 0444) != 0) return fail(io_error("cannot make blob upload read-only", errno));
    // A file system that allocates lazily (ext4 delalloc, XFS, NFS) may report a full
    // disk only here.
    if (io_.fsync(fd_) != 0) return fail(io_error("fsync of blob upload '" + temp_path_.string() + "' failed", errno));
    close_fd();
    const bool created_shard = fs::create_directories(shard, ec);
    if (ec) return fail(io_error("cannot create '" + shard.string() + "'", ec));
    // Two concurrent uploads of the same bytes may both get here; rename replaces
    // atomically and both files hold identical bytes, so either outcome is correct.
    if (::rename(temp_path_.c_str(), target.c_str()) != 0)
      return fail(io_error("cannot move blob into '" + target.string() + "'", errno));
    temp_path_.clear();
    QUIVER_RETURN_IF_ERROR(fsync_directory(shard));
    if (created_shard) QUIVER_RETURN_IF_ERROR(fsync_directory(blobs_dir_));
    return info;
  }

  uint64_t bytes_written() const override { return written_; }

 private:
  void close_fd() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Closes and removes the temporary file (idempotent).
  void discard() {
    close_fd();
    if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }

  fs::path blobs_dir_;
  fs::path temp_path_;  // empty once moved into place or removed
  int fd_ = -1;
  Sha256 hasher_;
  const BlobStoreIo io_;  // a copy: a writer may outlive its store
  uint64_t written_ = 0;
  bool committed_ = false;
  Status broken_;  // first write error; the upload cannot continue after one
};

class FileBlobStore final : public BlobStore {
 public:
  FileBlobStore(fs::path blobs_dir, fs::path tmp_dir, BlobStoreIo io)
      : blobs_dir_(std::move(blobs_dir)), tmp_dir_(std::move(tmp_dir)), io_(std::move(io)) {}

  Result<std::unique_ptr<BlobWriter>> begin_upload() override {
    std::string pattern = (tmp_dir_ / "upload-XXXXXX").string();
    const int fd = ::mkostemp(pattern.data(), O_CLOEXEC);
    if (fd < 0) return io_error("cannot create a temporary file in '" + tmp_dir_.string() + "'", errno);
    Result<Sha256> hasher = Sha256::create();
    if (!hasher.is_ok()) {
      ::close(fd);
      ::unlink(pattern.c_str());
      return hasher.status();
    }
    return std::unique_ptr<BlobWriter>(
        std::make_unique<FileBlobWriter>(blobs_dir_, fs::path(pattern), fd, std::move(hasher).value(), io_));
  }

  Result<BlobInfo> put(std::span<const std::byte> data) override {
    QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<BlobWriter> writer, begin_upload());
    QUIVER_RETURN_IF_ERROR(writer->append(data));
    return writer->commit();
  }

  bool exists(const std::string& sha256) const override {
    if (!is_valid_sha256(sha256)) return false;
    std::error_code ec;
    return fs::is_regular_file(blob_path(sha256), ec);
  }

  Result<BlobInfo> stat(const std::string& sha256) const override {
    QUIVER_ASSIGN_OR_RETURN(fs::path path, path_of(sha256));
    std::error_code ec;
    const uintmax_t size = fs::file_size(path, ec);
    if (ec) return internal_error("cannot read the size of '" + path.string() + "': " + ec.message());
    return BlobInfo{sha256, static_cast<uint64_t>(size)};
  }

  Result<fs::path> path_of(const std::string& sha256) const override {
    if (!is_valid_sha256(sha256)) return malformed_sha(sha256);
    fs::path path = blob_path(sha256);
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return not_found("blob " + sha256 + " not found");
    return path;
  }

  Status verify(const std::string& sha256) const override {
    QUIVER_ASSIGN_OR_RETURN(fs::path path, path_of(sha256));
    Result<std::string> actual = sha256_file_hex(path);
    if (!actual.is_ok()) return actual.status().with_context("verifying blob " + sha256);
    if (*actual != sha256)
      return data_loss("blob " + sha256 + " is corrupt: its bytes now hash to " + *actual);
    return Status::ok();
  }

 private:
  fs::path blob_path(const std::string& sha256) const { return blobs_dir_ / sha256.substr(0, 2) / sha256; }

  fs::path blobs_dir_;
  fs::path tmp_dir_;
  const BlobStoreIo io_;
};

// Proves the store writable by creating (and removing) a file where uploads go. A
// data directory on a read-only mount, or one this user may not write, fails here,
// at start-up, naming the directory, instead of at the first upload. Creating a
// file, not access(2): root passes access() on a read-only mount's directories.
Status check_writable(const fs::path& root, const fs::path& tmp_dir) {
  std::string probe = (tmp_dir / "write-check-XXXXXX").string();
  const int fd = ::mkostemp(probe.data(), O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return io_error("data directory '" + root.string() + "' is not writable: cannot create a file in '" +
                        tmp_dir.string() + "'",
                    err);
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return Status::ok();
}

}  // namespace

bool is_valid_sha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Result<std::unique_ptr<BlobStore>> BlobStore::open(const fs::path& root, BlobStoreIo io) {
  if (!io.write) io.write = [](int fd, const void* data, size_t size) { return ::write(fd, data, size); };
  if (!io.fsync) io.fsync = [](int fd) { return ::fsync(fd); };
  const fs::path blobs_dir = root / "blobs" / "sha256";
  const fs::path tmp_dir = root / "tmp";
  std::error_code ec;
  for (const fs::path& dir : {blobs_dir, tmp_dir}) {
    fs::create_directories(dir, ec);
    if (ec) {
      return io_error("data directory '" + root.string() + "' is not usable: cannot create blob store folder '" +
                          dir.string() + "'",
                      ec);
    }
  }
  // Anything in tmp/ is an upload that never committed (this process is the only
  // writer of the store, and it is just starting).
  for (fs::directory_iterator it(tmp_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code remove_ec;
    fs::remove_all(it->path(), remove_ec);
    if (remove_ec)
      return internal_error("cannot remove stale upload '" + it->path().string() + "': " + remove_ec.message());
  }
  if (ec) return internal_error("cannot list '" + tmp_dir.string() + "': " + ec.message());
  QUIVER_RETURN_IF_ERROR(check_writable(root, tmp_dir));
  return std::unique_ptr<BlobStore>(std::make_unique<FileBlobStore>(blobs_dir, tmp_dir, std::move(io)));
}

}  // namespace quiver::store

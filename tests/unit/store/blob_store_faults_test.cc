// The blob store on a disk that fails: full (ENOSPC), over quota (EDQUOT), broken
// (EIO), read-only. Write faults are injected through BlobStoreIo, on the real write
// path; tests/e2e/test_faults.py fills a real (tmpfs) disk end to end.
#include "store/blob_store.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include "unit/store/temp_dir.h"

namespace quiver::store {
namespace {

namespace fs = std::filesystem;

std::span<const std::byte> bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

size_t count_files(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) ++n;
  return n;
}

// A disk with `capacity` bytes left for uploads: a write beyond it is cut short, and
// the next one fails with `error` (what write(2) does when a disk fills mid-write).
struct FillingDisk {
  std::atomic<int64_t> capacity{0};
  int error = ENOSPC;

  BlobStoreIo io() {
    BlobStoreIo io;
    io.write = [this](int fd, const void* data, size_t size) -> ssize_t {
      const int64_t left = capacity.load();
      if (left <= 0) {
        errno = error;
        return -1;
      }
      const size_t n = std::min<size_t>(size, static_cast<size_t>(left));
      const ssize_t written = ::write(fd, data, n);
      if (written > 0) capacity -= written;
      return written;
    };
    return io;
  }
};

class BlobStoreFaultsTest : public ::testing::Test {
 protected:
  void open(BlobStoreIo io) {
    ASSERT_FALSE(dir_.path().empty());
    auto opened = BlobStore::open(root(), std::move(io));
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    store_ = std::move(opened).value();
  }
  fs::path root() const { return dir_.path() / "store"; }
  fs::path tmp() const { return root() / "tmp"; }
  fs::path blobs() const { return root() / "blobs" / "sha256"; }

  testing::TempDir dir_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(BlobStoreFaultsTest, ADiskThatFillsMidUploadIsInsufficientStorageAndLeavesNothing) {
  FillingDisk disk;
  disk.capacity = 1000;
  open(disk.io());
  auto writer = store_->begin_upload();
  ASSERT_TRUE(writer.is_ok());
  ASSERT_TRUE((*writer)->append(bytes_of(std::string(600, 'a'))).is_ok());
  const Status full = (*writer)->append(bytes_of(std::string(600, 'b')));
  EXPECT_EQ(full.code(), StatusCode::kInsufficientStorage) << full.to_string();
  EXPECT_NE(full.message().find("No space left on device"), std::string::npos) << full.message();
  EXPECT_NE(full.message().find("after 1000 bytes"), std::string::npos) << full.message();
  // The partial file is gone at once, while the upload object still exists: on a full
  // disk the space is needed now, not when the connection lets go.
  EXPECT_EQ(count_files(tmp()), 0u);
  EXPECT_EQ(count_files(blobs()), 0u);
  // The upload cannot go on, nor be committed.
  EXPECT_EQ((*writer)->append(bytes_of("c")).code(), StatusCode::kInsufficientStorage);
  EXPECT_EQ((*writer)->commit().status().code(), StatusCode::kInsufficientStorage);
  EXPECT_EQ(count_files(root()), 0u);

  // Space comes back: the store works again, with no restart.
  disk.capacity = 1 << 20;
  auto stored = store_->put(bytes_of("abc"));
  ASSERT_TRUE(stored.is_ok()) << stored.status().to_string();
  EXPECT_TRUE(store_->exists(stored->sha256));
  EXPECT_EQ(count_files(tmp()), 0u);
}

TEST_F(BlobStoreFaultsTest, AnExhaustedQuotaIsInsufficientStorageToo) {
  FillingDisk disk;
  disk.error = EDQUOT;
  open(disk.io());
  auto put = store_->put(bytes_of("abc"));
  EXPECT_EQ(put.status().code(), StatusCode::kInsufficientStorage) << put.status().to_string();
  EXPECT_NE(put.status().message().find("quota"), std::string::npos) << put.status().message();
  EXPECT_EQ(count_files(root()), 0u);
}

TEST_F(BlobStoreFaultsTest, OtherWriteErrorsStayInternalAndLeaveNothing) {
  FillingDisk disk;
  disk.error = EIO;
  open(disk.io());
  auto put = store_->put(bytes_of("abc"));
  EXPECT_EQ(put.status().code(), StatusCode::kInternal) << put.status().to_string();
  EXPECT_EQ(count_files(root()), 0u);
}

TEST_F(BlobStoreFaultsTest, AFullDiskReportedOnlyByFsyncFailsTheCommitAndLeavesNothing) {
  BlobStoreIo io;
  io.fsync = [](int) {
    errno = ENOSPC;
    return -1;
  };
  open(io);
  auto writer = store_->begin_upload();
  ASSERT_TRUE(writer.is_ok());
  ASSERT_TRUE((*writer)->append(bytes_of("abc")).is_ok());
  auto committed = (*writer)->commit();
  EXPECT_EQ(committed.status().code(), StatusCode::kInsufficientStorage) << committed.status().to_string();
  EXPECT_EQ(count_files(root()), 0u);
  EXPECT_FALSE(store_->exists("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}

// A read-only data directory is refused when the store opens, naming the directory.
// Root ignores permission bits, so as root the directory is a read-only tmpfs mount
// (skipped where mounting is not allowed); otherwise it is a folder without write
// permission.
TEST(BlobStoreOpenTest, AReadOnlyDataDirectoryIsRefusedAtOpenNamingIt) {
  testing::TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const fs::path data = dir.path() / "data";
  {  // an existing store, made read-only afterwards, like a volume remounted ro
    auto first = BlobStore::open(data);
    ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  }
  bool mounted = false;
  if (::geteuid() == 0) {
    if (::mount(data.c_str(), data.c_str(), nullptr, MS_BIND, nullptr) != 0)
      GTEST_SKIP() << "running as root and cannot bind-mount: " << std::strerror(errno);
    mounted = true;
    if (::mount(nullptr, data.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      const int err = errno;
      ::umount2(data.c_str(), MNT_DETACH);
      GTEST_SKIP() << "running as root and cannot remount read-only: " << std::strerror(err);
    }
  } else {
    fs::permissions(data / "tmp", fs::perms::owner_read | fs::perms::owner_exec);
  }
  auto opened = BlobStore::open(data);
  if (mounted) ::umount2(data.c_str(), MNT_DETACH);
  fs::permissions(data / "tmp", fs::perms::owner_all);
  ASSERT_FALSE(opened.is_ok());
  EXPECT_NE(opened.status().message().find("data directory '" + data.string() + "' is not writable"),
            std::string::npos)
      << opened.status().message();
  EXPECT_TRUE(fs::is_empty(data / "tmp"));
}

}  // namespace
}  // namespace quiver::store

#include "store/blob_store.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <set>
#include <thread>
#include <vector>

#include "store/sha256.h"
#include "unit/store/temp_dir.h"

namespace quiver::store {
namespace {

namespace fs = std::filesystem;

// sha256("abc"), from FIPS 180-2.
constexpr const char* kAbcSha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::span<const std::byte> bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

size_t count_files(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) ++n;
  return n;
}

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    auto opened = BlobStore::open(root());
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    store_ = std::move(opened).value();
  }
  fs::path root() const { return dir_.path() / "store"; }
  fs::path tmp() const { return root() / "tmp"; }
  fs::path blobs() const { return root() / "blobs" / "sha256"; }

  testing::TempDir dir_;
  std::unique_ptr<BlobStore> store_;
};

TEST(Sha256Test, KnownDigests) {
  EXPECT_EQ(*sha256_hex(bytes_of("abc")), kAbcSha);
  EXPECT_EQ(*sha256_hex({}), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256Test, ValidShaFormat) {
  EXPECT_TRUE(is_valid_sha256(kAbcSha));
  EXPECT_FALSE(is_valid_sha256(std::string(kAbcSha).substr(1)));
  std::string upper = kAbcSha;
  upper[0] = 'B';
  EXPECT_FALSE(is_valid_sha256(upper));
  EXPECT_FALSE(is_valid_sha256(std::string(64, 'g')));
  EXPECT_FALSE(is_valid_sha256(""));
}

TEST_F(BlobStoreTest, PutThenReadBackUnderContentAddress) {
  auto info = store_->put(bytes_of("abc"));
  ASSERT_TRUE(info.is_ok()) << info.status().to_string();
  EXPECT_EQ(info->sha256, kAbcSha);
  EXPECT_EQ(info->size, 3u);
  EXPECT_TRUE(store_->exists(kAbcSha));

  auto path = store_->path_of(kAbcSha);
  ASSERT_TRUE(path.is_ok());
  EXPECT_EQ(*path, blobs() / "ba" / kAbcSha);
  EXPECT_EQ(read_file(*path), "abc");

  auto st = store_->stat(kAbcSha);
  ASSERT_TRUE(st.is_ok());
  EXPECT_EQ(st->size, 3u);
  EXPECT_EQ(st->sha256, kAbcSha);
  EXPECT_TRUE(store_->verify(kAbcSha).is_ok());
}

TEST_F(BlobStoreTest, EmptyBlobIsStorable) {
  auto info = store_->put({});
  ASSERT_TRUE(info.is_ok());
  EXPECT_EQ(info->size, 0u);
  EXPECT_TRUE(store_->exists(info->sha256));
}

TEST_F(BlobStoreTest, SameBytesTwiceAreStoredOnce) {
  auto first = store_->put(bytes_of("model bytes"));
  auto second = store_->put(bytes_of("model bytes"));
  ASSERT_TRUE(first.is_ok() && second.is_ok());
  EXPECT_EQ(first->sha256, second->sha256);
  EXPECT_EQ(count_files(blobs()), 1u);
  EXPECT_EQ(count_files(tmp()), 0u);
}

TEST_F(BlobStoreTest, StreamingInManyChunksEqualsOnePut) {
  std::string content;
  for (int i = 0; i < 100000; ++i) content += static_cast<char>('a' + i % 26);

  auto writer = store_->begin_upload();
  ASSERT_TRUE(writer.is_ok());
  for (size_t off = 0; off < content.size(); off += 997) {
    const size_t n = std::min<size_t>(997, content.size() - off);
    ASSERT_TRUE((*writer)->append(bytes_of(content.substr(off, n))).is_ok());
  }
  EXPECT_EQ((*writer)->bytes_written(), content.size());
  auto streamed = (*writer)->commit();
  ASSERT_TRUE(streamed.is_ok()) << streamed.status().to_string();

  EXPECT_EQ(streamed->sha256, *sha256_hex(bytes_of(content)));
  EXPECT_EQ(streamed->size, content.size());
  EXPECT_EQ(read_file(*store_->path_of(streamed->sha256)), content);

  auto whole = store_->put(bytes_of(content));
  ASSERT_TRUE(whole.is_ok());
  EXPECT_EQ(whole->sha256, streamed->sha256);
}

TEST_F(BlobStoreTest, WriterDestroyedWithoutCommitLeavesNothing) {
  {
    auto writer = store_->begin_upload();
    ASSERT_TRUE(writer.is_ok());
    ASSERT_TRUE((*writer)->append(bytes_of("abc")).is_ok());
    EXPECT_EQ(count_files(tmp()), 1u);  // the upload is in progress
  }
  EXPECT_FALSE(store_->exists(kAbcSha));
  EXPECT_EQ(count_files(tmp()), 0u);
  EXPECT_EQ(count_files(blobs()), 0u);
}

TEST_F(BlobStoreTest, WriterRefusesUseAfterCommit) {
  auto writer = store_->begin_upload();
  ASSERT_TRUE(writer.is_ok());
  ASSERT_TRUE((*writer)->commit().is_ok());
  EXPECT_EQ((*writer)->append(bytes_of("x")).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*writer)->commit().status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(BlobStoreTest, StaleTemporariesAreSweptOnReopen) {
  std::ofstream(tmp() / "upload-crashed") << "half an upload";
  fs::create_directories(tmp() / "leftover-dir");
  std::ofstream(tmp() / "leftover-dir" / "x") << "y";
  ASSERT_TRUE(store_->put(bytes_of("abc")).is_ok());

  auto reopened = BlobStore::open(root());
  ASSERT_TRUE(reopened.is_ok());
  EXPECT_TRUE(fs::is_empty(tmp()));
  EXPECT_TRUE((*reopened)->exists(kAbcSha));  // committed blobs survive
}

TEST_F(BlobStoreTest, VerifyDetectsCorruption) {
  ASSERT_TRUE(store_->put(bytes_of("abc")).is_ok());
  const fs::path path = *store_->path_of(kAbcSha);
  fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "abd";

  Status st = store_->verify(kAbcSha);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_NE(st.message().find(kAbcSha), std::string::npos) << st.message();
}

TEST_F(BlobStoreTest, UnknownAndMalformedNames) {
  const std::string unknown(64, 'a');
  EXPECT_FALSE(store_->exists(unknown));
  EXPECT_EQ(store_->stat(unknown).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->path_of(unknown).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->verify(unknown).code(), StatusCode::kNotFound);

  for (const std::string& bad : {std::string("abc"), std::string("../../etc/passwd"), std::string(64, 'A')}) {
    EXPECT_FALSE(store_->exists(bad));
    EXPECT_EQ(store_->stat(bad).status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->path_of(bad).status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->verify(bad).code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST_F(BlobStoreTest, ConcurrentUploadsOfTheSameContent) {
  const std::string content(200000, 'q');
  constexpr int kThreads = 8;
  std::vector<Result<BlobInfo>> results(kThreads, Result<BlobInfo>(internal_error("not run")));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto writer = store_->begin_upload();
      if (!writer.is_ok()) {
        results[t] = writer.status();
        return;
      }
      for (size_t off = 0; off < content.size(); off += 4096) {
        Status st = (*writer)->append(bytes_of(content.substr(off, 4096)));
        if (!st.is_ok()) {
          results[t] = st;
          return;
        }
      }
      results[t] = (*writer)->commit();
    });
  }
  for (auto& th : threads) th.join();

  std::set<std::string> digests;
  for (const auto& r : results) {
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    digests.insert(r->sha256);
  }
  ASSERT_EQ(digests.size(), 1u);
  EXPECT_EQ(count_files(blobs()), 1u);
  EXPECT_EQ(count_files(tmp()), 0u);
  EXPECT_TRUE(store_->verify(*digests.begin()).is_ok());
}

}  // namespace
}  // namespace quiver::store

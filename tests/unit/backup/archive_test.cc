// Backup archives: the tar format, a backup of a live registry and blob store, and
// restores that check everything (a corrupt blob, a truncated archive, a non-empty
// target directory are refused, and leave nothing behind).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "backup/archive.h"
#include "backup/backup_stream.h"
#include "backup/restore.h"
#include "backup/tar.h"
#include "registry/registry.h"
#include "store/blob_store.h"
#include "unit/store/temp_dir.h"

namespace quiver::backup {
namespace {

namespace fs = std::filesystem;

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

TEST(TarTest, HeaderRoundTrips) {
  auto header = tar_file_header("blobs/sha256/abc", 1234, 1700000000);
  ASSERT_TRUE(header.is_ok()) << header.status().to_string();
  auto parsed = parse_tar_header(*header);
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  ASSERT_TRUE(parsed->has_value());
  EXPECT_EQ((*parsed)->name, "blobs/sha256/abc");
  EXPECT_EQ((*parsed)->size, 1234u);
  EXPECT_EQ((*parsed)->type, '0');
  // ustar magic where tar tools look for it.
  EXPECT_EQ(std::memcmp(header->data() + 257, "ustar", 5), 0);
}

TEST(TarTest, HugeSizesUseBase256) {
  const uint64_t size = (uint64_t{1} << 33) + 12345;  // over the 8 GiB octal limit
  auto header = tar_file_header("registry.db", size, 0);
  ASSERT_TRUE(header.is_ok());
  auto parsed = parse_tar_header(*header);
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_EQ((*parsed)->size, size);
}

TEST(TarTest, DamageAndEndAreRecognised) {
  auto header = tar_file_header("registry.db", 10, 0);
  ASSERT_TRUE(header.is_ok());
  TarBlock damaged = *header;
  damaged[3] = std::byte{'X'};
  EXPECT_EQ(parse_tar_header(damaged).status().code(), StatusCode::kDataLoss);
  TarBlock zero{};
  auto end = parse_tar_header(zero);
  ASSERT_TRUE(end.is_ok());
  EXPECT_FALSE(end->has_value());
  EXPECT_FALSE(tar_file_header(std::string(100, 'a'), 1, 0).is_ok());
  EXPECT_EQ(tar_padding(0), 0u);
  EXPECT_EQ(tar_padding(1), 511u);
  EXPECT_EQ(tar_padding(512), 0u);
}

TEST(ManifestTest, RoundTripsAndRejectsDamage) {
  Manifest m;
  m.created_at = "2025-01-01T00:00:00Z";
  m.registry_sha256 = std::string(64, 'a');
  m.registry_size = 4096;
  m.blobs = {{std::string(64, 'b'), 10}, {std::string(64, 'c'), 20}};
  auto back = Manifest::from_json(m.to_json());
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->registry_sha256, m.registry_sha256);
  ASSERT_EQ(back->blobs.size(), 2u);
  EXPECT_EQ(back->blob_bytes(), 30u);
  EXPECT_FALSE(Manifest::from_json("{}").is_ok());
  EXPECT_FALSE(Manifest::from_json("not json").is_ok());
  std::string newer = m.to_json();
  newer.replace(newer.find("\"format_version\": 1"), 19, "\"format_version\": 9");
  EXPECT_EQ(Manifest::from_json(newer).status().code(), StatusCode::kFailedPrecondition);
}

// A server's data directory with two registered versions, a dataset evaluation and an
// upload that no version names.
class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    data_ = dir_.path() / "data";
    auto store = store::BlobStore::open(data_);
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    store_ = std::move(store).value();
    auto reg = registry::Registry::open(data_ / "registry.db");
    ASSERT_TRUE(reg.is_ok()) << reg.status().to_string();
    registry_ = std::move(reg).value();
    v1_ = put("model one bytes");
    v2_ = put(std::string(100000, 'x'));  // spans several read pieces
    dataset_ = put("a,b\n1,2\n");
    unreferenced_ = put("uploaded but never registered");
    add_version(v1_);
    add_version(v2_);
    ASSERT_TRUE(registry_->add_evaluation("iris", 1, dataset_, "{}", actor_).is_ok());
  }

  std::string put(const std::string& bytes) {
    auto info = store_->put(bytes_of(bytes));
    EXPECT_TRUE(info.is_ok());
    return info->sha256;
  }

  void add_version(const std::string& sha) {
    registry::NewVersion v;
    v.model = "iris";
    v.framework = "onnx";
    v.artifact_sha256 = sha;
    v.size = 1;
    auto r = registry_->create_version(v, actor_);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }

  std::string make_archive(size_t piece = 4096) {
    auto stream = BackupStream::create(*registry_, *store_, data_ / "tmp", "2025-01-01T00:00:00Z", 1700000000);
    EXPECT_TRUE(stream.is_ok()) << stream.status().to_string();
    std::string out;
    std::vector<std::byte> buffer(piece);
    while (true) {
      auto n = (*stream)->read(buffer);
      EXPECT_TRUE(n.is_ok()) << n.status().to_string();
      if (!n.is_ok() || *n == 0) break;
      out.append(reinterpret_cast<const char*>(buffer.data()), *n);
    }
    EXPECT_EQ(out.size(), (*stream)->size());
    return out;
  }

  // Offset of a blob's data inside an archive.
  static size_t data_offset(const std::string& archive, const std::string& sha) {
    const size_t header = archive.find(std::string(kBlobPrefix) + sha + '\0');
    return header + kTarBlock;
  }

  testing::TempDir dir_;
  fs::path data_;
  std::unique_ptr<store::BlobStore> store_;
  std::unique_ptr<registry::Registry> registry_;
  registry::Actor actor_{"test", ""};
  std::string v1_, v2_, dataset_, unreferenced_;
};

TEST_F(BackupTest, ArchiveHoldsTheSnapshotAndTheBlobsItNames) {
  const std::string archive = make_archive();
  EXPECT_EQ(archive.size() % kTarBlock, 0u);
  std::istringstream in(archive);
  auto report = verify_archive(in);
  ASSERT_TRUE(report.is_ok()) << report.status().to_string();
  std::set<std::string> listed;
  for (const auto& b : report->manifest.blobs) listed.insert(b.sha256);
  EXPECT_EQ(listed, (std::set<std::string>{v1_, v2_, dataset_}));
  EXPECT_EQ(report->archive_bytes, archive.size());
  // The snapshot directory holds no leftover copy once the stream is gone.
  EXPECT_TRUE(fs::is_empty(data_ / "tmp"));
}

TEST_F(BackupTest, SnapshotIgnoresWritesAfterIt) {
  auto stream = BackupStream::create(*registry_, *store_, data_ / "tmp", "t", 0);
  ASSERT_TRUE(stream.is_ok());
  add_version(unreferenced_);  // a write while the backup streams
  std::string out;
  std::vector<std::byte> buffer(1 << 16);
  for (auto n = (*stream)->read(buffer); n.is_ok() && *n > 0; n = (*stream)->read(buffer))
    out.append(reinterpret_cast<const char*>(buffer.data()), *n);
  std::istringstream in(out);
  auto report = verify_archive(in);
  ASSERT_TRUE(report.is_ok()) << report.status().to_string();
  EXPECT_EQ(report->manifest.blobs.size(), 3u);  // not the version registered afterwards
}

TEST_F(BackupTest, RestoreBringsBackTheRegistryAndBlobs) {
  const std::string archive = make_archive(1000);  // odd piece size: crosses block edges
  std::istringstream in(archive);
  const fs::path target = dir_.path() / "restored";
  auto report = restore_archive(in, target);
  ASSERT_TRUE(report.is_ok()) << report.status().to_string();

  auto store = store::BlobStore::open(target);
  ASSERT_TRUE(store.is_ok());
  for (const auto& sha : {v1_, v2_, dataset_}) EXPECT_TRUE((*store)->verify(sha).is_ok()) << sha;
  EXPECT_FALSE((*store)->exists(unreferenced_));
  auto reg = registry::Registry::open(target / "registry.db");
  ASSERT_TRUE(reg.is_ok()) << reg.status().to_string();
  auto model = (*reg)->get_model("iris");
  ASSERT_TRUE(model.is_ok());
  EXPECT_EQ(model->versions, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ((*reg)->get_version("iris", 2)->artifact_sha256, v2_);
  EXPECT_EQ((*reg)->evaluations("iris", 1)->size(), 1u);
}

TEST_F(BackupTest, RestoreIntoAnExistingEmptyDirectoryWorks) {
  const fs::path target = dir_.path() / "empty";
  fs::create_directories(target);
  std::istringstream in(make_archive());
  EXPECT_TRUE(restore_archive(in, target).is_ok());
}

TEST_F(BackupTest, RestoreRefusesANonEmptyDirectoryAndLeavesItAlone) {
  const fs::path target = dir_.path() / "busy";
  fs::create_directories(target);
  std::ofstream(target / "registry.db") << "precious";
  std::istringstream in(make_archive());
  auto report = restore_archive(in, target);
  ASSERT_FALSE(report.is_ok());
  EXPECT_EQ(report.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(report.status().message().find("not empty"), std::string::npos) << report.status().message();
  std::ifstream kept(target / "registry.db");
  std::string text;
  kept >> text;
  EXPECT_EQ(text, "precious");
}

TEST_F(BackupTest, RestoreRefusesACorruptBlobAndRemovesWhatItWrote) {
  std::string archive = make_archive();
  archive[data_offset(archive, v2_) + 500] ^= 0x01;
  std::istringstream in(archive);
  const fs::path target = dir_.path() / "restored";
  auto report = restore_archive(in, target);
  ASSERT_FALSE(report.is_ok());
  EXPECT_EQ(report.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(report.status().message().find("blob " + v2_ + " in the archive is corrupt"), std::string::npos)
      << report.status().message();
  EXPECT_FALSE(fs::exists(target));

  std::istringstream again(archive);
  EXPECT_EQ(verify_archive(again).status().code(), StatusCode::kDataLoss);
}

TEST_F(BackupTest, RestoreRefusesACorruptRegistry) {
  std::string archive = make_archive();
  // The header's NUL-padded name (the manifest names the file too, in quotes).
  const size_t registry_data = archive.find(std::string(kRegistryName) + '\0') + kTarBlock;
  archive[registry_data + 100] ^= 0x40;
  std::istringstream in(archive);
  const fs::path target = dir_.path() / "empty";
  fs::create_directories(target);
  auto report = restore_archive(in, target);
  ASSERT_FALSE(report.is_ok());
  EXPECT_NE(report.status().message().find("registry in the archive is corrupt"), std::string::npos)
      << report.status().message();
  EXPECT_TRUE(fs::exists(target));  // it existed before: emptied, not removed
  EXPECT_TRUE(fs::is_empty(target));
}

TEST_F(BackupTest, TruncatedArchivesAreCaught) {
  const std::string archive = make_archive();
  for (size_t cut : {size_t{100}, archive.size() / 2, archive.size() - kTarTrailerSize}) {
    std::istringstream in(archive.substr(0, cut));
    auto report = verify_archive(in);
    ASSERT_FALSE(report.is_ok()) << "cut at " << cut;
    EXPECT_EQ(report.status().code(), StatusCode::kDataLoss);
  }
}

TEST_F(BackupTest, UnexpectedEntriesAreRefused) {
  std::string archive = make_archive();
  archive.resize(archive.size() - kTarTrailerSize);
  const std::string payload = "owned";
  auto header = tar_file_header("../../etc/cron.d/evil", payload.size(), 0);
  ASSERT_TRUE(header.is_ok());
  archive.append(reinterpret_cast<const char*>(header->data()), header->size());
  archive += payload;
  archive.append(tar_padding(payload.size()) + kTarTrailerSize, '\0');
  std::istringstream in(archive);
  const fs::path target = dir_.path() / "restored";
  auto report = restore_archive(in, target);
  ASSERT_FALSE(report.is_ok());
  EXPECT_NE(report.status().message().find("unexpected entry"), std::string::npos) << report.status().message();
  EXPECT_FALSE(fs::exists(target));
  EXPECT_FALSE(fs::exists(dir_.path() / "etc"));
}

TEST_F(BackupTest, NotABackupIsRefused) {
  std::istringstream in(std::string(4096, '\0'));
  auto report = verify_archive(in);
  ASSERT_FALSE(report.is_ok());
  EXPECT_NE(report.status().message().find("not a Quiver backup"), std::string::npos) << report.status().message();
}

}  // namespace
}  // namespace quiver::backup

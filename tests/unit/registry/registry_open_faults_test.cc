// Opening a registry database that is damaged or cannot be written: a clean refusal
// that names the file, never a crash and never a half-open registry.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "registry/sqlite_db.h"
#include "unit/registry/registry_test_util.h"

namespace quiver::registry {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kPageSize = 4096;

// A registry file of many pages (closed, its WAL checkpointed into it).
void fill_registry(const fs::path& path) {
  auto opened = Registry::open(path, std::make_shared<FakeClock>());
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  Actor actor;
  for (int m = 0; m < 40; ++m) {
    NewVersion v = onnx_version("model-" + std::to_string(m));
    v.description = std::string(600, static_cast<char>('a' + m % 26));
    for (int i = 0; i < 5; ++i) {
      v.artifact_sha256 = sha_of_char(static_cast<char>('a' + i));
      auto r = (*opened)->create_version(v, actor);
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    }
  }
}

// Overwrites page `page` (1-based) with bytes that are no b-tree page.
void overwrite_page(const fs::path& path, int64_t page) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good());
  f.seekp((page - 1) * kPageSize);
  std::vector<char> junk(kPageSize);
  for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 131 + 7) & 0xff);
  f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  ASSERT_TRUE(f.good());
}

class RegistryOpenFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()); }
  fs::path db_path() const { return dir_.path() / "registry.db"; }
  testing::TempDir dir_;
};

TEST_F(RegistryOpenFaultsTest, APageDamagedInTheMiddleIsRefusedAtOpenNamingTheFile) {
  fill_registry(db_path());
  ASSERT_FALSE(fs::exists(fs::path(db_path().string() + "-wal")) && fs::file_size(db_path().string() + "-wal") > 0);
  const int64_t pages = static_cast<int64_t>(fs::file_size(db_path())) / kPageSize;
  ASSERT_GE(pages, 20) << "the test needs a database of many pages";
  overwrite_page(db_path(), pages / 2);

  auto reopened = Registry::open(db_path(), std::make_shared<FakeClock>());
  ASSERT_FALSE(reopened.is_ok());
  EXPECT_EQ(reopened.status().code(), StatusCode::kDataLoss) << reopened.status().to_string();
  const std::string& m = reopened.status().message();
  EXPECT_NE(m.find("registry database '" + db_path().string() + "'"), std::string::npos) << m;
  EXPECT_NE(m.find("restore it from a backup"), std::string::npos) << m;
}

TEST_F(RegistryOpenFaultsTest, QuickCheckFindsDamageThatOpeningAloneDoesNot) {
  fill_registry(db_path());
  const int64_t pages = static_cast<int64_t>(fs::file_size(db_path())) / kPageSize;
  overwrite_page(db_path(), pages / 2);
  // Without the check, SQLite opens the file and answers simple statements: the damage
  // would surface later, in whichever request reads that page.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path().c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(raw, "PRAGMA journal_mode=WAL; SELECT count(*) FROM sqlite_schema", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close_v2(raw);

  auto db = sqlite::Database::open(db_path());
  ASSERT_FALSE(db.is_ok());
  EXPECT_EQ(db.status().code(), StatusCode::kDataLoss) << db.status().to_string();
  EXPECT_NE(db.status().message().find("integrity check failed"), std::string::npos) << db.status().message();
}

TEST_F(RegistryOpenFaultsTest, AFileThatIsNoDatabaseIsRefusedNamingTheFile) {
  fill_registry(db_path());
  overwrite_page(db_path(), 1);  // the header
  auto reopened = Registry::open(db_path(), std::make_shared<FakeClock>());
  ASSERT_FALSE(reopened.is_ok());
  EXPECT_EQ(reopened.status().code(), StatusCode::kDataLoss) << reopened.status().to_string();
  EXPECT_NE(reopened.status().message().find("registry database '" + db_path().string() + "'"), std::string::npos)
      << reopened.status().message();
}

TEST_F(RegistryOpenFaultsTest, AHealthyDatabaseOpensAndKeepsItsData) {
  fill_registry(db_path());
  auto reopened = Registry::open(db_path(), std::make_shared<FakeClock>());
  ASSERT_TRUE(reopened.is_ok()) << reopened.status().to_string();
  auto models = (*reopened)->list_models();
  ASSERT_TRUE(models.is_ok());
  EXPECT_EQ(models->size(), 40u);
}

// Root ignores permission bits, so the folder is made read-only by a read-only bind
// mount (skipped where mounting is not allowed); otherwise by its permissions.
TEST_F(RegistryOpenFaultsTest, AReadOnlyDatabaseIsRefusedNamingTheFile) {
  const fs::path folder = dir_.path() / "ro";
  const fs::path path = folder / "registry.db";
  fs::create_directories(folder);
  fill_registry(path);
  bool mounted = false;
  if (::geteuid() == 0) {
    if (::mount(folder.c_str(), folder.c_str(), nullptr, MS_BIND, nullptr) != 0)
      GTEST_SKIP() << "running as root and cannot bind-mount: " << std::strerror(errno);
    mounted = true;
    if (::mount(nullptr, folder.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      const int err = errno;
      ::umount2(folder.c_str(), MNT_DETACH);
      GTEST_SKIP() << "running as root and cannot remount read-only: " << std::strerror(err);
    }
  } else {
    fs::permissions(path, fs::perms::owner_read);
    fs::permissions(folder, fs::perms::owner_read | fs::perms::owner_exec);
  }
  auto reopened = Registry::open(path, std::make_shared<FakeClock>());
  if (mounted) ::umount2(folder.c_str(), MNT_DETACH);
  fs::permissions(folder, fs::perms::owner_all);
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_FALSE(reopened.is_ok());
  EXPECT_NE(reopened.status().message().find("registry database '" + path.string() + "'"), std::string::npos)
      << reopened.status().message();
}

}  // namespace
}  // namespace quiver::registry

// Shared set-up for registry tests: a registry with a FakeClock, on each backend.
//
// RegistryTest is parameterised over the backends, so every test written against it
// runs on SQLite (a file in a fresh folder) and on PostgreSQL (a fresh database made
// through the admin URL in QUIVER_TEST_POSTGRES_URL, dropped afterwards). Without that
// variable the PostgreSQL instances are skipped, saying how to run them. Suites of
// other modules that use it with TEST_F (no parameter) get SQLite.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <ostream>
#include <random>
#include <string>

#include "core/clock.h"
#include "pg/connection.h"
#include "registry/registry.h"
#include "unit/store/temp_dir.h"
#include "unit/testing/pg_test_database.h"

namespace quiver::registry {

inline std::string sha_of_char(char c) { return std::string(64, c); }

inline NewVersion onnx_version(const std::string& model, char sha_char = 'a') {
  NewVersion v;
  v.model = model;
  v.framework = "onnx";
  v.artifact_sha256 = sha_of_char(sha_char);
  v.size = 1234;
  return v;
}

enum class Backend { kSqlite, kPostgresql };

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgresql";
}
// So test listings (and ctest's names) read "GetParam() = Postgresql".
inline void PrintTo(Backend backend, std::ostream* os) {
  *os << (backend == Backend::kSqlite ? "Sqlite" : "Postgresql");
}

// A fresh PostgreSQL database for one test; dropped WITH (FORCE) when destroyed.
using PgScratchDatabase = quiver::testing::PgTestDatabase;

class RegistryTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    if (is_postgres()) {
      if (PgScratchDatabase::admin_url().empty()) GTEST_SKIP() << PgScratchDatabase::kHowToRun;
      pg_ = std::make_unique<PgScratchDatabase>();
      const Status created = pg_->create();
      ASSERT_TRUE(created.is_ok()) << created.to_string();
    }
    reopen();
  }
  void TearDown() override {
    registry_.reset();
    pg_.reset();
  }
  bool is_postgres() const { return backend() == Backend::kPostgresql; }
  Backend backend() const {
    // GetParam() aborts in a TEST_F; a test without a parameter runs on SQLite.
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    if (info == nullptr || info->value_param() == nullptr) return Backend::kSqlite;
    return GetParam();
  }

  // Opens the same registry again (the file, or the same database).
  void reopen() {
    registry_.reset();
    auto opened = open_another();
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    registry_ = std::move(opened).value();
  }
  // A second registry on the same storage (another process, as far as it knows).
  Result<std::unique_ptr<Registry>> open_another() {
    if (is_postgres()) return Registry::open_postgres(pg_->url(), clock_);
    return Registry::open(db_path(), clock_);
  }
  std::filesystem::path db_path() const { return dir_.path() / "data" / "registry.db"; }

  // Registers versions 1..n of `model` (onnx, distinct artifacts).
  void add_versions(const std::string& model, int n) {
    for (int i = 0; i < n; ++i) {
      auto r = registry_->create_version(onnx_version(model, static_cast<char>('a' + i)), actor_);
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<PgScratchDatabase> pg_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  std::unique_ptr<Registry> registry_;
  Actor actor_{"test-client", "testing"};
};

// Runs a RegistryTest-derived suite on both backends, named .../Sqlite and .../Postgresql.
#define QUIVER_ON_BOTH_REGISTRY_BACKENDS(Suite)                                                             \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite,                                                                 \
                           ::testing::Values(::quiver::registry::Backend::kSqlite,                          \
                                             ::quiver::registry::Backend::kPostgresql),                     \
                           ::quiver::registry::backend_name)
// For suites about the SQLite file itself (sqlite3 edits, PRAGMA user_version, ...).
#define QUIVER_ON_SQLITE_ONLY(Suite)                                                                        \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite, ::testing::Values(::quiver::registry::Backend::kSqlite),        \
                           ::quiver::registry::backend_name)

}  // namespace quiver::registry

// Cluster tests run against a real PostgreSQL: a fresh database per test, migrated by
// opening the PostgreSQL registry on it (the cluster tables are part of its schema).
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "core/clock.h"
#include "registry/registry.h"
#include "unit/testing/pg_test_database.h"

namespace quiver::cluster {

class ClusterDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::PgTestDatabase::admin_url().empty())
      GTEST_SKIP() << "QUIVER_TEST_POSTGRES_URL is not set: set it to an admin PostgreSQL URL (scripts/test.sh "
                      "starts a server and sets it)";
    ASSERT_TRUE(db_.create().is_ok());
    auto opened = registry::Registry::open_postgres(db_.url(), clock_);
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    registry_ = std::move(opened).value();
  }
  std::unique_ptr<pg::Connection> connect() {
    auto c = pg::Connection::connect(db_.url());
    EXPECT_TRUE(c.is_ok()) << c.status().to_string();
    return c.is_ok() ? std::move(c).value() : nullptr;
  }

  testing::PgTestDatabase db_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  std::unique_ptr<registry::Registry> registry_;
};

}  // namespace quiver::cluster

// A fresh PostgreSQL database per test, made through the admin URL in
// QUIVER_TEST_POSTGRES_URL and dropped (WITH (FORCE)) afterwards, so tests never see
// each other's tables and a failed test leaves nothing behind.
#pragma once

#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "core/status.h"
#include "pg/connection.h"

namespace quiver::testing {

class PgTestDatabase {
 public:
  static constexpr const char* kEnv = "QUIVER_TEST_POSTGRES_URL";
  static constexpr const char* kHowToRun =
      "PostgreSQL tests need QUIVER_TEST_POSTGRES_URL=postgresql://postgres@HOST:PORT/postgres "
      "(an admin URL; scripts/test.sh sets it, scripts/postgres.sh starts a server)";

  // The admin URL, or "" when the variable is unset (the caller skips).
  static std::string admin_url() {
    const char* url = std::getenv(kEnv);
    return url ? url : "";
  }

  ~PgTestDatabase() {
    if (name_.empty()) return;
    auto admin = pg::Connection::connect(admin_url());
    if (admin.is_ok()) (void)(*admin)->exec_script("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  }

  Status create() {
    QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> admin, pg::Connection::connect(admin_url()));
    std::random_device random;
    const std::string name = "quiver_a_" + std::to_string(random()) + std::to_string(random());
    QUIVER_RETURN_IF_ERROR(admin->exec_script("CREATE DATABASE " + name));
    name_ = name;
    url_ = with_database(admin_url(), name_);
    return Status::ok();
  }

  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

 private:
  // postgresql://user@host:port/admin_db?opts -> postgresql://user@host:port/NAME?opts
  static std::string with_database(const std::string& url, const std::string& name) {
    const size_t scheme = url.find("://");
    const size_t path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    const size_t query = url.find('?');
    const std::string options = query == std::string::npos ? "" : url.substr(query);
    if (path == std::string::npos || (query != std::string::npos && path > query))
      return url.substr(0, query) + "/" + name + options;
    return url.substr(0, path) + "/" + name + options;
  }

  std::string name_;
  std::string url_;
};

}  // namespace quiver::testing

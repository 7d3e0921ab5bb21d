// The registry's schema, as an ordered list of migrations. The database records how
// many have been applied in PRAGMA user_version; opening applies the rest, each in
// its own transaction together with the new user_version, so a crash mid-upgrade
// leaves the schema at a well-defined step.
//
// Append new steps at the end; never edit or reorder a released one.
#pragma once

#include <span>
#include <string_view>

#include "core/status.h"
#include "registry/sqlite_db.h"

namespace quiver::registry {

struct Migration {
  int version;  // 1, 2, ...: equals its position in the list
  std::string_view description;
  std::string_view sql;
};

std::span<const Migration> schema_migrations();
int latest_schema_version();

// Brings the schema up to date. FailedPrecondition when the file was written by a
// newer release (its user_version is beyond what this binary knows).
Status apply_migrations(sqlite::Database& db);

}  // namespace quiver::registry

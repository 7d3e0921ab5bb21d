// The PostgreSQL registry's schema, as an ordered list of migrations recorded in
// schema_migrations(version, description, applied_at).
//
// Opening migrates in ONE transaction under a fixed transaction-level advisory lock:
// PostgreSQL DDL is transactional, so replicas that start at once migrate once (the
// others wait, then find nothing to do), and a crash mid-upgrade leaves the schema as
// it was.
//
// Append new steps at the end; never edit or reorder a released one.
#pragma once

#include <span>
#include <string_view>

#include "core/status.h"
#include "pg/connection.h"
#include "registry/migrations.h"

namespace quiver::registry {

std::span<const Migration> pg_schema_migrations();
int pg_latest_schema_version();

// Brings the schema up to date. FailedPrecondition when the database was migrated by a
// newer release (its highest applied version is beyond what this binary knows).
Status apply_pg_migrations(pg::Connection& conn);

}  // namespace quiver::registry

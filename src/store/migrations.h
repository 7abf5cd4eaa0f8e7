// Schema migrations of the SQLite store: an ordered list of steps, each raising `schema_version`
// by one inside its own transaction. Opening a file written by a newer flowrun is refused, so an
// old binary never misreads or damages newer data.
//
// Thread-safety: call on one connection before it is shared.
#pragma once

#include "common/status.h"
#include "store/schema.h"
#include "store/store_connection.h"

namespace flowrun::store {

// The schema version this binary writes.
int LatestSchemaVersion();

// Brings the database up to LatestSchemaVersion. kFailedPrecondition when the file is newer, or
// when steps are pending on a store that is not empty and `pending` is kRefuse; kDataLoss when it
// is not a flowrun database; kUnavailable when another process holds a lock.
[[nodiscard]] Status Migrate(sqlite::Connection& db,
                             PendingMigrations pending = PendingMigrations::kApply);

// The file's schema version and the steps Migrate would apply; writes nothing.
[[nodiscard]] StatusOr<SchemaReport> InspectSchema(sqlite::Connection& db);

}  // namespace flowrun::store

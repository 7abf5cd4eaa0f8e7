// Schema migrations of the PostgreSQL store: an ordered list of steps, each raising
// `schema_version` by one, applied in one transaction under an advisory lock so that nodes
// starting together never migrate at once. A database written by a newer flowrun is refused.
//
// Thread-safety: call on one connection before the store is used.
#pragma once

#include "common/status.h"
#include "store/pg_connection.h"
#include "store/schema.h"

namespace flowrun::store {

// The schema version this binary writes.
int LatestPgSchemaVersion();

// Brings the database up to LatestPgSchemaVersion. kFailedPrecondition when it is newer, or when
// steps are pending on a store that is not empty and `pending` is kRefuse.
[[nodiscard]] Status MigratePg(PgConnection& db,
                               PendingMigrations pending = PendingMigrations::kApply);

// The database's schema version and the steps MigratePg would apply; writes nothing.
[[nodiscard]] StatusOr<SchemaReport> InspectPgSchema(PgConnection& db);

}  // namespace flowrun::store

#include "store/store_factory.h"

#include <filesystem>

#include "store/migrations.h"
#include "store/pg_migrations.h"
#include "store/pg_wake_listener.h"
#include "store/postgres_outbox.h"
#include "store/postgres_store.h"
#include "store/sqlite_outbox.h"
#include "store/sqlite_store.h"
#include "store/store_url.h"

namespace flowrun::store {

StatusOr<OpenedStore> OpenStore(const std::string& url, StoreOpenOptions options) {
  OpenedStore opened;
  if (IsPostgresUrl(url)) {
    // Every connection of the store, its wake listener and its outbox carries the setting.
    const std::string pg_url =
        options.idle_in_transaction_timeout > Duration::zero()
            ? PostgresUrlWithSetting(url, "idle_in_transaction_session_timeout",
                                     std::to_string(options.idle_in_transaction_timeout.count()))
            : url;
    ASSIGN_OR_RETURN(std::unique_ptr<PostgresStore> store,
                     PostgresStore::Open({.url = pg_url,
                                          .clock = options.clock,
                                          .pending_migrations = options.pending_migrations}));
    // A server store reports damage through its errors; this latch never trips.
    opened.data_loss = std::make_shared<DataLossLatch>("PostgreSQL store");
    ASSIGN_OR_RETURN(opened.wakes, PgWakeListener::Open(pg_url, store->writer_backend_pid()));
    opened.store = std::move(store);
    if (options.open_outbox) {
      ASSIGN_OR_RETURN(opened.outbox, PostgresOutbox::Open(pg_url));
    }
    return opened;
  }
  ASSIGN_OR_RETURN(std::string path, SqlitePathOfStoreUrl(url));
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> store,
                   SqliteStore::Open({.path = path,
                                      .clock = options.clock,
                                      .pending_migrations = options.pending_migrations}));
  opened.data_loss = store->data_loss_latch();
  opened.store = std::move(store);
  if (options.open_outbox) {
    auto outbox = SqliteOutbox::Open(path, /*busy_timeout_ms=*/5000, opened.data_loss);
    if (!outbox.ok()) return outbox.status().WithContext("opening the outbox in " + url);
    opened.outbox = std::move(*outbox);
  }
  return opened;
}

StatusOr<SchemaReport> InspectStoreSchema(const std::string& url) {
  if (IsPostgresUrl(url)) {
    ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> db, PgConnection::Open(url, "store"));
    return InspectPgSchema(*db);
  }
  ASSIGN_OR_RETURN(std::string path, SqlitePathOfStoreUrl(url));
  std::error_code error;
  if (path == ":memory:" || !std::filesystem::exists(path, error)) {
    SchemaReport empty;
    empty.latest = LatestSchemaVersion();
    // The same steps an empty file would get.
    auto temp = OpenStoreConnection(":memory:", /*create=*/true, /*busy_timeout_ms=*/0);
    if (temp.ok()) return InspectSchema(**temp);
    return empty;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Connection> db,
                   OpenStoreConnection(path, /*create=*/false, /*busy_timeout_ms=*/5000));
  return InspectSchema(*db);
}

StatusOr<SchemaReport> MigrateStoreSchema(const std::string& url) {
  {
    ASSIGN_OR_RETURN(
        OpenedStore opened,
        OpenStore(url, {.open_outbox = false, .pending_migrations = PendingMigrations::kApply}));
  }
  return InspectStoreSchema(url);
}

}  // namespace flowrun::store

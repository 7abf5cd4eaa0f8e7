// OpenStore: opens the store a URL names, with what comes with it, so that nothing outside
// src/store knows which kind of store is in use:
//   - "sqlite:PATH" (or a bare PATH): SqliteStore on that file, the email outbox in the same
//     file (SqliteOutbox), and the file's DataLossLatch;
//   - "postgres://…": PostgresStore, PostgresOutbox in the same database, and a PgWakeListener
//     for the wake-ups other nodes post (see store_url.h for the spelling of URLs).
//
// Thread-safety: OpenStore may be called from any thread; what it returns is thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "actions/email/email_outbox.h"
#include "common/clock.h"
#include "common/duration.h"
#include "common/status.h"
#include "store/data_loss_latch.h"
#include "store/schema.h"
#include "store/store.h"

namespace flowrun::store {

// Tells a node that another node changed runs it may hold or wait on (an event arrived, a run
// woke), so that it looks again at once instead of at its next timer.
//
// Thread-safety: Subscribe may be called from any thread; `on_wake` is called on the listener's
// own thread and must not block.
class WakeListener {
 public:
  virtual ~WakeListener() = default;
  // Calls `on_wake` after every wake-up another node posts. REQUIRES: called once, before the
  // first wake-up matters; `on_wake` stays callable until the listener is destroyed.
  virtual void Subscribe(std::function<void()> on_wake) = 0;
};

struct StoreOpenOptions {
  // Store-side timestamps. REQUIRES: outlives the store. Default: nullptr, the system clock.
  const Clock* clock = nullptr;
  // Whether to open the email outbox beside the store. Default: true.
  bool open_outbox = true;
  // What opening does with pending schema migrations. Default: apply them.
  PendingMigrations pending_migrations = PendingMigrations::kApply;
  // PostgreSQL: the server ends a store session that sits idle inside a transaction this long
  // (`idle_in_transaction_session_timeout` on every connection of the store, its outbox and its
  // wake listener), so that a node paused mid-transaction (SIGSTOP, a stalled VM) does not hold
  // its row locks, and with them every other node, for as long as it stays paused. Zero: the
  // server's setting. SQLite: ignored. Default: zero.
  Duration idle_in_transaction_timeout = Duration::zero();
};

struct OpenedStore {
  std::unique_ptr<Store> store;
  std::unique_ptr<EmailOutbox> outbox;  // null unless StoreOpenOptions::open_outbox
  // Trips when the store reports damage at run time; never trips for a server store.
  std::shared_ptr<DataLossLatch> data_loss;
  // Wake-ups posted by other nodes; null for a store that has none (SQLite).
  std::unique_ptr<WakeListener> wakes;
};

// Opens the store at `url`. Errors are the store's (see sqlite_store.h), and kInvalidArgument for
// a URL of no known store.
[[nodiscard]] StatusOr<OpenedStore> OpenStore(const std::string& url, StoreOpenOptions options);

// The schema version of the store at `url` and the steps that would bring it up to date; writes
// nothing (for `flowrun migrate --dry-run`). A SQLite file that does not exist is reported empty.
[[nodiscard]] StatusOr<SchemaReport> InspectStoreSchema(const std::string& url);
// Applies the pending steps to the store at `url` (creating an empty store) and reports the
// result. kFailedPrecondition when the store is newer than this flowrun.
[[nodiscard]] StatusOr<SchemaReport> MigrateStoreSchema(const std::string& url);

}  // namespace flowrun::store

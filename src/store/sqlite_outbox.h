// SqliteOutbox: the durable EmailOutbox (actions/email/email_outbox.h), a table `email_outbox` in
// the store's SQLite file (created when missing), so mail kept while no SMTP server is configured
// survives restarts and is shown by the API and dashboard.
//
// It uses its own connection to the file: the store's WAL mode lets it write beside the store's
// writer, and `busy_timeout_ms` bounds the wait for the write lock. Put is one autocommitted
// INSERT OR IGNORE keyed on message_id, so a retried step keeps one copy; a busy or locked file
// is kUnavailable, which the email action retries.
//
// Thread-safety: all methods may be called from many threads; `mu_` guards the connection.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "actions/email/email_outbox.h"
#include "common/thread_annotations.h"
#include "store/data_loss_latch.h"
#include "store/store_connection.h"

namespace flowrun::store {

class SqliteOutbox final : public EmailOutbox {
 public:
  // Opens the outbox in the SQLite file at `path`, creating the file and the table as needed.
  // ":memory:" keeps the outbox in a private in-memory database (for one-off local runs).
  // Errors: kDataLoss when the file is not a SQLite database; kUnavailable when it is locked.
  // `latch` (the store's, SqliteStore::data_loss_latch) makes Put refuse with kDataLoss once the
  // file is known to be damaged, and reports damage this connection sees. Default: none.
  [[nodiscard]] static StatusOr<std::unique_ptr<SqliteOutbox>> Open(
      const std::string& path, int busy_timeout_ms = 5000,
      std::shared_ptr<DataLossLatch> latch = nullptr);
  SqliteOutbox(const SqliteOutbox&) = delete;
  SqliteOutbox& operator=(const SqliteOutbox&) = delete;

  Status Put(const OutboxMessage& message) override;
  StatusOr<std::vector<OutboxMessage>> List(size_t limit) const override;

  StatusOr<int> Prune(TimePoint created_before, int limit) override;

 private:
  SqliteOutbox(std::unique_ptr<sqlite::Connection> db, std::shared_ptr<DataLossLatch> latch)
      : latch_(std::move(latch)), db_(std::move(db)) {}

  std::shared_ptr<DataLossLatch> latch_;  // declared before db_, which points at it
  mutable Mutex mu_;
  std::unique_ptr<sqlite::Connection> db_ FLOWRUN_GUARDED_BY(mu_);
};

}  // namespace flowrun::store

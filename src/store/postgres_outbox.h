// PostgresOutbox: the durable EmailOutbox (actions/email/email_outbox.h) in the PostgreSQL store's
// database: the table `email_outbox` (created by the store's migrations), shared by every node.
// Put is one autocommitted INSERT ... ON CONFLICT DO NOTHING keyed on message_id, so a step
// retried on any node keeps one copy; a server that cannot be reached is kUnavailable, which the
// email action retries.
//
// Thread-safety: all methods may be called from many threads; `mu_` guards the connection.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "actions/email/email_outbox.h"
#include "common/thread_annotations.h"
#include "store/pg_connection.h"

namespace flowrun::store {

class PostgresOutbox final : public EmailOutbox {
 public:
  // Connects to `url`. REQUIRES: the store's schema is in place (PostgresStore::Open).
  [[nodiscard]] static StatusOr<std::unique_ptr<PostgresOutbox>> Open(const std::string& url);
  PostgresOutbox(const PostgresOutbox&) = delete;
  PostgresOutbox& operator=(const PostgresOutbox&) = delete;

  Status Put(const OutboxMessage& message) override;
  StatusOr<std::vector<OutboxMessage>> List(size_t limit) const override;
  StatusOr<int> Prune(TimePoint created_before, int limit) override;

 private:
  explicit PostgresOutbox(std::string url, std::unique_ptr<PgConnection> db)
      : url_(std::move(url)), db_(std::move(db)) {}
  // The connection, opened again when the last one broke.
  StatusOr<PgConnection*> Connection() const FLOWRUN_REQUIRES(mu_);

  const std::string url_;
  mutable Mutex mu_;
  mutable std::unique_ptr<PgConnection> db_ FLOWRUN_GUARDED_BY(mu_);
};

}  // namespace flowrun::store

// EmailOutbox: where the `email` step puts mail when no SMTP server is configured, so that it is
// kept (and shown by the API and dashboard) instead of lost. The durable implementation lives with
// the store; tests use testing/in_memory_email_outbox.h.
//
// Thread-safety: implementations must be safe to call from many threads.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "common/timestamp.h"

namespace flowrun {

struct OutboxMessage {
  std::string message_id;  // "<…@flowrun>", derived from the idempotency key
  std::string run_id;
  std::string step_key;
  std::string from;                     // envelope sender address
  std::vector<std::string> recipients;  // envelope recipients: to, cc and bcc addresses
  std::string subject;                  // UTF-8, as the flow wrote it
  std::string mime;                     // the complete message as it would have been sent
  TimePoint created_at;
};

class EmailOutbox {
 public:
  virtual ~EmailOutbox() = default;

  // Stores `message`. Idempotent on message_id: putting a message again (a retried step) keeps
  // one copy. Errors are retryable when the storage is temporarily unavailable.
  [[nodiscard]] virtual Status Put(const OutboxMessage& message) = 0;

  // The newest `limit` messages, newest first.
  [[nodiscard]] virtual StatusOr<std::vector<OutboxMessage>> List(size_t limit) const = 0;

  // Retention: deletes up to `limit` messages created before `created_before`, oldest first, in
  // one short transaction. Returns how many. Default: kFailedPrecondition (an outbox that keeps
  // every message).
  [[nodiscard]] virtual StatusOr<int> Prune(TimePoint created_before, int limit) {
    return FailedPreconditionError("this outbox does not prune messages");
  }
};

}  // namespace flowrun

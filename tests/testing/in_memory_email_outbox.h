// InMemoryEmailOutbox: an EmailOutbox kept in memory, for tests of the email action and of code
// that lists the outbox.
//
// Thread-safety: all methods may be called from many threads.
#pragma once

#include <mutex>
#include <vector>

#include "actions/email/email_outbox.h"

namespace flowrun::testing {

class InMemoryEmailOutbox final : public EmailOutbox {
 public:
  Status Put(const OutboxMessage& message) override;
  StatusOr<std::vector<OutboxMessage>> List(size_t limit) const override;

 private:
  mutable std::mutex mu_;
  std::vector<OutboxMessage> messages_;  // GUARDED_BY(mu_), oldest first
};

}  // namespace flowrun::testing

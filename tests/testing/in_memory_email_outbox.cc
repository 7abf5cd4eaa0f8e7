#include "testing/in_memory_email_outbox.h"

#include <algorithm>

namespace flowrun::testing {

Status InMemoryEmailOutbox::Put(const OutboxMessage& message) {
  std::lock_guard lock(mu_);
  bool seen = std::any_of(messages_.begin(), messages_.end(), [&](const OutboxMessage& m) {
    return m.message_id == message.message_id;
  });
  if (!seen) messages_.push_back(message);
  return OkStatus();
}

StatusOr<std::vector<OutboxMessage>> InMemoryEmailOutbox::List(size_t limit) const {
  std::lock_guard lock(mu_);
  std::vector<OutboxMessage> out(messages_.rbegin(), messages_.rend());
  if (out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace flowrun::testing

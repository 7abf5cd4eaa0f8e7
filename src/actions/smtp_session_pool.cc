#include "actions/smtp_session_pool.h"

namespace flowrun {

std::unique_ptr<SmtpClient> SmtpSessionPool::Acquire() {
  for (;;) {
    std::unique_ptr<SmtpClient> session;
    {
      std::lock_guard lock(mu_);
      if (idle_.empty()) return nullptr;
      session = std::move(idle_.back());
      idle_.pop_back();
    }
    if (session->LooksIdle()) return session;
    // Closed outside the lock.
  }
}

void SmtpSessionPool::Release(std::unique_ptr<SmtpClient> session) {
  {
    std::lock_guard lock(mu_);
    if (idle_.size() < max_idle_) {
      idle_.push_back(std::move(session));
      return;
    }
  }
  // Destroyed outside the lock.
}

size_t SmtpSessionPool::IdleCount() const {
  std::lock_guard lock(mu_);
  return idle_.size();
}

}  // namespace flowrun

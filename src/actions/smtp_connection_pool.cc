#include "actions/smtp_connection_pool.h"

namespace flowrun {

SmtpHandle::SmtpHandle() : curl(curl_easy_init()) {}

SmtpHandle::~SmtpHandle() {
  if (curl != nullptr) curl_easy_cleanup(curl);
}

std::unique_ptr<SmtpHandle> SmtpConnectionPool::Acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<SmtpHandle> handle = std::move(idle_.back());
      idle_.pop_back();
      return handle;
    }
  }
  return std::make_unique<SmtpHandle>();
}

void SmtpConnectionPool::Release(std::unique_ptr<SmtpHandle> handle) {
  {
    std::lock_guard lock(mu_);
    if (idle_.size() < max_idle_) {
      idle_.push_back(std::move(handle));
      return;
    }
  }
  // Destroyed outside the lock: saying QUIT waits for the server.
}

size_t SmtpConnectionPool::IdleCount() const {
  std::lock_guard lock(mu_);
  return idle_.size();
}

}  // namespace flowrun

#include "actions/smtp_session_pool.h"

namespace flowrun {

std::unique_ptr<SmtpClient> SmtpSessionPool::Acquire() {
  while (std::unique_ptr<SmtpClient> session = idle_.Take()) {
    if (session->LooksIdle()) return session;
    // Not usable: closed here, outside the pool's lock.
  }
  return nullptr;
}

}  // namespace flowrun

#include "actions/smtp_connection_pool.h"

namespace flowrun {

SmtpHandle::SmtpHandle() : curl(curl_easy_init()) {}

SmtpHandle::~SmtpHandle() {
  if (curl != nullptr) curl_easy_cleanup(curl);
}

std::unique_ptr<SmtpHandle> SmtpConnectionPool::Acquire() {
  if (std::unique_ptr<SmtpHandle> handle = idle_.Take()) return handle;
  return std::make_unique<SmtpHandle>();
}

}  // namespace flowrun

// SmtpConnectionPool: idle libcurl easy handles for one SMTP server, each holding an open SMTP
// connection from its last message, so that the next message skips the TCP connect, the greeting,
// EHLO, STARTTLS and AUTH and starts with MAIL FROM.
//
// libcurl keeps a handle's connection alive between transfers and checks it is still open before
// reusing it (a connection the server closed while idle is replaced by a new one, and connections
// idle for longer than libcurl's maximum age are not reused). A caller checks a handle out with
// Acquire, uses it alone, and hands it back with Release only when its message went through; a
// handle whose exchange failed is destroyed with its connection, so a connection in an unknown
// state is never reused.
//
// Thread-safety: Acquire and Release may be called from many threads at once.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <string>

#include "common/idle_pool.h"

namespace flowrun {

// One easy handle and the per-message state its callbacks write into. The callbacks' pointers
// target this object, which outlives the handle: curl_easy_cleanup may still say QUIT and hand
// the server's reply to the header callback.
struct SmtpHandle {
  SmtpHandle();
  ~SmtpHandle();
  SmtpHandle(const SmtpHandle&) = delete;
  SmtpHandle& operator=(const SmtpHandle&) = delete;

  CURL* curl;                         // null when libcurl could not create a handle
  std::string refusal;                // the last 4xx or 5xx reply line read from the server
  char error[CURL_ERROR_SIZE] = {0};  // libcurl's error buffer
  bool configured = false;            // the options shared by every message are set
};

class SmtpConnectionPool {
 public:
  // `max_idle` bounds the handles kept between messages. Default: 8.
  explicit SmtpConnectionPool(size_t max_idle = 8) : idle_(max_idle) {}
  SmtpConnectionPool(const SmtpConnectionPool&) = delete;
  SmtpConnectionPool& operator=(const SmtpConnectionPool&) = delete;

  // An idle handle, most recently used first, or a new one (which connects on first use).
  std::unique_ptr<SmtpHandle> Acquire();
  // Keeps a handle whose last message went through, unless enough are idle already (it is then
  // destroyed, which says QUIT and closes its connection).
  void Release(std::unique_ptr<SmtpHandle> handle) { idle_.Keep(std::move(handle)); }

  size_t IdleCount() const { return idle_.size(); }

 private:
  IdlePool<SmtpHandle> idle_;
};

}  // namespace flowrun

// SmtpSessionPool: idle plain SMTP sessions (smtp_client.h) to one server, each between messages
// on an open connection, so that the next message skips the TCP connect, the greeting and EHLO
// and starts with MAIL FROM. The plain-session counterpart of SmtpConnectionPool.
//
// A caller takes a session with Acquire, uses it alone, and hands it back with Release only when
// its message went through; a session whose exchange failed is destroyed with its connection, so
// a connection in an unknown state is never reused. Acquire skips (and closes) kept sessions
// whose server closed the connection or sent something unasked (a 421 before an idle timeout)
// while they waited.
//
// Thread-safety: Acquire and Release may be called from many threads at once.
#pragma once

#include <memory>

#include "actions/smtp_client.h"
#include "common/idle_pool.h"

namespace flowrun {

class SmtpSessionPool {
 public:
  // `max_idle` bounds the sessions kept between messages. Default: 8.
  explicit SmtpSessionPool(size_t max_idle = 8) : idle_(max_idle) {}
  SmtpSessionPool(const SmtpSessionPool&) = delete;
  SmtpSessionPool& operator=(const SmtpSessionPool&) = delete;

  // The most recently released session that still looks usable, or null when there is none.
  std::unique_ptr<SmtpClient> Acquire();
  // Keeps a session whose last message went through, unless enough are idle already (it is then
  // destroyed, which says QUIT and closes its connection).

  void Release(std::unique_ptr<SmtpClient> session) { idle_.Keep(std::move(session)); }

  size_t IdleCount() const { return idle_.size(); }

 private:
  IdlePool<SmtpClient> idle_;
};

}  // namespace flowrun

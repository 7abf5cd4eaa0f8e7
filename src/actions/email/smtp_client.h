// SmtpClient: sends messages to one SMTP server over a pool of kept sessions (smtp_session.h),
// all on the OutboundLoop's thread: no thread waits on the server.
//
// Sessions: at most max_sessions are open (or opening) at once. A message takes an idle session,
// or opens a new one when under the bound, or waits in memory, in arrival order, for one to free
// up. A session that delivered a message is kept for the next; one that failed is closed (QUIT
// when it ended on a complete reply). An idle session the server spoke on or closed meanwhile
// (say, "421 Timeout") is dropped, not used. A kept session that breaks before any reply to a
// message, or answers it 421, gets the message once more on a new session.
//
// Time: the attempt's time starts when the message gets a session: opening and the whole
// exchange are bounded by `timeout`, connecting (DNS, TCP, TLS for smtps) by `connect_timeout`,
// and everything, the wait for a session included, by the message's `deadline`.
//
// Errors are prefixed "SMTP <url>: " and carry the retry decision (see smtp_session.h). When the
// loop stops, or the client is destroyed, messages waiting or in flight end with kUnavailable
// ("not sent: the service is shutting down") and idle sessions are closed; that work is posted
// to the loop and nobody waits for it, so neither can deadlock.
//
// Thread-safety: Send and Stats from any thread; callbacks run on the loop thread (after the
// loop has stopped: on the caller's).
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "actions/email/smtp_session.h"
#include "actions/outbound_loop.h"
#include "common/duration.h"

namespace flowrun {

struct SmtpClientOptions {
  SmtpSessionOptions session;
  size_t max_sessions = 16;
  Duration connect_timeout = std::chrono::seconds(10);
  Duration timeout = std::chrono::seconds(60);
};

struct SmtpClientStats {
  long long sessions_in_use = 0;  // messages holding a session
  long long waiting = 0;          // messages waiting for one
  long long sessions_open = 0;    // open or opening, idle ones included
};

class SmtpClient {
 public:
  using Done = std::function<void(Status status)>;

  // `loop` must outlive the client, and run (or have stopped) for messages to end.
  SmtpClient(OutboundLoop& loop, SmtpClientOptions options);
  ~SmtpClient();  // ends its messages as described above; does not wait
  SmtpClient(const SmtpClient&) = delete;
  SmtpClient& operator=(const SmtpClient&) = delete;

  // `done` is called exactly once.
  void Send(SmtpEnvelope envelope, SteadyTime deadline, Done done);
  SmtpClientStats Stats() const;

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace flowrun

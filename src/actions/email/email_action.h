// EmailAction: the `email` step. Builds a MIME message (mime_message.h) and sends it over SMTP
// with the SmtpClient (smtp_client.h) on the shared OutboundLoop: smtp:// with STARTTLS
// auto|required|off, or smtps://, authenticating (AUTH PLAIN or LOGIN) when credentials are
// configured. Without SMTP it puts the message in the EmailOutbox (a local store write, done on
// the caller's thread). Output: `{message_id}`. Start returns without waiting on the network, and
// no thread ever waits on the SMTP server.
//
// Arguments: to (address or list; required), cc, bcc (envelope only, never in the headers), from
// (default smtp.from), reply_to, subject, text and/or html, headers (extra headers).
//
// The Message-ID is derived from the idempotency key, so every retry of a step sends the same
// one and receivers can drop duplicates. Retried: connection failures, timeouts and SMTP 4xx
// replies (kUnavailable, kDeadlineExceeded), and messages still in flight when the service shuts
// down. Not retried: SMTP 5xx replies, failed authentication, a server that lacks a required
// STARTTLS, a certificate that does not verify, and bad arguments (kInvalidArgument, before
// anything is sent).
//
// Sessions are kept open between messages: a message goes out on an idle session to the server
// when there is one (skipping the greeting, EHLO, STARTTLS and AUTH), and a kept session the
// server closed is replaced by a new one, once. At most smtp.max_sessions sessions are open to
// the server at once; other messages wait in memory, in arrival order, for a session. The
// attempt's time (EmailActionOptions::timeout, capped by the step's deadline) starts when the
// message gets a session; the step's deadline also bounds the wait for one.
//
// Thread-safety: Start may run concurrently from many threads.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "actions/action.h"
#include "actions/email/email_outbox.h"
#include "actions/email/smtp_client.h"
#include "actions/outbound_loop.h"
#include "common/clock.h"
#include "config/config.h"
#include "config/secrets.h"

namespace flowrun {

struct EmailActionOptions {
  // The SMTP server, with username and password already resolved from secrets. Absent: outbox.
  std::optional<SmtpConfig> smtp;
  EmailOutbox* outbox = nullptr;  // REQUIRES: set when smtp is absent
  std::string ca_file;            // trust anchors replacing the system bundle; for tests
  Duration connect_timeout = std::chrono::seconds(10);  // Default: 10s
  Duration timeout = std::chrono::seconds(60);          // Default: 60s for the whole exchange
  // The loop the SMTP sessions run on; must outlive the action. Null: the action makes and runs
  // a loop of its own (tests, tools).
  OutboundLoop* loop = nullptr;
  const Clock* clock = nullptr;  // for the Date header; Default: system
  // Applied to error messages and to the copy the outbox keeps (RedactForOutbox); may be null.
  const SecretRedactor* redactor = nullptr;
};

// Readings for metrics.
struct EmailActionStats {
  long long sessions_in_use = 0;  // messages in flight to the SMTP server
  long long waiting = 0;          // messages waiting for a session
};

class EmailAction final : public Action {
 public:
  // The sender used when neither the step nor the config names one (outbox only).
  static constexpr const char* kOutboxSender = "flowrun <flowrun@localhost>";

  explicit EmailAction(EmailActionOptions options);
  ~EmailAction() override;

  std::string_view name() const override { return "email"; }
  Status CheckArguments(const Json& raw_arguments) const override;
  void Start(ActionRequest request, ActionCallback done) override;

  EmailActionStats Stats() const;

 private:
  // Builds the message; puts it in the outbox (and returns the output, leaving `envelope` empty)
  // or fills `envelope` for SMTP. Errors come before anything is sent.
  StatusOr<Json> Deliver(const ActionRequest& request, std::optional<SmtpEnvelope>& envelope);

  const EmailActionOptions options_;
  SystemClock system_clock_;
  std::unique_ptr<OutboundLoop> own_loop_;  // when options_.loop is null
  OutboundLoop* loop_ = nullptr;
  std::unique_ptr<SmtpClient> client_;  // with smtp; destroyed before own_loop_
  Status smtp_error_;                   // a url or trust anchors that cannot work
};

}  // namespace flowrun

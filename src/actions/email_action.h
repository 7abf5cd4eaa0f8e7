// EmailAction: the `email` step. Builds a MIME message (mime_message.h) and sends it over SMTP
// with libcurl (smtp:// with STARTTLS auto|required|off, or smtps://), authenticating when
// credentials are configured; without SMTP it puts the message in the EmailOutbox. Output:
// `{message_id}`.
//
// Arguments: to (address or list; required), cc, bcc (envelope only, never in the headers), from
// (default smtp.from), reply_to, subject, text and/or html, headers (extra headers).
//
// The Message-ID is derived from the idempotency key, so every retry of a step sends the same
// one and receivers can drop duplicates. Retried: connection failures, timeouts and SMTP 4xx
// replies (kUnavailable). Not retried: SMTP 5xx replies, failed authentication, a server that
// lacks a required STARTTLS, and bad arguments (kInvalidArgument, before anything is sent).
//
// A plain relay (an smtp:// URL without credentials, with starttls off, or auto and a server
// whose EHLO does not offer STARTTLS) is spoken to by a small client of our own (smtp_client.h),
// which pipelines MAIL, RCPT and DATA when the server offers PIPELINING and costs far less CPU
// per message than libcurl; the first time a server offers STARTTLS under auto, the action goes
// back to libcurl for good. Both paths build the same message and map errors the same way.
//
// Connections are kept open between messages (SmtpSessionPool for the plain client,
// SmtpConnectionPool for libcurl): a message goes out on an idle connection to the server when
// there is one, and a kept connection the server closed is replaced by a new one, once, when it
// fails before the server replied to anything.
//
// Thread-safety: Execute may run concurrently; each call checks out a session or libcurl handle
// of its own.
#pragma once

#include <atomic>
#include <optional>
#include <string>

#include "actions/action.h"
#include "actions/email_outbox.h"
#include "actions/smtp_client.h"
#include "actions/smtp_connection_pool.h"
#include "actions/smtp_session_pool.h"
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
  const Clock* clock = nullptr;                         // for the Date header; Default: system
  // Applied to error messages and to the copy the outbox keeps (RedactForOutbox); may be null.
  const SecretRedactor* redactor = nullptr;
  // false: every message goes through libcurl, even to a plain relay (tests, comparisons).
  bool plain_smtp_client = true;  // Default: true
};

class EmailAction final : public Action {
 public:
  // The sender used when neither the step nor the config names one (outbox only).
  static constexpr const char* kOutboxSender = "flowrun <flowrun@localhost>";

  explicit EmailAction(EmailActionOptions options);

  std::string_view name() const override { return "email"; }
  Status CheckArguments(const Json& raw_arguments) const override;
  // Runs the attempt on the calling thread, then calls `done` (to be replaced by the I/O loop).
  void Start(ActionRequest request, ActionCallback done) override;

  const SmtpConnectionPool& TEST_pool() const { return pool_; }
  const SmtpSessionPool& TEST_plain_pool() const { return sessions_; }

 private:
  StatusOr<Json> ExecuteBlocking(const ActionRequest& request);
  StatusOr<Json> ExecuteUnredacted(const ActionRequest& request);
  Status SendSmtp(const std::string& envelope_from, const std::vector<std::string>& recipients,
                  const std::string& mime, TimePoint deadline);
  // Sends with the plain client; nullopt when the server offers STARTTLS under starttls auto,
  // which libcurl must then handle.
  std::optional<Status> SendPlain(const std::string& envelope_from,
                                  const std::vector<std::string>& recipients,
                                  const std::string& mime, SteadyTime give_up);

  const EmailActionOptions options_;
  SystemClock system_clock_;
  SmtpConnectionPool pool_;
  // Set when the plain client may serve options_.smtp; cleared (plain_declined_) for good once the
  // server offers STARTTLS under auto.
  std::optional<SmtpEndpoint> plain_endpoint_;
  std::atomic<bool> plain_declined_{false};
  SmtpSessionPool sessions_;
};

}  // namespace flowrun

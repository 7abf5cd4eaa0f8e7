// EmailAction: the `email` step. Builds a MIME message (mime_message.h) and sends it over SMTP
// with libcurl on the shared OutboundLoop (smtp:// with STARTTLS auto|required|off, or smtps://),
// authenticating when credentials are configured; without SMTP it puts the message in the
// EmailOutbox (a local store write, done on the caller's thread). Output: `{message_id}`. Start
// returns without waiting on the network.
//
// Arguments: to (address or list; required), cc, bcc (envelope only, never in the headers), from
// (default smtp.from), reply_to, subject, text and/or html, headers (extra headers).
//
// The Message-ID is derived from the idempotency key, so every retry of a step sends the same
// one and receivers can drop duplicates. Retried: connection failures, timeouts and SMTP 4xx
// replies (kUnavailable, kDeadlineExceeded), and messages still in flight when the service shuts
// down. Not retried: SMTP 5xx replies, failed authentication, a server that lacks a required
// STARTTLS, and bad arguments (kInvalidArgument, before anything is sent).
//
// Connections are kept open between messages in libcurl's connection cache: a message goes out
// on an idle connection to the server when there is one (skipping the greeting, EHLO, STARTTLS
// and AUTH), and a kept connection the server closed is replaced by a new one, once, when it
// fails before the server replied to anything. At most smtp.max_sessions messages are in flight
// to the server at once; the others wait in memory, in arrival order, for a session. The
// attempt's time (EmailActionOptions::timeout, capped by the step's deadline) starts when the
// message gets a session.
//
// Thread-safety: Start may run concurrently from many threads.
#pragma once

#include <curl/curl.h>

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "actions/action.h"
#include "actions/email_outbox.h"
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
  // The loop that performs the transfers; must outlive the action. Null: the action makes and
  // runs a loop of its own (tests, tools).
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
  struct Send;
  // Starts `send` when a session is free, else queues it.
  void Admit(std::unique_ptr<Send> send);
  void Transfer(std::unique_ptr<Send> send);
  void Finish(std::unique_ptr<Send> send, Status status);
  // Frees the session `send` held and starts the next waiting message, if any.
  void ReleaseSession();
  CURL* TakeHandle();
  void KeepHandle(CURL* easy);
  StatusOr<Json> Deliver(const ActionRequest& request, std::unique_ptr<Send>& send);

  const EmailActionOptions options_;
  const size_t max_sessions_;
  SystemClock system_clock_;
  std::unique_ptr<OutboundLoop> own_loop_;  // when options_.loop is null
  OutboundLoop* loop_;
  mutable std::mutex mu_;
  size_t sessions_in_use_ = 0;                 // GUARDED_BY(mu_)
  std::deque<std::unique_ptr<Send>> waiting_;  // GUARDED_BY(mu_)
  std::vector<CURL*> idle_handles_;            // GUARDED_BY(mu_)
};

}  // namespace flowrun

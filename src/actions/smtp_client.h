// SmtpClient: one SMTP session over plain TCP, without TLS or AUTH, for the common case of a
// plain relay (a local Postfix, a sidecar). The email action uses it for smtp:// URLs without
// credentials whose starttls is off, or auto with a server that does not offer STARTTLS; every
// other case goes through libcurl.
//
// Open connects, reads the greeting (220, multi-line allowed) and says EHLO, falling back to HELO
// when EHLO is refused with 5xx. SendMail then sends one message: MAIL FROM, one RCPT TO per
// recipient and DATA, in one write when the server offers PIPELINING (RFC 2920) and one command
// at a time otherwise, then the message with its final "." in one write. Any refused command
// fails the whole message (like libcurl: a refused recipient refuses the message, and nothing is
// sent to the others).
//
// Errors carry the retry decision: SMTP 4xx replies, connection failures and malformed replies are
// kUnavailable, timeouts kDeadlineExceeded, SMTP 5xx replies kFailedPrecondition; a refusal
// quotes the server's reply line ("server replied \"550 5.1.1 No such user\""). After a failed
// SendMail the session must be destroyed (its state may be unknown). The destructor says QUIT,
// without waiting for the answer, when the session is between messages.
//
// Thread-safety: use from one thread at a time.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actions/smtp_socket.h"
#include "common/duration.h"
#include "common/status.h"

namespace flowrun {

// Where a plain session connects, and the name it gives in EHLO.
struct SmtpEndpoint {
  std::string host;
  std::string port;       // Default: "25"
  std::string helo_name;  // Default: this machine's host name, as libcurl says
};

// The endpoint of "smtp://host[:port][/]" (host may be "[v6 address]"); nullopt for any other URL
// (smtps://, user info, a path naming the EHLO domain, a bad port).
std::optional<SmtpEndpoint> ParsePlainSmtpUrl(std::string_view url);

// The DATA payload for `message`: lines end in CRLF (a bare CR or LF becomes CRLF), a line that
// starts with "." gets another one, and ".\r\n" ends it (after a CRLF added when missing).
std::string SmtpDataPayload(std::string_view message);

class SmtpClient {
 public:
  // Connects (the TCP connect within `connect_timeout`), reads the greeting and says EHLO, all
  // before `deadline`.
  static StatusOr<std::unique_ptr<SmtpClient>> Open(const SmtpEndpoint& endpoint,
                                                    Duration connect_timeout, SteadyTime deadline);
  ~SmtpClient();
  SmtpClient(const SmtpClient&) = delete;
  SmtpClient& operator=(const SmtpClient&) = delete;

  bool offers_pipelining() const { return pipelining_; }
  bool offers_starttls() const { return starttls_; }

  // Sends one message; `payload` comes from SmtpDataPayload and `from` and `recipients` are bare
  // addresses (no angle brackets).
  Status SendMail(const std::string& from, const std::vector<std::string>& recipients,
                  std::string_view payload, SteadyTime deadline);
  // True when the last SendMail failed before the server sent a byte of reply: nothing was
  // delivered, and a kept connection that the server had closed looks like this.
  bool failed_before_any_reply() const { return failed_before_any_reply_; }

  // The connection is open and the server has sent nothing unasked (checked before reuse).
  bool LooksIdle() const { return in_sync_ && socket_.LooksIdle(); }

 private:
  explicit SmtpClient(SmtpSocket socket) : socket_(std::move(socket)) {}
  Status Hello(const std::string& helo_name, SteadyTime deadline);
  Status Exchange(const std::string& from, const std::vector<std::string>& recipients,
                  std::string_view payload, SteadyTime deadline);

  SmtpSocket socket_;
  bool pipelining_ = false;
  bool starttls_ = false;
  bool in_sync_ = false;  // between messages: a command may be sent next
  bool failed_before_any_reply_ = false;
};

}  // namespace flowrun

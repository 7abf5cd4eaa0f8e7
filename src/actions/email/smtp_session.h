// SmtpSession: one SMTP connection (RFC 5321) spoken by the OutboundLoop itself, never blocking
// it: DNS (HostResolver), connect, greeting, EHLO (HELO when EHLO is refused), STARTTLS or TLS
// from the first byte, AUTH PLAIN or LOGIN, then any number of transactions (MAIL, RCPT, DATA),
// one at a time; MAIL, RCPT and DATA go out in one write when the server offers PIPELINING
// (RFC 2920), and the message follows the DATA reply. A refused MAIL or RCPT fails the message
// before its payload is sent, even when DATA was accepted: the session is then dropped, which
// aborts the transaction. QUIT is written when the session is closed in a known state; its reply
// is not awaited.
//
// STARTTLS follows SmtpSessionOptions::starttls: kAuto uses it when offered (and goes on in the
// clear when the server then refuses it), kRequired refuses a server that does not offer it
// (kFailedPrecondition), kOff never uses it. After STARTTLS, anything the server sent before the
// handshake is dropped and EHLO is asked again. Credentials are used when the server offers AUTH
// (PLAIN preferred); a server that offers none is used without, as libcurl did.
//
// Errors carry the retry decision: a 4xx reply or a broken, refused or malformed connection is
// kUnavailable, a 5xx reply kFailedPrecondition (a refused AUTH: kUnauthenticated), a wait past
// `until` kDeadlineExceeded. Replies are quoted: `server replied "550 5.1.1 No such user"`. The
// messages do not name the server; the client prefixes them.
//
// After a failed transaction the session is not used again (Close ends it).
//
// Thread-safety: loop thread only. Callbacks run on it, possibly before the call returns.
#pragma once

#include <openssl/ssl.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actions/email/smtp_reply.h"
#include "actions/host_resolver.h"
#include "actions/loop_stream.h"
#include "actions/outbound_loop.h"
#include "config/config.h"

namespace flowrun {

// Where the server is: smtp://host[:port][/ehlo-name] (port 25) or smtps://... (port 465, TLS
// from the first byte). IPv6 hosts in brackets.
struct SmtpEndpoint {
  std::string url;  // as configured
  std::string host;
  int port = 25;
  bool implicit_tls = false;
  std::string ehlo_name = "localhost";  // the URL's path, as libcurl used it

  // Errors: kInvalidArgument for another scheme, no host or a bad port.
  static StatusOr<SmtpEndpoint> Parse(const std::string& url);
};

struct SmtpSessionOptions {
  SmtpEndpoint endpoint;
  StartTls starttls = StartTls::kAuto;
  std::string username;  // empty: no AUTH
  std::string password;
  std::shared_ptr<SSL_CTX> tls;  // REQUIRES: set (MakeTlsClientContext)
};

// One message's envelope and its DATA payload (smtp_data.h).
struct SmtpEnvelope {
  std::string from;                     // the bare address
  std::vector<std::string> recipients;  // bare addresses, at least one
  std::string payload;
};

struct SmtpSendOutcome {
  Status status;
  // The message failed in a way that delivered nothing and says nothing about the server's
  // health: a kept connection that broke before any reply to this message, or answered 421 (the
  // server closed it while it sat idle). One more try on a new connection is safe.
  bool retry_on_new_connection = false;
};

class SmtpSession : public std::enable_shared_from_this<SmtpSession> {
 public:
  using Done = std::function<void(Status status)>;
  using SendDone = std::function<void(SmtpSendOutcome outcome)>;

  // `options` and `resolver` must outlive the session.
  SmtpSession(OutboundLoop& loop, const SmtpSessionOptions& options, HostResolver& resolver);

  // Connects and says hello: connecting (DNS, TCP, and TLS for smtps) is bounded by
  // `connect_until`, all of it by `until`.
  void Open(SteadyTime connect_until, SteadyTime until, Done done);
  // One transaction. REQUIRES: opened, idle; `envelope` lives until `done` runs.
  void Send(const SmtpEnvelope& envelope, SteadyTime until, SendDone done);
  // Whether the server spoke or closed while the session sat idle: it cannot be used.
  bool ServerGaveUp() const { return stream_->PeerSpokeWhileIdle() || reader_.HasBuffered(); }
  // Ends the session: writes QUIT first when it is idle or ended on a complete reply.
  void Close();
  // Ends what is in flight at once (an Open still resolving fails with kUnavailable).
  void Abort();
  int messages_sent() const { return messages_sent_; }

 private:
  using ReplyDone = std::function<void(StatusOr<SmtpReply> reply)>;

  void Greet();
  void Hello(bool after_tls);
  void AfterHello(const SmtpReply& ehlo, bool after_tls);
  void Authenticate(const SmtpReply& ehlo);
  void ReadReply(ReplyDone done);
  void Command(std::string line, ReplyDone done);
  void FinishOpen(Status status);
  // MAIL (index 0) and RCPT (1..): one command at a time, or the replies to a pipelined batch.
  std::string EnvelopeLine(size_t index) const;
  void SendEnvelope(size_t index);
  void ReadEnvelopeReply(size_t index, bool pipelined);
  void SendData();
  // Given the reply to DATA: sends the payload if it is 354, and reads the final reply.
  void SendPayload(StatusOr<SmtpReply> data_reply);
  void FinishSend(Status status);

  OutboundLoop& loop_;
  const SmtpSessionOptions& options_;
  HostResolver& resolver_;
  std::shared_ptr<LoopStream> stream_;
  SmtpReplyReader reader_;
  SteadyTime until_;
  Done open_done_;
  SendDone send_done_;
  const SmtpEnvelope* envelope_ = nullptr;  // the transaction in flight; the caller keeps it
  bool resolving_ = false;
  bool idle_ = false;         // opened, no transaction in flight
  bool known_state_ = false;  // the last exchange ended on a complete reply
  bool pipelining_ = false;
  int replies_this_message_ = 0;
  int first_reply_code_ = 0;  // to this message's first command
  int messages_sent_ = 0;
};

}  // namespace flowrun

#include "actions/email/smtp_session.h"

#include <algorithm>
#include <cctype>

#include "common/base64.h"

namespace flowrun {
namespace {

std::string Quote(const SmtpReply& reply) { return "server replied \"" + reply.LastLine() + "\""; }

// A reply other than the one the exchange needed.
Status ReplyError(const SmtpReply& reply, const std::string& context = {}) {
  std::string message = context + Quote(reply);
  if (reply.code >= 500) return FailedPreconditionError(message);
  return UnavailableError(message);
}

// A failure to reach the server at all.
Status ConnectError(const Status& status) {
  if (status.code() == StatusCode::kDeadlineExceeded) {
    return DeadlineExceededError("timed out: " + status.message());
  }
  if (status.code() == StatusCode::kFailedPrecondition) return status;
  return UnavailableError("could not connect: " + status.message());
}

}  // namespace

StatusOr<SmtpEndpoint> SmtpEndpoint::Parse(const std::string& url) {
  SmtpEndpoint endpoint;
  endpoint.url = url;
  std::string rest;
  if (url.rfind("smtp://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("smtps://", 0) == 0) {
    rest = url.substr(8);
    endpoint.implicit_tls = true;
    endpoint.port = 465;
  } else {
    return InvalidArgumentError("smtp url \"" + url + "\" must start with smtp:// or smtps://");
  }
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos && slash + 1 < rest.size()) {
    endpoint.ehlo_name = rest.substr(slash + 1);
  }
  if (size_t at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos)
      return InvalidArgumentError("smtp url \"" + url + "\": bad host");
    endpoint.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        return InvalidArgumentError("smtp url \"" + url + "\": bad host");
      }
      port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    endpoint.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (endpoint.host.empty()) return InvalidArgumentError("smtp url \"" + url + "\" names no host");
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        })) {
      return InvalidArgumentError("smtp url \"" + url + "\": bad port");
    }
    endpoint.port = std::stoi(port);
    if (endpoint.port < 1 || endpoint.port > 65535) {
      return InvalidArgumentError("smtp url \"" + url + "\": bad port");
    }
  }
  return endpoint;
}

SmtpSession::SmtpSession(OutboundLoop& loop, const SmtpSessionOptions& options,
                         HostResolver& resolver)
    : loop_(loop),
      options_(options),
      resolver_(resolver),
      stream_(std::make_shared<LoopStream>(loop)) {}

void SmtpSession::Open(SteadyTime connect_until, SteadyTime until, Done done) {
  open_done_ = std::move(done);
  until_ = until;
  resolving_ = true;
  const SmtpEndpoint& endpoint = options_.endpoint;
  resolver_.Resolve(
      endpoint.host, endpoint.port, connect_until,
      [self = shared_from_this(), connect_until](StatusOr<std::vector<SocketAddress>> addresses) {
        if (!self->resolving_) return;  // aborted meanwhile
        self->resolving_ = false;
        if (!addresses.ok()) return self->FinishOpen(ConnectError(addresses.status()));
        self->stream_->Connect(
            std::move(*addresses), connect_until, [self, connect_until](Status connected) {
              if (!connected.ok()) {
                return self->FinishOpen(ConnectError(connected));
              }
              if (!self->options_.endpoint.implicit_tls) return self->Greet();
              self->stream_->StartTls(self->options_.tls.get(), self->options_.endpoint.host,
                                      connect_until, [self](Status secured) {
                                        if (!secured.ok()) {
                                          return self->FinishOpen(ConnectError(secured));
                                        }
                                        self->Greet();
                                      });
            });
      });
}

void SmtpSession::Greet() {
  ReadReply([self = shared_from_this()](StatusOr<SmtpReply> greeting) {
    if (!greeting.ok()) return self->FinishOpen(greeting.status());
    if (greeting->code != 220) return self->FinishOpen(ReplyError(*greeting));
    self->Hello(false);
  });
}

void SmtpSession::Hello(bool after_tls) {
  Command("EHLO " + options_.endpoint.ehlo_name,
          [self = shared_from_this(), after_tls](StatusOr<SmtpReply> ehlo) {
            if (!ehlo.ok()) return self->FinishOpen(ehlo.status());
            if (ehlo->code == 250) return self->AfterHello(*ehlo, after_tls);
            if (ehlo->code < 500) return self->FinishOpen(ReplyError(*ehlo));
            // An old server: HELO, without extensions.
            self->Command("HELO " + self->options_.endpoint.ehlo_name,
                          [self, after_tls](StatusOr<SmtpReply> helo) {
                            if (!helo.ok()) return self->FinishOpen(helo.status());
                            if (helo->code != 250) return self->FinishOpen(ReplyError(*helo));
                            self->AfterHello(SmtpReply{}, after_tls);
                          });
          });
}

void SmtpSession::AfterHello(const SmtpReply& ehlo, bool after_tls) {
  pipelining_ = ehlo.Offers("PIPELINING");
  if (after_tls || stream_->is_tls() || options_.starttls == StartTls::kOff) {
    return Authenticate(ehlo);
  }
  if (!ehlo.Offers("STARTTLS")) {
    if (options_.starttls == StartTls::kRequired) {
      return FinishOpen(FailedPreconditionError(
          "the server does not offer STARTTLS, which smtp.starttls requires"));
    }
    return Authenticate(ehlo);
  }
  Command("STARTTLS", [self = shared_from_this(), ehlo](StatusOr<SmtpReply> reply) {
    if (!reply.ok()) return self->FinishOpen(reply.status());
    if (reply->code != 220) {
      if (self->options_.starttls == StartTls::kRequired) {
        return self->FinishOpen(FailedPreconditionError(
            "the server refused STARTTLS, which smtp.starttls requires: " + Quote(*reply)));
      }
      return self->Authenticate(ehlo);  // auto: on in the clear
    }
    // Whatever came before the handshake was not protected by it.
    self->reader_.Clear();
    self->stream_->StartTls(self->options_.tls.get(), self->options_.endpoint.host, self->until_,
                            [self](Status secured) {
                              if (!secured.ok()) return self->FinishOpen(secured);
                              self->Hello(true);
                            });
  });
}

void SmtpSession::Authenticate(const SmtpReply& ehlo) {
  if (options_.username.empty()) return FinishOpen(OkStatus());
  std::vector<std::string> mechanisms = ehlo.ParametersOf("AUTH");
  if (mechanisms.empty()) return FinishOpen(OkStatus());
  auto offered = [&](const char* name) {
    return std::find(mechanisms.begin(), mechanisms.end(), name) != mechanisms.end();
  };
  auto result = [self = shared_from_this()](StatusOr<SmtpReply> reply) {
    if (!reply.ok()) return self->FinishOpen(reply.status());
    if (reply->code == 235) return self->FinishOpen(OkStatus());
    if (reply->transient()) {
      return self->FinishOpen(UnavailableError("authentication failed: " + Quote(*reply)));
    }
    self->FinishOpen(UnauthenticatedError("authentication failed: " + Quote(*reply)));
  };
  if (offered("PLAIN")) {
    std::string credentials = std::string(1, '\0') + options_.username + '\0' + options_.password;
    return Command("AUTH PLAIN " + Base64Encode(credentials), result);
  }
  if (offered("LOGIN")) {
    return Command("AUTH LOGIN", [self = shared_from_this(), result](StatusOr<SmtpReply> reply) {
      if (!reply.ok() || reply->code != 334) return result(std::move(reply));
      self->Command(Base64Encode(self->options_.username),
                    [self, result](StatusOr<SmtpReply> reply) {
                      if (!reply.ok() || reply->code != 334) return result(std::move(reply));
                      self->Command(Base64Encode(self->options_.password), result);
                    });
    });
  }
  FinishOpen(UnauthenticatedError(
      "authentication failed: the server offers no AUTH mechanism flowrun supports (PLAIN, "
      "LOGIN)"));
}

void SmtpSession::FinishOpen(Status status) {
  idle_ = status.ok();
  Done done = std::move(open_done_);
  if (done) done(std::move(status));
}

void SmtpSession::ReadReply(ReplyDone done) {
  StatusOr<std::optional<SmtpReply>> next = reader_.Next();
  if (!next.ok()) {
    known_state_ = false;
    return done(next.status());
  }
  if (next->has_value()) {
    if (++replies_this_message_ == 1) first_reply_code_ = (*next)->code;
    known_state_ = !reader_.HasBuffered();
    return done(std::move(**next));
  }
  stream_->Read(until_, [self = shared_from_this(),
                         done = std::move(done)](StatusOr<std::string_view> bytes) mutable {
    if (!bytes.ok()) {
      self->known_state_ = false;
      return done(bytes.status());
    }
    self->reader_.Feed(*bytes);
    self->ReadReply(std::move(done));
  });
}

void SmtpSession::Command(std::string line, ReplyDone done) {
  known_state_ = false;
  line += "\r\n";
  stream_->Write(std::move(line), until_,
                 [self = shared_from_this(), done = std::move(done)](Status written) mutable {
                   if (!written.ok()) return done(std::move(written));
                   self->ReadReply(std::move(done));
                 });
}

void SmtpSession::Send(const SmtpEnvelope& envelope, SteadyTime until, SendDone done) {
  until_ = until;
  send_done_ = std::move(done);
  envelope_ = &envelope;
  idle_ = false;
  replies_this_message_ = 0;
  first_reply_code_ = 0;
  if (!pipelining_) return SendEnvelope(0);
  // RFC 2920: DATA may end a pipelined group. Its reply comes after those of MAIL and RCPT; if
  // any of them refused, the transaction fails and the session is dropped without the payload.
  std::string batch = "MAIL FROM:<" + envelope.from + ">\r\n";
  for (const std::string& to : envelope.recipients) batch += "RCPT TO:<" + to + ">\r\n";
  batch += "DATA\r\n";
  known_state_ = false;
  stream_->Write(std::move(batch), until_, [self = shared_from_this()](Status written) {
    if (!written.ok()) return self->FinishSend(written);
    self->ReadEnvelopeReply(0, true);
  });
}

std::string SmtpSession::EnvelopeLine(size_t index) const {
  if (index == 0) return "MAIL FROM:<" + envelope_->from + ">";
  return "RCPT TO:<" + envelope_->recipients[index - 1] + ">";
}

void SmtpSession::SendEnvelope(size_t index) {
  if (index > envelope_->recipients.size()) return SendData();
  Command(EnvelopeLine(index), [self = shared_from_this(), index](StatusOr<SmtpReply> reply) {
    if (!reply.ok()) return self->FinishSend(reply.status());
    if (!reply->positive() || reply->code >= 300) return self->FinishSend(ReplyError(*reply));
    self->SendEnvelope(index + 1);
  });
}

void SmtpSession::ReadEnvelopeReply(size_t index, bool pipelined) {
  if (index > envelope_->recipients.size()) {
    if (!pipelined) return SendData();
    return ReadReply([self = shared_from_this()](StatusOr<SmtpReply> reply) {
      self->SendPayload(std::move(reply));
    });
  }
  ReadReply([self = shared_from_this(), index, pipelined](StatusOr<SmtpReply> reply) {
    if (!reply.ok()) return self->FinishSend(reply.status());
    if (reply->code < 200 || reply->code >= 300) {
      self->known_state_ = false;  // replies to the rest of the batch are still on their way
      return self->FinishSend(ReplyError(*reply));
    }
    self->ReadEnvelopeReply(index + 1, pipelined);
  });
}

void SmtpSession::SendData() {
  Command("DATA", [self = shared_from_this()](StatusOr<SmtpReply> reply) {
    self->SendPayload(std::move(reply));
  });
}

void SmtpSession::SendPayload(StatusOr<SmtpReply> data_reply) {
  if (!data_reply.ok()) return FinishSend(data_reply.status());
  if (data_reply->code != 354) return FinishSend(ReplyError(*data_reply));
  known_state_ = false;
  stream_->Write(envelope_->payload, until_, [self = shared_from_this()](Status written) {
    if (!written.ok()) return self->FinishSend(written);
    self->ReadReply([self](StatusOr<SmtpReply> reply) {
      if (!reply.ok()) return self->FinishSend(reply.status());
      if (reply->code < 200 || reply->code >= 300) return self->FinishSend(ReplyError(*reply));
      self->FinishSend(OkStatus());
    });
  });
}

void SmtpSession::FinishSend(Status status) {
  SmtpSendOutcome outcome;
  bool kept_connection = messages_sent_ > 0;
  if (status.ok()) {
    ++messages_sent_;
    idle_ = true;
  } else {
    outcome.retry_on_new_connection =
        kept_connection &&
        ((replies_this_message_ == 0 && status.code() == StatusCode::kUnavailable) ||
         first_reply_code_ == 421);
  }
  outcome.status = std::move(status);
  envelope_ = nullptr;
  SendDone done = std::move(send_done_);
  if (done) done(std::move(outcome));
}

void SmtpSession::Close() {
  bool say_quit = known_state_ && !resolving_;
  idle_ = false;
  known_state_ = false;
  if (!say_quit) return stream_->Abort();
  // The reply is not awaited; the stream lives on only while the write waits.
  stream_->Write("QUIT\r\n", std::chrono::steady_clock::now() + std::chrono::seconds(1),
                 [](Status) {});
}

void SmtpSession::Abort() {
  if (resolving_) {
    resolving_ = false;
    FinishOpen(UnavailableError("the service is shutting down"));
  }
  stream_->Abort();
}

}  // namespace flowrun

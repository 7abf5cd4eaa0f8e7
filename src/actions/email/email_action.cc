#include "actions/email/email_action.h"

#include <algorithm>
#include <memory>
#include <set>
#include <string_view>

#include "actions/email/mime_message.h"
#include "actions/email/outbox_redaction.h"
#include "actions/email/smtp_data.h"

namespace flowrun {
namespace {

bool IsTemplate(const Json& value) {
  return value.is_string() && value.get_ref<const std::string&>().find("${{") != std::string::npos;
}

const std::set<std::string>& KnownKeys() {
  static const std::set<std::string> keys = {"to",      "cc",   "bcc",  "from",   "reply_to",
                                             "subject", "text", "html", "headers"};
  return keys;
}

struct Email {
  MimeMessage message;
  std::vector<MailAddress> bcc;
};

StatusOr<Email> ParseEmail(const Json& args, const std::string& default_from) {
  if (!args.is_object()) return InvalidArgumentError("email arguments must be a map");
  for (const auto& [key, value] : args.items()) {
    if (!KnownKeys().count(key))
      return InvalidArgumentError("unknown email argument \"" + key + "\"");
  }
  Email email;
  MimeMessage& m = email.message;
  if (!args.contains("to")) return InvalidArgumentError("to is required");
  ASSIGN_OR_RETURN(m.to, ParseMailAddressList(args["to"], "to"));
  if (m.to.empty()) return InvalidArgumentError("to names no address");
  if (args.contains("cc")) {
    ASSIGN_OR_RETURN(m.cc, ParseMailAddressList(args["cc"], "cc"));
  }
  if (args.contains("bcc")) {
    ASSIGN_OR_RETURN(email.bcc, ParseMailAddressList(args["bcc"], "bcc"));
  }
  if (args.contains("reply_to")) {
    ASSIGN_OR_RETURN(m.reply_to, ParseMailAddressList(args["reply_to"], "reply_to"));
  }
  std::string from = default_from;
  if (args.contains("from")) {
    if (!args["from"].is_string()) return InvalidArgumentError("from must be a string");
    from = args["from"].get<std::string>();
  }
  if (from.empty()) {
    return InvalidArgumentError("from is required: the step names none and smtp.from is not set");
  }
  ASSIGN_OR_RETURN(m.from, ParseMailAddress(from, "from"));
  for (const char* key : {"subject", "text", "html"}) {
    if (args.contains(key) && !args[key].is_string() && !args[key].is_null()) {
      return InvalidArgumentError(std::string(key) + " must be a string");
    }
  }
  if (args.contains("subject") && args["subject"].is_string()) m.subject = args["subject"];
  if (args.contains("text") && args["text"].is_string()) m.text = args["text"];
  if (args.contains("html") && args["html"].is_string()) m.html = args["html"];
  if (args.contains("headers")) {
    if (!args["headers"].is_object()) return InvalidArgumentError("headers must be a map");
    for (const auto& [name, value] : args["headers"].items()) {
      if (!value.is_string())
        return InvalidArgumentError("header \"" + name + "\" must be a string");
      m.headers.emplace_back(name, value.get<std::string>());
    }
  }
  return email;
}

// The step's deadline on the steady clock the SMTP client counts in; never when there is none.
SteadyTime SteadyDeadline(TimePoint deadline, const Clock& clock) {
  if (deadline == TimePoint{}) return SteadyTime::max();
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(deadline - clock.Now());
}

}  // namespace

EmailAction::EmailAction(EmailActionOptions options) : options_(std::move(options)) {
  if (!options_.smtp) return;
  loop_ = options_.loop;
  if (loop_ == nullptr) {
    own_loop_ = std::make_unique<OutboundLoop>();
    (void)own_loop_->Start();
    loop_ = own_loop_.get();
  }
  SmtpClientOptions client;
  StatusOr<SmtpEndpoint> endpoint = SmtpEndpoint::Parse(options_.smtp->url);
  StatusOr<std::shared_ptr<SSL_CTX>> tls = MakeTlsClientContext(options_.ca_file);
  if (!endpoint.ok() || !tls.ok()) {
    smtp_error_ = !endpoint.ok() ? endpoint.status() : tls.status();
    return;
  }
  client.session.endpoint = std::move(*endpoint);
  client.session.tls = std::move(*tls);
  client.session.starttls = options_.smtp->starttls;
  client.session.username = options_.smtp->username;
  client.session.password = options_.smtp->password;
  client.max_sessions = static_cast<size_t>(std::max(1, options_.smtp->max_sessions));
  client.connect_timeout = options_.connect_timeout;
  client.timeout = options_.timeout;
  client_ = std::make_unique<SmtpClient>(*loop_, std::move(client));
}

EmailAction::~EmailAction() {
  client_.reset();    // ends its messages on the loop; waits for nothing
  own_loop_.reset();  // runs that, and joins
}

EmailActionStats EmailAction::Stats() const {
  if (client_ == nullptr) return {};
  SmtpClientStats stats = client_->Stats();
  return {stats.sessions_in_use, stats.waiting};
}

Status EmailAction::CheckArguments(const Json& raw) const {
  if (!raw.is_object()) return InvalidArgumentError("email arguments must be a map");
  Json literal = Json::object();
  for (const auto& [key, value] : raw.items()) {
    if (!KnownKeys().count(key))
      return InvalidArgumentError("unknown email argument \"" + key + "\"");
    if (key == "subject" && value.is_string() &&
        value.get_ref<const std::string&>().find_first_of("\r\n") != std::string::npos) {
      return InvalidArgumentError("subject contains CR or LF");
    }
    if (IsTemplate(value)) {
      // Addresses rendered at run time; a placeholder keeps the shape checks below meaningful.
      if (key == "to" || key == "cc" || key == "bcc" || key == "reply_to" || key == "from") {
        literal[key] = "placeholder@example.com";
      } else {
        literal[key] = "x";
      }
      continue;
    }
    if (value.is_array() && (key == "to" || key == "cc" || key == "bcc" || key == "reply_to")) {
      Json items = Json::array();
      for (const Json& item : value) {
        items.push_back(IsTemplate(item) ? Json("placeholder@example.com") : item);
      }
      literal[key] = items;
      continue;
    }
    literal[key] = value;
  }
  std::string default_from = options_.smtp ? options_.smtp->from : std::string(kOutboxSender);
  ASSIGN_OR_RETURN(Email email, ParseEmail(literal, default_from));
  email.message.message_id = MessageIdFor("check");
  StatusOr<std::string> mime = RenderMime(email.message);
  return mime.ok() ? OkStatus() : mime.status();
}

void EmailAction::Start(ActionRequest request, ActionCallback done) {
  std::optional<SmtpEnvelope> envelope;
  StatusOr<Json> result = Deliver(request, envelope);
  if (envelope.has_value() && result.ok()) {
    // Handed to SMTP: `done` is called when the client is done with it.
    const Clock& clock = options_.clock ? *options_.clock : system_clock_;
    SteadyTime deadline = SteadyDeadline(request.deadline, clock);
    client_->Send(std::move(*envelope), deadline,
                  [request = std::move(request), done = std::move(done), output = *result,
                   redactor = options_.redactor](Status status) mutable {
                    StatusOr<Json> sent = status.ok() ? StatusOr<Json>(std::move(output))
                                                      : StatusOr<Json>(std::move(status));
                    if (!sent.ok() && redactor != nullptr) {
                      sent = redactor->RedactStatus(sent.status());
                    }
                    done(std::move(request), std::move(sent));
                  });
    return;
  }
  if (!result.ok() && options_.redactor != nullptr) {
    result = options_.redactor->RedactStatus(result.status());
  }
  done(std::move(request), std::move(result));
}

StatusOr<Json> EmailAction::Deliver(const ActionRequest& request,
                                    std::optional<SmtpEnvelope>& envelope) {
  std::string default_from = options_.smtp ? options_.smtp->from : std::string(kOutboxSender);
  ASSIGN_OR_RETURN(Email email, ParseEmail(request.arguments, default_from));
  const Clock& clock = options_.clock ? *options_.clock : system_clock_;
  email.message.message_id = MessageIdFor(request.idempotency_key);
  email.message.date = clock.Now();
  ASSIGN_OR_RETURN(std::string mime, RenderMime(email.message));

  std::vector<std::string> recipients;
  for (const auto* list : {&email.message.to, &email.message.cc, &email.bcc}) {
    for (const MailAddress& a : *list) {
      if (std::find(recipients.begin(), recipients.end(), a.address) == recipients.end()) {
        recipients.push_back(a.address);
      }
    }
  }
  Json output = {{"message_id", email.message.message_id}};
  if (options_.smtp) {
    RETURN_IF_ERROR(smtp_error_);
    if (request.deadline != TimePoint{} && request.deadline <= clock.Now()) {
      return DeadlineExceededError("the step's deadline has passed");
    }
    envelope.emplace();
    envelope->from = email.message.from.address;
    envelope->recipients = std::move(recipients);
    envelope->payload = SmtpDataPayload(mime);
    return output;
  }
  if (options_.outbox == nullptr) {
    return FailedPreconditionError("no SMTP server is configured and there is no outbox");
  }
  // The outbox is shown by the API and dashboard: it keeps the message with its secrets
  // redacted, rendered again so that its base64 parts carry no secret either.
  const MimeMessage shown =
      options_.redactor ? RedactForOutbox(email.message, *options_.redactor) : email.message;
  OutboxMessage record;
  record.message_id = shown.message_id;
  record.run_id = request.run_id;
  record.step_key = request.step_key;
  record.from = shown.from.address;
  for (const std::string& r : recipients) {
    record.recipients.push_back(options_.redactor ? options_.redactor->RedactText(r) : r);
  }
  record.subject = shown.subject;
  if (options_.redactor) {
    ASSIGN_OR_RETURN(record.mime, RenderMime(shown));
  } else {
    record.mime = std::move(mime);
  }
  record.created_at = shown.date;
  RETURN_IF_ERROR(options_.outbox->Put(record));
  return output;
}

}  // namespace flowrun

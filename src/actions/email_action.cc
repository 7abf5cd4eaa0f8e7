#include "actions/email_action.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>
#include <string_view>

#include "actions/mime_message.h"
#include "actions/outbox_redaction.h"

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

// Keeps the server's last 4xx or 5xx reply line, so that errors quote what the server said (a
// failed transfer may still say QUIT, whose reply must not hide the refusal). libcurl hands every
// SMTP reply line to the header callback; unlike CURLOPT_VERBOSE with a debug callback, this
// formats nothing.
size_t CaptureRefusal(char* data, size_t size, size_t count, void* user) {
  size_t n = size * count;
  if (n > 0 && (data[0] == '4' || data[0] == '5')) {
    std::string_view line(data, n);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    static_cast<std::string*>(user)->assign(line);
  }
  return n;
}

struct Upload {
  const std::string* data = nullptr;
  size_t offset = 0;
};

size_t ReadUpload(char* buffer, size_t size, size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  size_t n = std::min(size * count, upload->data->size() - upload->offset);
  std::copy_n(upload->data->data() + upload->offset, n, buffer);
  upload->offset += n;
  return n;
}

std::string WithAngles(const std::string& address) { return "<" + address + ">"; }

constexpr size_t kMaxIdleHandles = 256;

}  // namespace

// One message on its way: the attempt it belongs to, the envelope and message, and the state of
// the current transfer. Owned by whoever holds it: Start, the waiting queue, then the loop (as a
// raw pointer in the transfer's callback).
struct EmailAction::Send {
  ActionRequest request;
  ActionCallback done;
  std::string message_id;
  std::string mime;
  std::string from;  // "<address>"
  curl_slist* rcpt = nullptr;
  Duration timeout{};
  int tries = 0;
  bool holds_session = false;
  CURL* easy = nullptr;
  Upload upload;
  std::string refusal;  // the last 4xx or 5xx reply line read from the server
  char error[CURL_ERROR_SIZE] = {0};

  ~Send() { curl_slist_free_all(rcpt); }
};

namespace {

// Translates a failed transfer: the code carries the retry decision.
Status SmtpError(const SmtpConfig& smtp, CURL* h, const std::string& refusal,
                 const char* error_buffer, CURLcode code) {
  long reply = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply);
  std::string detail = error_buffer[0] ? error_buffer : curl_easy_strerror(code);
  std::string where = "SMTP " + smtp.url;
  if (reply >= 400 && reply < 600 && refusal.rfind(std::to_string(reply), 0) == 0) {
    detail = "server replied \"" + refusal + "\"";
  }
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
      return UnavailableError(where + ": could not connect: " + detail);
    case CURLE_OPERATION_TIMEDOUT:
      return DeadlineExceededError(where + ": timed out: " + detail);
    case CURLE_USE_SSL_FAILED:
      return FailedPreconditionError(where +
                                     ": the server does not offer STARTTLS, which "
                                     "smtp.starttls requires: " +
                                     detail);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      return FailedPreconditionError(where +
                                     ": the server's TLS certificate could not be "
                                     "verified: " +
                                     detail);
    case CURLE_LOGIN_DENIED:
      if (reply >= 400 && reply < 500) return UnavailableError(where + ": " + detail);
      return UnauthenticatedError(where + ": authentication failed: " + detail);
    default:
      break;
  }
  if (reply >= 400 && reply < 500) return UnavailableError(where + ": " + detail);
  if (reply >= 500) return FailedPreconditionError(where + ": " + detail);
  // No SMTP reply to judge by: the connection broke or TLS failed; worth another attempt.
  return UnavailableError(where + ": " + detail);
}

}  // namespace

EmailAction::EmailAction(EmailActionOptions options)
    : options_(std::move(options)),
      max_sessions_(options_.smtp ? static_cast<size_t>(std::max(1, options_.smtp->max_sessions))
                                  : 1) {
  loop_ = options_.loop;
  if (loop_ == nullptr && options_.smtp) {
    own_loop_ = std::make_unique<OutboundLoop>();
    (void)own_loop_->Start();
    loop_ = own_loop_.get();
  }
}

EmailAction::~EmailAction() {
  own_loop_.reset();  // ends (and frees) the messages still in flight on it
  for (CURL* easy : idle_handles_) curl_easy_cleanup(easy);
}

EmailActionStats EmailAction::Stats() const {
  std::lock_guard lock(mu_);
  return {static_cast<long long>(sessions_in_use_), static_cast<long long>(waiting_.size())};
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
  auto send = std::make_unique<Send>();
  StatusOr<Json> result = Deliver(request, send);
  if (send != nullptr && result.ok()) {
    // Handed to SMTP: `done` is called when the transfer ends.
    send->request = std::move(request);
    send->done = std::move(done);
    Admit(std::move(send));
    return;
  }
  if (!result.ok() && options_.redactor != nullptr) {
    result = options_.redactor->RedactStatus(result.status());
  }
  done(std::move(request), std::move(result));
}

// Builds the message; puts it in the outbox (and returns the output, leaving `send` null) or fills
// `send` for SMTP. Errors come before anything is sent.
StatusOr<Json> EmailAction::Deliver(const ActionRequest& request, std::unique_ptr<Send>& send) {
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
    Duration timeout = options_.timeout;
    if (request.deadline != TimePoint{}) {
      Duration remaining = std::chrono::duration_cast<Duration>(request.deadline - clock.Now());
      if (remaining.count() <= 0) return DeadlineExceededError("the step's deadline has passed");
      timeout = std::min(timeout, remaining);
    }
    send->timeout = timeout;
    send->message_id = email.message.message_id;
    send->mime = std::move(mime);
    send->from = WithAngles(email.message.from.address);
    for (const std::string& r : recipients) {
      curl_slist* grown = curl_slist_append(send->rcpt, WithAngles(r).c_str());
      if (grown == nullptr) return ResourceExhaustedError("out of memory for the recipients");
      send->rcpt = grown;
    }
    return output;
  }
  send.reset();
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

void EmailAction::Admit(std::unique_ptr<Send> send) {
  {
    std::lock_guard lock(mu_);
    if (sessions_in_use_ >= max_sessions_) {
      waiting_.push_back(std::move(send));
      return;
    }
    ++sessions_in_use_;
  }
  send->holds_session = true;
  Transfer(std::move(send));
}

void EmailAction::ReleaseSession() {
  std::unique_ptr<Send> next;
  {
    std::lock_guard lock(mu_);
    if (waiting_.empty()) {
      --sessions_in_use_;
      return;
    }
    next = std::move(waiting_.front());  // takes over the session
    waiting_.pop_front();
  }
  next->holds_session = true;
  Transfer(std::move(next));
}

CURL* EmailAction::TakeHandle() {
  {
    std::lock_guard lock(mu_);
    if (!idle_handles_.empty()) {
      CURL* easy = idle_handles_.back();
      idle_handles_.pop_back();
      return easy;
    }
  }
  return curl_easy_init();
}

void EmailAction::KeepHandle(CURL* easy) {
  curl_easy_reset(easy);
  {
    std::lock_guard lock(mu_);
    if (idle_handles_.size() < kMaxIdleHandles) {
      idle_handles_.push_back(easy);
      return;
    }
  }
  curl_easy_cleanup(easy);
}

void EmailAction::Transfer(std::unique_ptr<Send> send) {
  const SmtpConfig& smtp = *options_.smtp;
  Send& s = *send;
  if (s.tries == 0) s.upload.data = &s.mime;
  ++s.tries;
  if (s.easy == nullptr) s.easy = TakeHandle();
  if (s.easy == nullptr)
    return Finish(std::move(send), InternalError("could not create a libcurl handle"));
  CURL* h = s.easy;
  if (s.tries > 1) curl_easy_reset(h);
  // A retry never takes the kept connection that just died; a first try may reuse any.
  curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, s.tries > 1 ? 1L : 0L);
  s.upload.offset = 0;
  s.refusal.clear();
  s.error[0] = 0;
  curl_easy_setopt(h, CURLOPT_URL, smtp.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  // libcurl's smallest upload buffer: messages are small, and a 64 KiB buffer per message costs
  // more in malloc than it saves in reads.
  curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, ReadUpload);
  curl_easy_setopt(h, CURLOPT_READDATA, &s.upload);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s.error);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, CaptureRefusal);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &s.refusal);
  long use_ssl = smtp.starttls == StartTls::kRequired ? CURLUSESSL_ALL
                 : smtp.starttls == StartTls::kOff    ? CURLUSESSL_NONE
                                                      : CURLUSESSL_TRY;
  if (smtp.url.rfind("smtps://", 0) == 0) use_ssl = CURLUSESSL_ALL;
  curl_easy_setopt(h, CURLOPT_USE_SSL, use_ssl);
  if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (!smtp.username.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, smtp.username.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, smtp.password.c_str());
  }
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, s.from.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, s.rcpt);
  long timeout_ms = std::max<long>(1, static_cast<long>(s.timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   std::min<long>(timeout_ms, static_cast<long>(options_.connect_timeout.count())));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  Send* raw = send.release();
  loop_->AddTransfer(h, [this, raw](CURLcode code) {
    std::unique_ptr<Send> owned(raw);
    if (code == CURLE_OK) return Finish(std::move(owned), OkStatus());
    if (code == OutboundLoop::kStopped) {
      return Finish(std::move(owned), UnavailableError("SMTP " + options_.smtp->url +
                                                       ": not sent: the service is shutting down"));
    }
    long new_connections = 0;
    curl_easy_getinfo(owned->easy, CURLINFO_NUM_CONNECTS, &new_connections);
    long reply = 0;  // the code of the last reply this transfer read; 0 when it read none
    curl_easy_getinfo(owned->easy, CURLINFO_RESPONSE_CODE, &reply);
    // A kept connection that the server closed just as it was reused fails before the server
    // said a word, or with the 421 the server sent while the connection sat idle ("closing
    // transmission channel"): nothing was delivered, so one more try on a new connection is safe.
    bool reused_connection_died =
        new_connections == 0 &&
        ((reply == 0 &&
          (code == CURLE_SEND_ERROR || code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING)) ||
         reply == 421);
    if (reused_connection_died && owned->tries == 1) return Transfer(std::move(owned));
    Status error = SmtpError(*options_.smtp, owned->easy, owned->refusal, owned->error, code);
    Finish(std::move(owned), std::move(error));
  });
}

void EmailAction::Finish(std::unique_ptr<Send> send, Status status) {
  if (send->easy != nullptr) {
    KeepHandle(send->easy);
    send->easy = nullptr;
  }
  StatusOr<Json> result = status.ok() ? StatusOr<Json>(Json{{"message_id", send->message_id}})
                                      : StatusOr<Json>(std::move(status));
  if (!result.ok() && options_.redactor != nullptr) {
    result = options_.redactor->RedactStatus(result.status());
  }
  bool held_session = send->holds_session;
  ActionCallback done = std::move(send->done);
  ActionRequest request = std::move(send->request);
  send.reset();
  if (held_session) ReleaseSession();
  done(std::move(request), std::move(result));
}

}  // namespace flowrun

#include "actions/email_action.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>
#include <string_view>

#include "actions/mime_message.h"
#include "actions/outbox_redaction.h"
#include "actions/smtp_connection_pool.h"

namespace flowrun {
namespace {

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

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
  const std::string* data;
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

}  // namespace

EmailAction::EmailAction(EmailActionOptions options) : options_(std::move(options)) {
  InitCurlOnce();
  const std::optional<SmtpConfig>& smtp = options_.smtp;
  if (options_.plain_smtp_client && smtp && smtp->username.empty() && smtp->password.empty() &&
      smtp->starttls != StartTls::kRequired) {
    plain_endpoint_ = ParsePlainSmtpUrl(smtp->url);
  }
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
  StatusOr<Json> result = ExecuteBlocking(request);
  done(std::move(request), std::move(result));
}

StatusOr<Json> EmailAction::ExecuteBlocking(const ActionRequest& request) {
  StatusOr<Json> result = ExecuteUnredacted(request);
  if (result.ok() || options_.redactor == nullptr) return result;
  return options_.redactor->RedactStatus(result.status());
}

StatusOr<Json> EmailAction::ExecuteUnredacted(const ActionRequest& request) {
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
  if (options_.smtp) {
    RETURN_IF_ERROR(SendSmtp(email.message.from.address, recipients, mime, request.deadline));
  } else {
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
  }
  return Json{{"message_id", email.message.message_id}};
}

namespace {

// Sends one message on `handle`, reusing its connection when it is still open. The options that
// are the same for every message are set once per handle; libcurl keeps them between transfers.
CURLcode Transfer(const EmailActionOptions& options, SmtpHandle& handle, const std::string& from,
                  curl_slist* rcpt, Upload& upload, Duration timeout) {
  const SmtpConfig& smtp = *options.smtp;
  CURL* h = handle.curl;
  if (!handle.configured) {
    curl_easy_setopt(h, CURLOPT_URL, smtp.url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, ReadUpload);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, handle.error);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, CaptureRefusal);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &handle.refusal);
    long use_ssl = smtp.starttls == StartTls::kRequired ? CURLUSESSL_ALL
                   : smtp.starttls == StartTls::kOff    ? CURLUSESSL_NONE
                                                        : CURLUSESSL_TRY;
    if (smtp.url.rfind("smtps://", 0) == 0) use_ssl = CURLUSESSL_ALL;
    curl_easy_setopt(h, CURLOPT_USE_SSL, use_ssl);
    if (!options.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options.ca_file.c_str());
    if (!smtp.username.empty()) {
      curl_easy_setopt(h, CURLOPT_USERNAME, smtp.username.c_str());
      curl_easy_setopt(h, CURLOPT_PASSWORD, smtp.password.c_str());
    }
    handle.configured = true;
  }
  handle.refusal.clear();
  handle.error[0] = 0;
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(h, CURLOPT_READDATA, &upload);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min(timeout, options.connect_timeout).count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  return curl_easy_perform(h);
}

// Translates a failed transfer: the code carries the retry decision.
Status SmtpError(const SmtpConfig& smtp, const SmtpHandle& handle, CURLcode code) {
  CURL* h = handle.curl;
  const std::string& refusal = handle.refusal;
  const char* error_buffer = handle.error;
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

Status EmailAction::SendSmtp(const std::string& envelope_from,
                             const std::vector<std::string>& recipients, const std::string& mime,
                             TimePoint deadline) {
  Duration timeout = options_.timeout;
  if (deadline != TimePoint{}) {
    const Clock& clock = options_.clock ? *options_.clock : system_clock_;
    Duration remaining = std::chrono::duration_cast<Duration>(deadline - clock.Now());
    if (remaining.count() <= 0) return DeadlineExceededError("the step's deadline has passed");
    timeout = std::min(timeout, remaining);
  }
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  if (plain_endpoint_ && !plain_declined_.load(std::memory_order_relaxed)) {
    std::optional<Status> sent = SendPlain(envelope_from, recipients, mime, give_up);
    if (sent) return *std::move(sent);
  }
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> rcpt(nullptr, curl_slist_free_all);
  for (const std::string& r : recipients) {
    rcpt.reset(curl_slist_append(rcpt.release(), WithAngles(r).c_str()));
  }
  const std::string from = WithAngles(envelope_from);
  for (int attempt = 1;; ++attempt) {
    auto left = std::chrono::duration_cast<Duration>(give_up - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return DeadlineExceededError("SMTP " + options_.smtp->url + ": timed out");
    }
    Upload upload{&mime};
    // Declared after what its options point at, so that it goes first.
    std::unique_ptr<SmtpHandle> handle = pool_.Acquire();
    if (handle->curl == nullptr) return InternalError("could not create a libcurl handle");
    CURLcode code = Transfer(options_, *handle, from, rcpt.get(), upload, left);
    if (code == CURLE_OK) {
      // Nothing may point at this call's data while the handle waits in the pool.
      curl_easy_setopt(handle->curl, CURLOPT_MAIL_RCPT, nullptr);
      curl_easy_setopt(handle->curl, CURLOPT_READDATA, nullptr);
      pool_.Release(std::move(handle));
      return OkStatus();
    }
    long new_connections = 0;
    curl_easy_getinfo(handle->curl, CURLINFO_NUM_CONNECTS, &new_connections);
    long reply = 0;  // the code of the last reply this transfer read; 0 when it read none
    curl_easy_getinfo(handle->curl, CURLINFO_RESPONSE_CODE, &reply);
    // A kept connection that the server closed just as it was reused fails before the server
    // said a word: nothing was delivered, so one more try on a new connection is safe.
    bool reused_connection_died =
        new_connections == 0 && reply == 0 &&
        (code == CURLE_SEND_ERROR || code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING);
    if (reused_connection_died && attempt == 1) continue;  // the handle and its connection go
    return SmtpError(*options_.smtp, *handle, code);
  }
}

std::optional<Status> EmailAction::SendPlain(const std::string& envelope_from,
                                             const std::vector<std::string>& recipients,
                                             const std::string& mime, SteadyTime give_up) {
  const std::string& url = options_.smtp->url;
  auto located = [&url](const Status& status) {
    return Status(status.code(), "SMTP " + url + ": " + status.message());
  };
  const std::string payload = SmtpDataPayload(mime);
  for (int attempt = 1;; ++attempt) {
    if (std::chrono::steady_clock::now() >= give_up) {
      return DeadlineExceededError("SMTP " + url + ": timed out");
    }
    std::unique_ptr<SmtpClient> session = sessions_.Acquire();
    const bool reused = session != nullptr;
    if (!reused) {
      StatusOr<std::unique_ptr<SmtpClient>> opened =
          SmtpClient::Open(*plain_endpoint_, options_.connect_timeout, give_up);
      if (!opened.ok()) return located(opened.status());
      session = *std::move(opened);
      if (session->offers_starttls() && options_.smtp->starttls == StartTls::kAuto) {
        plain_declined_.store(true, std::memory_order_relaxed);
        return std::nullopt;  // the session says QUIT as it goes
      }
    }
    Status sent = session->SendMail(envelope_from, recipients, payload, give_up);
    if (sent.ok()) {
      sessions_.Release(std::move(session));
      return OkStatus();
    }
    // A kept connection that the server closed just as it was reused fails before the server
    // said a word: nothing was delivered, so one more try on a new connection is safe.
    if (reused && attempt == 1 && session->failed_before_any_reply() &&
        sent.code() != StatusCode::kDeadlineExceeded) {
      continue;  // the session and its connection go
    }
    return located(sent);
  }
}

}  // namespace flowrun

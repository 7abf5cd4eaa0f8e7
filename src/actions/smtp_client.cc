#include "actions/smtp_client.h"

#include <unistd.h>

#include <cctype>

namespace flowrun {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// This machine's name for EHLO, as libcurl gives it; "localhost" when it is not a plain name.
const std::string& LocalHostName() {
  static const std::string name = [] {
    char buffer[256] = {0};
    if (gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == 0)
      return std::string("localhost");
    std::string host(buffer);
    for (char c : host) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.')
        return std::string("localhost");
    }
    return host;
  }();
  return name;
}

// A refused command: the code carries the retry decision and the message quotes the server.
Status Refusal(const SmtpReply& reply) {
  std::string quoted;
  for (char c : std::string_view(reply.last()).substr(0, 300)) {
    quoted += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  std::string message = "server replied \"" + quoted + "\"";
  if (reply.code >= 500) return FailedPreconditionError(message);
  if (reply.code >= 400) return UnavailableError(message);
  return UnavailableError("unexpected reply: " + message);
}

bool Positive(const SmtpReply& reply) { return reply.code >= 200 && reply.code < 300; }

}  // namespace

std::optional<SmtpEndpoint> ParsePlainSmtpUrl(std::string_view url) {
  constexpr std::string_view kScheme = "smtp://";
  if (url.size() < kScheme.size() || !EqualsIgnoreCase(url.substr(0, kScheme.size()), kScheme)) {
    return std::nullopt;
  }
  url.remove_prefix(kScheme.size());
  size_t end = url.find_first_of("/?#");
  std::string_view authority = url.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? "" : url.substr(end);
  if (!rest.empty() && rest != "/") return std::nullopt;
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  SmtpEndpoint endpoint;
  std::string_view port;
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    endpoint.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    endpoint.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (endpoint.host.empty()) return std::nullopt;
  if (port.empty()) {
    endpoint.port = "25";
  } else {
    if (port.size() > 5) return std::nullopt;
    long value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + (c - '0');
    }
    if (value < 1 || value > 65535) return std::nullopt;
    endpoint.port = std::string(port);
  }
  endpoint.helo_name = LocalHostName();
  return endpoint;
}

std::string SmtpDataPayload(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 64 + 8);
  bool line_start = true;
  for (size_t i = 0; i < message.size(); ++i) {
    char c = message[i];
    if (c == '\r' || c == '\n') {
      out += "\r\n";
      if (c == '\r' && i + 1 < message.size() && message[i + 1] == '\n') ++i;
      line_start = true;
      continue;
    }
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = false;
  }
  if (!line_start) out += "\r\n";
  out += ".\r\n";
  return out;
}

StatusOr<std::unique_ptr<SmtpClient>> SmtpClient::Open(const SmtpEndpoint& endpoint,
                                                       Duration connect_timeout,
                                                       SteadyTime deadline) {
  SteadyTime connect_deadline =
      std::min(deadline, std::chrono::steady_clock::now() + connect_timeout);
  ASSIGN_OR_RETURN(SmtpSocket socket,
                   SmtpSocket::Connect(endpoint.host, endpoint.port, connect_deadline));
  std::unique_ptr<SmtpClient> client(new SmtpClient(std::move(socket)));
  RETURN_IF_ERROR(client->Hello(endpoint.helo_name, deadline));
  return client;
}

SmtpClient::~SmtpClient() {
  if (in_sync_) socket_.SendWithoutWaiting("QUIT\r\n");
}

Status SmtpClient::Hello(const std::string& helo_name, SteadyTime deadline) {
  ASSIGN_OR_RETURN(SmtpReply greeting, socket_.ReadReply(deadline));
  if (greeting.code != 220) return Refusal(greeting);
  RETURN_IF_ERROR(socket_.Send("EHLO " + helo_name + "\r\n", deadline));
  ASSIGN_OR_RETURN(SmtpReply ehlo, socket_.ReadReply(deadline));
  if (ehlo.code >= 500) {
    RETURN_IF_ERROR(socket_.Send("HELO " + helo_name + "\r\n", deadline));
    ASSIGN_OR_RETURN(SmtpReply helo, socket_.ReadReply(deadline));
    if (!Positive(helo)) return Refusal(helo);
    in_sync_ = true;
    return OkStatus();
  }
  if (!Positive(ehlo)) return Refusal(ehlo);
  // Lines after the first name extensions: "250-PIPELINING", "250 STARTTLS", case-insensitive.
  for (size_t i = 1; i < ehlo.lines.size(); ++i) {
    std::string_view line = ehlo.lines[i];
    std::string_view keyword = line.size() > 4 ? line.substr(4) : std::string_view();
    keyword = keyword.substr(0, keyword.find(' '));
    if (EqualsIgnoreCase(keyword, "PIPELINING")) pipelining_ = true;
    if (EqualsIgnoreCase(keyword, "STARTTLS")) starttls_ = true;
  }
  in_sync_ = true;
  return OkStatus();
}

Status SmtpClient::SendMail(const std::string& from, const std::vector<std::string>& recipients,
                            std::string_view payload, SteadyTime deadline) {
  size_t received_before = socket_.bytes_received();
  Status status = Exchange(from, recipients, payload, deadline);
  failed_before_any_reply_ = !status.ok() && socket_.bytes_received() == received_before;
  return status;
}

Status SmtpClient::Exchange(const std::string& from, const std::vector<std::string>& recipients,
                            std::string_view payload, SteadyTime deadline) {
  if (!in_sync_) return UnavailableError("the session is not ready for a message");
  in_sync_ = false;  // until the exchange ends in a known state
  std::string mail = "MAIL FROM:<" + from + ">\r\n";
  if (pipelining_) {
    std::string commands = std::move(mail);
    for (const std::string& r : recipients) commands += "RCPT TO:<" + r + ">\r\n";
    commands += "DATA\r\n";
    RETURN_IF_ERROR(socket_.Send(commands, deadline));
    // Every command gets a reply, in order; the first refusal decides.
    // A server that refuses and then closes (421) is quoted rather than the closing.
    std::optional<SmtpReply> refused;
    for (size_t i = 0; i < recipients.size() + 1; ++i) {
      StatusOr<SmtpReply> reply = socket_.ReadReply(deadline);
      if (!reply.ok()) return refused ? Refusal(*refused) : reply.status();
      if (!Positive(*reply) && !refused) refused = *std::move(reply);
    }
    StatusOr<SmtpReply> data_reply = socket_.ReadReply(deadline);
    if (!data_reply.ok()) return refused ? Refusal(*refused) : data_reply.status();
    SmtpReply& data = *data_reply;
    if (refused) {
      // A server that accepted some recipient now waits for the message, which must not go out
      // to only some of them: the connection is dropped instead (the server discards the
      // unfinished transaction). Otherwise the session is back between messages.
      if (data.code != 354) in_sync_ = true;
      return Refusal(*refused);
    }
    if (data.code != 354) {
      if (data.code >= 400) in_sync_ = true;
      return Refusal(data);
    }
  } else {
    RETURN_IF_ERROR(socket_.Send(mail, deadline));
    ASSIGN_OR_RETURN(SmtpReply reply, socket_.ReadReply(deadline));
    if (!Positive(reply)) {
      in_sync_ = reply.code >= 400;
      return Refusal(reply);
    }
    for (const std::string& r : recipients) {
      RETURN_IF_ERROR(socket_.Send("RCPT TO:<" + r + ">\r\n", deadline));
      ASSIGN_OR_RETURN(reply, socket_.ReadReply(deadline));
      if (!Positive(reply)) {
        in_sync_ = reply.code >= 400;
        return Refusal(reply);
      }
    }
    RETURN_IF_ERROR(socket_.Send("DATA\r\n", deadline));
    ASSIGN_OR_RETURN(reply, socket_.ReadReply(deadline));
    if (reply.code != 354) {
      in_sync_ = reply.code >= 400;
      return Refusal(reply);
    }
  }
  RETURN_IF_ERROR(socket_.Send(payload, deadline));
  ASSIGN_OR_RETURN(SmtpReply done, socket_.ReadReply(deadline));
  if (!Positive(done)) {
    in_sync_ = done.code >= 400;
    return Refusal(done);
  }
  in_sync_ = true;
  return OkStatus();
}

}  // namespace flowrun

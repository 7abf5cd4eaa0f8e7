#include "actions/email/smtp_reply.h"

#include <cctype>

#include "common/ascii_case.h"

namespace flowrun {
namespace {

// The line as an error may quote it: at most 64 bytes, control characters as '?'.
std::string Quoted(std::string_view line) {
  std::string shown(line.substr(0, 64));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return "\"" + shown + (line.size() > 64 ? "...\"" : "\"");
}

Status Malformed(std::string_view why, std::string_view line) {
  return UnavailableError("the SMTP server sent " + std::string(why) + ": " + Quoted(line));
}

// The EHLO line of `keyword` (without the keyword), or nullopt.
std::optional<std::string_view> LineOf(const SmtpReply& reply, std::string_view keyword) {
  for (size_t i = 1; i < reply.lines.size(); ++i) {
    std::string_view line = reply.lines[i];
    std::string_view word = line.substr(0, line.find(' '));
    if (EqualsIgnoringAsciiCase(word, keyword)) return line.substr(word.size());
  }
  return std::nullopt;
}

}  // namespace

std::string SmtpReply::LastLine() const {
  std::string line = std::to_string(code);
  if (!lines.empty() && !lines.back().empty()) line += " " + lines.back();
  return line;
}

bool SmtpReply::Offers(std::string_view keyword) const {
  return LineOf(*this, keyword).has_value();
}

std::vector<std::string> SmtpReply::ParametersOf(std::string_view keyword) const {
  std::vector<std::string> parameters;
  std::optional<std::string_view> rest = LineOf(*this, keyword);
  if (!rest) return parameters;
  size_t at = 0;
  while (at < rest->size()) {
    size_t end = rest->find(' ', at);
    if (end == std::string_view::npos) end = rest->size();
    if (end > at) {
      std::string word(rest->substr(at, end - at));
      for (char& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      parameters.push_back(std::move(word));
    }
    at = end + 1;
  }
  return parameters;
}

void SmtpReplyReader::Clear() {
  buffer_.clear();
  pending_ = SmtpReply{};
}

StatusOr<std::optional<SmtpReply>> SmtpReplyReader::Next() {
  size_t consumed = 0;
  auto drop_consumed = [&] { buffer_.erase(0, consumed); };
  for (;;) {
    size_t newline = buffer_.find('\n', consumed);
    if (newline == std::string::npos) {
      drop_consumed();
      if (buffer_.size() > limits_.max_line_bytes + 1) {
        return Malformed(
            "a reply line longer than " + std::to_string(limits_.max_line_bytes) + " bytes",
            buffer_);
      }
      return std::optional<SmtpReply>();
    }
    std::string_view line(buffer_.data() + consumed, newline - consumed);
    consumed = newline + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > limits_.max_line_bytes) {
      return Malformed(
          "a reply line longer than " + std::to_string(limits_.max_line_bytes) + " bytes", line);
    }
    bool digits = line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0])) &&
                  std::isdigit(static_cast<unsigned char>(line[1])) &&
                  std::isdigit(static_cast<unsigned char>(line[2]));
    if (!digits || line[0] < '2' || line[0] > '5' || line[1] > '5') {
      return Malformed("a reply line without a reply code", line);
    }
    char separator = line.size() == 3 ? ' ' : line[3];
    if (separator != ' ' && separator != '-') {
      return Malformed("a reply line without a reply code", line);
    }
    std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
    for (char c : text) {
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
        return Malformed("a control character in a reply", line);
      }
    }
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (!pending_.lines.empty() && code != pending_.code) {
      return Malformed("a reply whose lines carry different codes", line);
    }
    if (pending_.lines.size() >= limits_.max_lines) {
      return Malformed("a reply of more than " + std::to_string(limits_.max_lines) + " lines",
                       line);
    }
    pending_.code = code;
    pending_.lines.emplace_back(text);
    if (separator == ' ') {
      drop_consumed();
      SmtpReply reply = std::move(pending_);
      pending_ = SmtpReply{};
      return std::optional<SmtpReply>(std::move(reply));
    }
  }
}

}  // namespace flowrun

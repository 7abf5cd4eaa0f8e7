#include "actions/email/mime_message.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <set>

#include "common/ascii_case.h"
#include "common/base64.h"
#include "common/sha256.h"

namespace flowrun {
namespace {

// Base64 in lines of 76 characters, each ended by CRLF.
std::string Base64Body(std::string_view data) {
  std::string encoded = Base64Encode(data);
  std::string out;
  for (size_t i = 0; i < encoded.size(); i += 76) {
    out += encoded.substr(i, 76);
    out += "\r\n";
  }
  return out;
}

bool HasLineBreak(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

bool IsPrintableAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

Status ValidateAddress(std::string_view address, std::string_view field) {
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError(std::string(field) + ": \"" + std::string(address) +
                                "\" is not a valid email address: " + why);
  };
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) return bad("no @");
  std::string_view local = address.substr(0, at);
  std::string_view domain = address.substr(at + 1);
  if (local.empty() || local.size() > 64)
    return bad("the part before @ must be 1 to 64 characters");
  if (address.size() > 254) return bad("longer than 254 characters");
  static constexpr std::string_view kAtext = "!#$%&'*+/=?^_`{|}~-";
  for (char c : local) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        kAtext.find(c) == std::string_view::npos) {
      return bad(static_cast<unsigned char>(c) >= 0x80
                     ? "non-ASCII addresses are not supported"
                     : "the part before @ contains '" + std::string(1, c) + "'");
    }
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return bad("misplaced dot before @");
  }
  if (domain.empty() || domain.size() > 253) return bad("no domain after @");
  size_t start = 0;
  while (start <= domain.size()) {
    size_t dot = domain.find('.', start);
    std::string_view label =
        domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return bad("invalid domain");
    }
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') {
        return bad(static_cast<unsigned char>(c) >= 0x80 ? "non-ASCII domains are not supported"
                                                         : "invalid domain");
      }
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return OkStatus();
}

// A display name as a header phrase: atoms as they are, otherwise quoted, or encoded when not
// ASCII.
std::string EncodeDisplayName(std::string_view name) {
  if (!IsPrintableAscii(name)) return EncodeHeaderText(name);
  bool plain = std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == ' ' ||
           std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(name);
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

std::string AddressList(const std::vector<MailAddress>& list) {
  std::string out;
  for (const MailAddress& a : list) {
    if (!out.empty()) out += ",\r\n ";
    out += a.ToHeader();
  }
  return out;
}

bool IsTokenChar(unsigned char c) { return c > 0x20 && c < 0x7f && c != ':'; }

const std::set<std::string>& ReservedHeaders() {
  static const std::set<std::string> names = {"from",
                                              "to",
                                              "cc",
                                              "bcc",
                                              "reply-to",
                                              "subject",
                                              "date",
                                              "message-id",
                                              "mime-version",
                                              "content-type",
                                              "content-transfer-encoding",
                                              "sender"};
  return names;
}

std::string Part(std::string_view content_type, std::string_view body) {
  return "Content-Type: " + std::string(content_type) +
         "; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + Base64Body(body);
}

// Normalizes line ends to CRLF, as SMTP requires.
std::string CrLf(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (text[i] == '\n') {
      out += "\r\n";
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace

std::string MailAddress::ToHeader() const {
  if (name.empty()) return address;
  return EncodeDisplayName(name) + " <" + address + ">";
}

StatusOr<MailAddress> ParseMailAddress(std::string_view text, std::string_view field) {
  if (HasLineBreak(text)) {
    return InvalidArgumentError(std::string(field) + ": address contains CR, LF or NUL");
  }
  std::string_view trimmed = Trim(text);
  if (trimmed.empty()) return InvalidArgumentError(std::string(field) + ": empty address");
  MailAddress out;
  size_t open = trimmed.rfind('<');
  if (open != std::string_view::npos) {
    if (trimmed.back() != '>') {
      return InvalidArgumentError(std::string(field) + ": \"" + std::string(trimmed) +
                                  "\" has text after the closing >");
    }
    std::string_view name = Trim(trimmed.substr(0, open));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      std::string unquoted;
      for (size_t i = 1; i + 1 < name.size(); ++i) {
        if (name[i] == '\\' && i + 2 < name.size()) ++i;
        unquoted += name[i];
      }
      out.name = unquoted;
    } else {
      out.name = std::string(name);
    }
    out.address = std::string(Trim(trimmed.substr(open + 1, trimmed.size() - open - 2)));
  } else {
    out.address = std::string(trimmed);
  }
  RETURN_IF_ERROR(ValidateAddress(out.address, field));
  return out;
}

StatusOr<std::vector<MailAddress>> ParseMailAddressList(const Json& value, std::string_view field) {
  std::vector<MailAddress> out;
  if (value.is_null()) return out;
  Json items = value.is_array() ? value : Json::array({value});
  for (const Json& item : items) {
    if (!item.is_string()) {
      return InvalidArgumentError(std::string(field) + " must be an address or a list of them");
    }
    const std::string& text = item.get_ref<const std::string&>();
    // Split on commas outside quotes and angle brackets.
    bool quoted = false;
    int angle = 0;
    size_t start = 0;
    for (size_t i = 0; i <= text.size(); ++i) {
      char c = i < text.size() ? text[i] : ',';
      if (c == '"' && (i == 0 || text[i - 1] != '\\')) quoted = !quoted;
      if (!quoted && c == '<') ++angle;
      if (!quoted && c == '>') --angle;
      if (c == ',' && !quoted && angle == 0) {
        std::string_view piece(text.data() + start, i - start);
        if (!Trim(piece).empty()) {
          ASSIGN_OR_RETURN(MailAddress address, ParseMailAddress(piece, field));
          out.push_back(std::move(address));
        }
        start = i + 1;
      }
    }
  }
  return out;
}

std::string EncodeHeaderText(std::string_view text) {
  if (IsPrintableAscii(text) && text.find("=?") == std::string_view::npos) {
    return std::string(text);
  }
  // 45 bytes encode to 60 base64 characters: "=?UTF-8?B?" + 60 + "?=" = 72 <= 75.
  constexpr size_t kMaxChunk = 45;
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = std::min(text.size(), i + kMaxChunk);
    // Back off to a character boundary: never end before a continuation byte.
    while (end < text.size() && end > i + 1 && (static_cast<unsigned char>(text[end]) >> 6) == 2) {
      --end;
    }
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + Base64Encode(text.substr(i, end - i)) + "?=";
    i = end;
  }
  return out;
}

std::string MessageIdFor(std::string_view idempotency_key) {
  return "<" + Sha256Hex(idempotency_key).substr(0, 32) + "@flowrun>";
}

std::string FormatMailDate(TimePoint t) {
  using namespace std::chrono;
  auto day = floor<days>(t);
  year_month_day ymd(day);
  weekday wd(day);
  hh_mm_ss<milliseconds> hms(t - day);
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s, %02u %s %04d %02ld:%02ld:%02lld +0000",
                kDays[wd.c_encoding()], static_cast<unsigned>(ymd.day()),
                kMonths[static_cast<unsigned>(ymd.month()) - 1], static_cast<int>(ymd.year()),
                static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()),
                static_cast<long long>(hms.seconds().count()));
  return buffer;
}

StatusOr<std::string> RenderMime(const MimeMessage& m) {
  if (HasLineBreak(m.subject)) {
    return InvalidArgumentError("subject contains CR, LF or NUL; refusing to send it");
  }
  if (m.text.empty() && m.html.empty()) return InvalidArgumentError("give text, html or both");
  if (m.to.empty() && m.cc.empty()) return InvalidArgumentError("to is required");
  for (const auto& list : {std::vector<MailAddress>{m.from}, m.to, m.cc, m.reply_to}) {
    for (const MailAddress& a : list) {
      if (HasLineBreak(a.name) || HasLineBreak(a.address)) {
        return InvalidArgumentError("an address contains CR, LF or NUL");
      }
    }
  }
  std::string out;
  out += "From: " + m.from.ToHeader() + "\r\n";
  if (!m.to.empty()) out += "To: " + AddressList(m.to) + "\r\n";
  if (!m.cc.empty()) out += "Cc: " + AddressList(m.cc) + "\r\n";
  if (!m.reply_to.empty()) out += "Reply-To: " + AddressList(m.reply_to) + "\r\n";
  out += "Subject: " + EncodeHeaderText(m.subject) + "\r\n";
  out += "Date: " + FormatMailDate(m.date) + "\r\n";
  out += "Message-ID: " + m.message_id + "\r\n";
  for (const auto& [name, value] : m.headers) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
          return IsTokenChar(static_cast<unsigned char>(c));
        })) {
      return InvalidArgumentError("header name \"" + name + "\" is not valid");
    }
    if (ReservedHeaders().count(AsciiLower(name))) {
      return InvalidArgumentError("header \"" + name +
                                  "\" is set by the email step itself; use its own argument");
    }
    if (HasLineBreak(value)) {
      return InvalidArgumentError("header \"" + name +
                                  "\" contains CR, LF or NUL; refusing to send it");
    }
    out += name + ": " + EncodeHeaderText(value) + "\r\n";
  }
  out += "MIME-Version: 1.0\r\n";
  if (!m.text.empty() && !m.html.empty()) {
    std::string boundary = "=_flowrun_" + Sha256Hex(m.message_id).substr(0, 24);
    out += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n\r\n";
    out += "This is a multi-part message in MIME format.\r\n";
    out += "--" + boundary + "\r\n" + Part("text/plain", CrLf(m.text));
    out += "--" + boundary + "\r\n" + Part("text/html", CrLf(m.html));
    out += "--" + boundary + "--\r\n";
  } else if (!m.text.empty()) {
    out += Part("text/plain", CrLf(m.text));
  } else {
    out += Part("text/html", CrLf(m.html));
  }
  return out;
}

}  // namespace flowrun

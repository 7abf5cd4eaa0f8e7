// MimeMessage: an email as the `email` step builds it, and its rendering as RFC 5322 / MIME text
// ready for SMTP: UTF-8 throughout, RFC 2047 encoded-words for non-ASCII header text, base64
// bodies, multipart/alternative when both text and HTML are given, CRLF line ends.
//
// Everything that reaches a header is checked first: addresses are validated, and CR, LF or NUL
// in any header text is an error, so a rendered message can never carry injected headers.
//
// Thread-safety: pure functions on values.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "common/timestamp.h"

namespace flowrun {

struct MailAddress {
  std::string name;     // display name, UTF-8; may be empty
  std::string address;  // local@domain, ASCII

  // "address" or "Name <address>", with the name quoted or RFC 2047-encoded as needed.
  std::string ToHeader() const;
};

// Parses "ada@example.com" or "Ada Lovelace <ada@example.com>" (the name may be quoted).
// kInvalidArgument names what is wrong; `field` ("to", "from") prefixes the message.
[[nodiscard]] StatusOr<MailAddress> ParseMailAddress(std::string_view text, std::string_view field);

// A string, or a list of strings, of addresses (a string may hold several separated by commas).
[[nodiscard]] StatusOr<std::vector<MailAddress>> ParseMailAddressList(const Json& value,
                                                                      std::string_view field);

struct MimeMessage {
  MailAddress from;
  std::vector<MailAddress> to;
  std::vector<MailAddress> cc;  // bcc is never part of the message, only of the envelope
  std::vector<MailAddress> reply_to;
  std::string subject;  // UTF-8
  std::string text;     // at least one of text and html
  std::string html;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, in order
  std::string message_id;                                    // "<...@...>"
  TimePoint date;
};

// The whole message. kInvalidArgument on CR/LF in header text, a bad extra header name, an extra
// header that would replace one the message sets itself, or no body.
[[nodiscard]] StatusOr<std::string> RenderMime(const MimeMessage& message);

// RFC 2047: `text` unchanged when it is printable ASCII, otherwise UTF-8 "B" encoded-words of at
// most 75 characters, folded onto continuation lines, never splitting a character.
std::string EncodeHeaderText(std::string_view text);

// "<first 32 hex digits of SHA-256(idempotency_key)@flowrun>": the same on every retry.
std::string MessageIdFor(std::string_view idempotency_key);

// RFC 5322 date in UTC: "Tue, 03 Mar 2026 09:30:00 +0000".
std::string FormatMailDate(TimePoint t);

}  // namespace flowrun

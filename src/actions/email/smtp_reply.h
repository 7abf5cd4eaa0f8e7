// SmtpReply and SmtpReplyReader: an SMTP server's replies (RFC 5321 section 4.2), read from the
// bytes as they arrive. A reply is one or more lines "NNN-text" ending with "NNN text" (or a bare
// "NNN"), all with the same code.
//
// The reader never trusts the peer: a line longer than max_line_bytes, a reply of more than
// max_lines lines, a code outside 200-599, a missing or mismatched code, or a control character
// other than tab is an error (kUnavailable: the connection is unusable, and another attempt on a
// new one may work). The reader's buffer never holds more than one line's bound past the bytes it
// was given, so a peer that never ends a line costs at most max_line_bytes.
//
// Thread-safety: a value type; one reader per connection.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace flowrun {

struct SmtpReply {
  int code = 0;                    // 200..599
  std::vector<std::string> lines;  // the text of each line after "NNN-" or "NNN " (may be empty)

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  // "NNN text" of the last line, as errors quote it.
  std::string LastLine() const;
  // For an EHLO reply: whether a line after the first starts with `keyword` (any case) followed
  // by the end of the line or a space.
  bool Offers(std::string_view keyword) const;
  // For an EHLO reply: the space-separated parameters of `keyword`'s line ("AUTH PLAIN LOGIN" ->
  // {"PLAIN", "LOGIN"}, upper-cased); empty when it is not offered.
  std::vector<std::string> ParametersOf(std::string_view keyword) const;
};

struct SmtpReplyLimits {
  size_t max_line_bytes = 2048;  // RFC 5321 allows 512; servers sometimes send more
  size_t max_lines = 128;
};

class SmtpReplyReader {
 public:
  explicit SmtpReplyReader(SmtpReplyLimits limits = {}) : limits_(limits) {}

  // Appends bytes read from the connection.
  void Feed(std::string_view bytes) { buffer_.append(bytes); }
  // The next complete reply, or nullopt when more bytes are needed. Errors: kUnavailable for a
  // malformed or oversized reply (see above); the reader is then unusable.
  StatusOr<std::optional<SmtpReply>> Next();
  // Bytes received past the last complete reply (a reply that is still arriving, or data the
  // server sent unasked).
  bool HasBuffered() const { return !buffer_.empty() || !pending_.lines.empty(); }
  // Forgets everything buffered (after the connection is taken over by TLS).
  void Clear();

 private:
  const SmtpReplyLimits limits_;
  std::string buffer_;  // bytes not yet consumed
  SmtpReply pending_;   // lines of a multi-line reply read so far
};

}  // namespace flowrun

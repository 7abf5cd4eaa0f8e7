// The DATA payload of an SMTP transaction (RFC 5321 section 4.5.2): the message with every line
// end made CRLF (a bare LF or a bare CR becomes CRLF), a '.' doubled at the start of each line
// ("dot-stuffing"), and the terminating "<CRLF>.<CRLF>". The server removes the stuffing, so the
// message arrives as written.
//
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace flowrun {

std::string SmtpDataPayload(std::string_view message);

}  // namespace flowrun

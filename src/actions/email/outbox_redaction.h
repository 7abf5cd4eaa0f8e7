// RedactForOutbox: the copy of an email the built-in outbox keeps (and the API and dashboard
// show): every secret value in its text is replaced by "***" before the message is rendered, so
// the stored MIME holds no secret, neither raw nor percent-encoded (SecretRedactor's needles) nor
// inside the base64 of its body parts or the RFC 2047 encoded-words of its headers, which are
// encoded from the redacted text.
//
// Thread-safety: pure function on values.
#pragma once

#include "actions/email/mime_message.h"
#include "config/secrets.h"

namespace flowrun {

// `message` with the subject, bodies, display names, addresses and extra header values
// redacted. The message id and date are kept.
MimeMessage RedactForOutbox(const MimeMessage& message, const SecretRedactor& redactor);

}  // namespace flowrun

#include "actions/email/outbox_redaction.h"

namespace flowrun {
namespace {

MailAddress RedactAddress(const MailAddress& address, const SecretRedactor& redactor) {
  return MailAddress{.name = redactor.RedactText(address.name),
                     .address = redactor.RedactText(address.address)};
}

std::vector<MailAddress> RedactAddresses(const std::vector<MailAddress>& addresses,
                                         const SecretRedactor& redactor) {
  std::vector<MailAddress> out;
  out.reserve(addresses.size());
  for (const MailAddress& a : addresses) out.push_back(RedactAddress(a, redactor));
  return out;
}

}  // namespace

MimeMessage RedactForOutbox(const MimeMessage& message, const SecretRedactor& redactor) {
  if (redactor.empty()) return message;
  MimeMessage out = message;
  out.from = RedactAddress(message.from, redactor);
  out.to = RedactAddresses(message.to, redactor);
  out.cc = RedactAddresses(message.cc, redactor);
  out.reply_to = RedactAddresses(message.reply_to, redactor);
  out.subject = redactor.RedactText(message.subject);
  out.text = redactor.RedactText(message.text);
  out.html = redactor.RedactText(message.html);
  for (auto& [name, value] : out.headers) value = redactor.RedactText(value);
  return out;
}

}  // namespace flowrun

// SecretSource: where `secrets.<NAME>` values come from (the environment or a file, chosen by the
// service), and redaction of their values wherever the engine journals inputs and outputs.
//
// Thread-safety: implementations must be safe to call from many threads.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/json.h"

namespace flowrun {

class SecretSource {
 public:
  virtual ~SecretSource() = default;
  // Every secret as an object of name -> string value.
  virtual Json All() const = 0;
};

// A fixed set of secrets, for tests and for `flowrun run`.
class MapSecretSource final : public SecretSource {
 public:
  explicit MapSecretSource(std::map<std::string, std::string> secrets);
  Json All() const override { return secrets_; }

 private:
  Json secrets_;
};

// Secret values shorter than this are not redacted: "1" or "on" would erase ordinary text.
inline constexpr size_t kMinRedactedSecretLength = 3;

// What redaction looks for, given the secret values: each value of at least
// kMinRedactedSecretLength bytes, and its percent-encoded forms (RFC 3986 %XX in upper and lower
// case, and with "+" for a space as HTML forms encode it) when they differ from the value;
// longest first, without duplicates. The one definition both redactors use (RedactSecrets
// below, and SecretRedactor in config/secrets.h), so the journal and every other view hide the
// same things.
std::vector<std::string> SecretNeedles(std::vector<std::string> values);

// Replaces every occurrence of each needle in `text` with "***", in the order given. With
// SecretNeedles' longest-first order, a secret that contains another ("abcdef" and "abc") is
// hidden whole: no part of the longer one is left behind.
void RedactNeedles(std::string& text, const std::vector<std::string>& needles);

// Returns `value` with every occurrence of a secret's value (or its percent-encoded form, see
// SecretNeedles) inside any string replaced by "***", longest secret first. `secrets` is an
// object as returned by SecretSource::All. Takes `value` by value, so that a caller done with it
// can move it in and pay for no copy.
Json RedactSecrets(Json value, const Json& secrets);

}  // namespace flowrun

// SecretSource: where `secrets.<NAME>` values come from (the environment or a file, chosen by the
// service), and redaction of their values wherever the engine journals inputs and outputs.
//
// Thread-safety: implementations must be safe to call from many threads.
#pragma once

#include <map>
#include <string>

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

// Returns `value` with every occurrence of a secret's value inside any string replaced by "***".
// `secrets` is an object as returned by SecretSource::All. Values shorter than 3 characters are
// not redacted, so that short values do not erase ordinary text.
// Takes `value` by value, so that a caller done with it can move it in and pay for no copy.
Json RedactSecrets(Json value, const Json& secrets);

}  // namespace flowrun

// Secrets: the values behind `secrets.<NAME>`, read once at start-up from the environment and/or a
// YAML or JSON file (SecretsConfig), and SecretRedactor, which replaces every secret value with
// "***" in text, JSON and Status messages before they reach the journal, logs or an error.
//
// Thread-safety: both are immutable after construction; share them read-only between threads.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "config/config.h"
#include "interpreter/secret_source.h"

namespace flowrun {

class Secrets final : public SecretSource {
 public:
  // Looks an environment variable up; nullopt when unset. Default: getenv.
  using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
  // Lists the environment as name -> value, for prefix sources. Default: environ.
  using EnvList = std::function<std::map<std::string, std::string>()>;

  // Reads every configured source. Errors: kNotFound when a listed environment variable is unset
  // or the file is missing; kInvalidArgument when the file is not a map of names to scalars.
  // Error messages name the secret, never its value.
  [[nodiscard]] static StatusOr<Secrets> Load(const SecretsConfig& config, EnvLookup lookup = {},
                                              EnvList list = {});

  // A fixed set, for tests and `flowrun run`.
  explicit Secrets(std::map<std::string, std::string> values = {})
      : values_(values.begin(), values.end()) {}

  std::optional<std::string> Get(std::string_view name) const;
  // kNotFound naming the missing secret and the ones that exist.
  [[nodiscard]] StatusOr<std::string> Require(std::string_view name) const;

  // Resolves a config value: a string that is exactly `${{ secrets.NAME }}` yields the secret,
  // any other string is returned unchanged. A reference to a missing secret is kNotFound.
  [[nodiscard]] StatusOr<std::string> Resolve(std::string_view value) const;

  std::vector<std::string> Names() const;
  const std::map<std::string, std::string, std::less<>>& values() const { return values_; }

  // SecretSource: every secret as an object of name -> value.
  Json All() const override;

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

class SecretRedactor {
 public:
  // Values shorter than kMinLength are not redacted: "1" or "on" would erase ordinary text.
  static constexpr size_t kMinLength = kMinRedactedSecretLength;

  SecretRedactor() = default;
  explicit SecretRedactor(const Secrets& secrets);
  explicit SecretRedactor(std::vector<std::string> values);

  // Every occurrence of a secret value, or of its percent-encoded form, replaced by "***"; longer
  // secrets are replaced first, so a secret that contains another is hidden whole (the same
  // needles and order as the journal's RedactSecrets: see SecretNeedles).
  std::string RedactText(std::string_view text) const;
  // Redacts every string in `value`, and every object key.
  Json RedactJson(const Json& value) const;
  // The same status with its message redacted (code and retry_after_ms kept).
  Status RedactStatus(const Status& status) const;

  bool empty() const { return values_.empty(); }

 private:
  std::vector<std::string> values_;  // SecretNeedles: sorted longest first
};

}  // namespace flowrun

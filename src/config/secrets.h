// Secrets: the values behind `secrets.<NAME>`, read once at start-up from the environment and/or a
// YAML or JSON file (SecretsConfig). Their redaction is common/secret_redactor.h's
// (`SecretRedactor::FromObject(secrets.All())`).
//
// Thread-safety: immutable after construction; share it read-only between threads.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/secret_redactor.h"
#include "common/secret_source.h"
#include "common/status.h"
#include "config/config.h"

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

}  // namespace flowrun

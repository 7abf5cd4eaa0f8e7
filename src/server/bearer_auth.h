// BearerAuth: checks `Authorization: Bearer <token>` against the configured API tokens (or event
// keys) for the routes that require them.
//
// The presented token and every configured token are hashed with SHA-256 first and the digests
// compared with ConstantTimeEquals against every configured token, so neither the position of a
// mismatch nor the lengths of the tokens show in the response time. With no tokens configured the
// check is disabled (the service then only listens on loopback; see docs/api.md, "Authentication").
//
// Thread-safety: immutable after construction; Check is safe from many threads.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace flowrun {

class BearerAuth {
 public:
  // `tokens` may be empty (no authentication). Empty tokens in the list are ignored.
  explicit BearerAuth(const std::vector<std::string>& tokens);

  bool enabled() const { return !digests_.empty(); }

  // OK when authentication is disabled or `authorization` (the header's value; nullopt when the
  // header is absent) is "Bearer <token>" with a configured token. Otherwise kUnauthenticated
  // with a message that never echoes the token.
  [[nodiscard]] Status Check(std::optional<std::string_view> authorization) const;

  // Whether `token` is one of the configured tokens (constant time as above). False when none is
  // configured.
  bool Matches(std::string_view token) const;

 private:
  std::vector<std::string> digests_;  // SHA-256 of each configured token
};

}  // namespace flowrun

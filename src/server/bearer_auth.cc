#include "server/bearer_auth.h"

#include "server/webhooks/webhook_crypto.h"

namespace flowrun {
namespace {

std::string Digest(std::string_view token) { return Sha256(token); }

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

}  // namespace

BearerAuth::BearerAuth(const std::vector<std::string>& tokens) {
  for (const std::string& token : tokens) {
    if (!token.empty()) digests_.push_back(Digest(token));
  }
}

bool BearerAuth::Matches(std::string_view token) const {
  if (digests_.empty() || token.empty()) return false;
  std::string digest = Digest(token);
  if (digest.empty()) return false;
  // Every configured token is compared, so the time does not reveal which one matched.
  bool matched = false;
  for (const std::string& expected : digests_) matched |= ConstantTimeEquals(expected, digest);
  return matched;
}

Status BearerAuth::Check(std::optional<std::string_view> authorization) const {
  if (!enabled()) return OkStatus();
  if (!authorization.has_value() || authorization->empty()) {
    return UnauthenticatedError(
        "missing Authorization header; send \"Authorization: Bearer <token>\"");
  }
  std::string_view value = *authorization;
  constexpr std::string_view kScheme = "bearer";
  bool scheme_ok = value.size() > kScheme.size() && IsSpace(value[kScheme.size()]);
  for (size_t i = 0; scheme_ok && i < kScheme.size(); ++i) {
    char c = value[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    scheme_ok = c == kScheme[i];
  }
  if (!scheme_ok) {
    return UnauthenticatedError("Authorization header must use the Bearer scheme");
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && IsSpace(value.front())) value.remove_prefix(1);
  while (!value.empty() && IsSpace(value.back())) value.remove_suffix(1);
  if (!Matches(value)) return UnauthenticatedError("invalid API token");
  return OkStatus();
}

}  // namespace flowrun

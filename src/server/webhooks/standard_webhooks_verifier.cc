#include "server/webhooks/standard_webhooks_verifier.h"

#include <optional>
#include <utility>
#include <vector>

#include "server/webhooks/signed_timestamp.h"
#include "server/webhooks/webhook_crypto.h"

namespace flowrun {
namespace {

constexpr std::string_view kScheme = "standard-webhooks";
constexpr std::string_view kSecretPrefix = "whsec_";
// Message ids are short (Svix: "msg_" and 27 characters); this bounds what the replay guard holds.
constexpr size_t kMaxIdBytes = 256;

struct HeaderNames {
  std::string_view id;
  std::string_view timestamp;
  std::string_view signature;
};
constexpr HeaderNames kStandardNames = {"webhook-id", "webhook-timestamp", "webhook-signature"};
constexpr HeaderNames kSvixNames = {"svix-id", "svix-timestamp", "svix-signature"};

Status Malformed(std::string_view header, std::string_view why) {
  return UnauthenticatedError("standard-webhooks signature: malformed " + std::string(header) +
                              " header: " + std::string(why));
}

// The decoded v1 digests of a webhook-signature header.
StatusOr<std::vector<std::string>> ParseSignatures(std::string_view header, std::string_view name) {
  std::vector<std::string> signatures;
  size_t entries = 0;
  size_t v1_count = 0;
  while (!header.empty()) {
    size_t space = header.find(' ');
    std::string_view entry = header.substr(0, space);
    header = space == std::string_view::npos ? std::string_view() : header.substr(space + 1);
    if (entry.empty()) continue;
    if (++entries > kMaxSignaturesPerHeader) return Malformed(name, "too many signatures");
    size_t comma = entry.find(',');
    if (comma == std::string_view::npos) return Malformed(name, "an entry has no ','");
    if (entry.substr(0, comma) != "v1") continue;
    ++v1_count;
    std::optional<std::string> digest = Base64Decode(entry.substr(comma + 1));
    if (digest && digest->size() == kSha256Bytes) signatures.push_back(std::move(*digest));
  }
  if (v1_count == 0) return Malformed(name, "no v1 signature");
  return signatures;
}

}  // namespace

StatusOr<std::unique_ptr<StandardWebhooksVerifier>> StandardWebhooksVerifier::Create(
    std::string_view secret, Duration tolerance, const Clock& clock) {
  if (secret.substr(0, kSecretPrefix.size()) == kSecretPrefix) {
    secret.remove_prefix(kSecretPrefix.size());
  }
  std::optional<std::string> key = Base64Decode(secret);
  if (!key) {
    return InvalidArgumentError(
        "standard-webhooks secret must be whsec_ followed by base64 (as the sender shows it)");
  }
  if (key->empty()) return InvalidArgumentError("standard-webhooks secret is empty");
  return std::unique_ptr<StandardWebhooksVerifier>(
      new StandardWebhooksVerifier(std::move(*key), tolerance, clock));
}

StandardWebhooksVerifier::StandardWebhooksVerifier(std::string key, Duration tolerance,
                                                   const Clock& clock)
    : key_(std::move(key)), tolerance_(tolerance), clock_(clock) {}

StatusOr<VerifiedDelivery> StandardWebhooksVerifier::Verify(const WebhookHeaders& headers,
                                                            std::string_view body) const {
  const HeaderNames& names =
      headers.GetAll(kStandardNames.id).empty() && !headers.GetAll(kSvixNames.id).empty()
          ? kSvixNames
          : kStandardNames;
  ASSIGN_OR_RETURN(std::string_view id, headers.GetOne(kScheme, names.id, kMaxIdBytes));
  if (id.empty()) return Malformed(names.id, "empty");
  ASSIGN_OR_RETURN(std::string_view timestamp,
                   headers.GetOne(kScheme, names.timestamp, kMaxSignatureHeaderBytes));
  ASSIGN_OR_RETURN(std::string_view header,
                   headers.GetOne(kScheme, names.signature, kMaxSignatureHeaderBytes));
  ASSIGN_OR_RETURN(TimePoint signed_at, ParseSignedTimestamp(kScheme, names.timestamp, timestamp));
  ASSIGN_OR_RETURN(std::vector<std::string> signatures, ParseSignatures(header, names.signature));
  ASSIGN_OR_RETURN(std::string expected, HmacSha256(key_, {id, ".", timestamp, ".", body}));
  if (!ConstantTimeEqualsAny(expected, signatures)) {
    return UnauthenticatedError(
        "standard-webhooks signature: no v1 signature matches the body (wrong secret or altered "
        "body)");
  }
  RETURN_IF_ERROR(CheckTimestampTolerance(kScheme, signed_at, clock_.Now(), tolerance_));
  VerifiedDelivery delivery;
  delivery.replay_key = "standard-webhooks:" + std::string(id);
  delivery.remember_until = signed_at + tolerance_;
  delivery.signed_at = signed_at;
  delivery.delivery_id = id;
  return delivery;
}

}  // namespace flowrun

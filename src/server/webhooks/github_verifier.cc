#include "server/webhooks/github_verifier.h"

#include <optional>
#include <utility>
#include <vector>

#include "server/webhooks/webhook_crypto.h"

namespace flowrun {
namespace {

constexpr std::string_view kScheme = "github";
constexpr std::string_view kSignatureHeader = "X-Hub-Signature-256";
constexpr std::string_view kDeliveryHeader = "X-GitHub-Delivery";
constexpr std::string_view kPrefix = "sha256=";
// GitHub's delivery ids are GUIDs; anything much longer is not one and is not worth logging.
constexpr size_t kMaxDeliveryIdBytes = 128;

}  // namespace

GithubVerifier::GithubVerifier(std::string secret, Duration tolerance, const Clock& clock)
    : secret_(std::move(secret)), tolerance_(tolerance), clock_(clock) {}

StatusOr<VerifiedDelivery> GithubVerifier::Verify(const WebhookHeaders& headers,
                                                  std::string_view body) const {
  ASSIGN_OR_RETURN(std::string_view header,
                   headers.GetOne(kScheme, kSignatureHeader, kMaxSignatureHeaderBytes));
  if (header.substr(0, kPrefix.size()) != kPrefix) {
    return UnauthenticatedError(
        "github signature: malformed X-Hub-Signature-256 header: it does not start with sha256=");
  }
  std::optional<std::string> digest = HexDecode(header.substr(kPrefix.size()));
  if (!digest || digest->size() != kSha256Bytes) {
    return UnauthenticatedError(
        "github signature: malformed X-Hub-Signature-256 header: not 64 hex digits after sha256=");
  }
  ASSIGN_OR_RETURN(std::string expected, HmacSha256(secret_, {body}));
  if (!ConstantTimeEquals(expected, *digest)) {
    return UnauthenticatedError(
        "github signature: the signature does not match the body (wrong secret or altered body)");
  }
  std::string body_hash = Sha256(body);
  VerifiedDelivery delivery;
  delivery.replay_key = "github:" + HexEncode(body_hash);
  delivery.remember_until = clock_.Now() + tolerance_;
  std::vector<std::string_view> ids = headers.GetAll(kDeliveryHeader);
  if (ids.size() == 1 && ids[0].size() <= kMaxDeliveryIdBytes) delivery.delivery_id = ids[0];
  return delivery;
}

}  // namespace flowrun

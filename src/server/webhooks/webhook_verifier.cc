#include "server/webhooks/webhook_verifier.h"

#include <utility>

#include "common/suggest.h"
#include "server/webhooks/github_verifier.h"
#include "server/webhooks/hmac_sha256_verifier.h"
#include "server/webhooks/standard_webhooks_verifier.h"
#include "server/webhooks/stripe_verifier.h"

namespace flowrun {
namespace {

// The scheme `none`: every request passes. Nothing is signed, so there is no replay key.
class UnsignedVerifier final : public WebhookVerifier {
 public:
  explicit UnsignedVerifier(const Clock& clock) : clock_(clock) {}

  std::string_view scheme() const override { return "none"; }
  StatusOr<VerifiedDelivery> Verify(const WebhookHeaders& headers,
                                    std::string_view body) const override {
    VerifiedDelivery delivery;
    delivery.remember_until = clock_.Now();
    return delivery;
  }

 private:
  const Clock& clock_;
};

}  // namespace

const std::vector<std::string>& WebhookSchemes() {
  static const std::vector<std::string> schemes = {"github", "hmac-sha256", "none",
                                                   "standard-webhooks", "stripe"};
  return schemes;
}

StatusOr<std::unique_ptr<WebhookVerifier>> MakeWebhookVerifier(
    const WebhookVerifierOptions& options, const Clock& clock) {
  const std::string& scheme = options.scheme;
  if (scheme == "none") return std::unique_ptr<WebhookVerifier>(new UnsignedVerifier(clock));
  bool known = false;
  for (const std::string& name : WebhookSchemes()) known |= name == scheme;
  if (!known) {
    std::string message = "unknown webhook scheme \"" + scheme + "\"";
    if (std::optional<std::string> match = ClosestMatch(scheme, WebhookSchemes())) {
      message += "; did you mean \"" + *match + "\"?";
    } else {
      message += "; expected one of github, hmac-sha256, none, standard-webhooks, stripe";
    }
    return InvalidArgumentError(std::move(message));
  }
  if (options.secret.empty()) {
    return InvalidArgumentError(scheme + " webhook needs a secret");
  }
  if (options.tolerance <= Duration::zero()) {
    return InvalidArgumentError(scheme + " webhook tolerance must be positive");
  }
  if (scheme == "stripe") {
    return std::unique_ptr<WebhookVerifier>(
        new StripeVerifier(options.secret, options.tolerance, clock));
  }
  if (scheme == "github") {
    return std::unique_ptr<WebhookVerifier>(
        new GithubVerifier(options.secret, options.tolerance, clock));
  }
  if (scheme == "standard-webhooks") {
    ASSIGN_OR_RETURN(std::unique_ptr<StandardWebhooksVerifier> verifier,
                     StandardWebhooksVerifier::Create(options.secret, options.tolerance, clock));
    return std::unique_ptr<WebhookVerifier>(std::move(verifier));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<HmacSha256Verifier> verifier,
                   HmacSha256Verifier::Create(options, clock));
  return std::unique_ptr<WebhookVerifier>(std::move(verifier));
}

}  // namespace flowrun

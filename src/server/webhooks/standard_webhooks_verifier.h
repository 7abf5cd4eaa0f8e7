// StandardWebhooksVerifier: the `standard-webhooks` scheme (standardwebhooks.com), used by Svix,
// Resend, Clerk and others.
//
// The sender sends `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, a
// space-separated list of `v1,<base64 HMAC-SHA256>` entries over "<id>.<timestamp>.<raw body>".
// Several entries mean several keys during a rotation; any match is accepted, and entries of other
// versions (v1a, asymmetric) are ignored. Svix's own names, svix-id, svix-timestamp and
// svix-signature, are accepted when webhook-id is absent. The secret is "whsec_" followed by the
// base64 key; the key is the decoded bytes. The replay key is the signed webhook-id, which stays
// the same when the sender retries a message.
//
// Thread-safety: immutable; Verify is safe from many threads.
#pragma once

#include <memory>
#include <string>

#include "server/webhooks/webhook_verifier.h"

namespace flowrun {

class StandardWebhooksVerifier final : public WebhookVerifier {
 public:
  // Decodes `secret` ("whsec_<base64>", or the base64 alone). Errors are kInvalidArgument.
  // REQUIRES: tolerance > 0, `clock` outlives the verifier.
  static StatusOr<std::unique_ptr<StandardWebhooksVerifier>> Create(std::string_view secret,
                                                                    Duration tolerance,
                                                                    const Clock& clock);

  std::string_view scheme() const override { return "standard-webhooks"; }
  StatusOr<VerifiedDelivery> Verify(const WebhookHeaders& headers,
                                    std::string_view body) const override;

 private:
  StandardWebhooksVerifier(std::string key, Duration tolerance, const Clock& clock);

  const std::string key_;  // the decoded secret
  const Duration tolerance_;
  const Clock& clock_;
};

}  // namespace flowrun

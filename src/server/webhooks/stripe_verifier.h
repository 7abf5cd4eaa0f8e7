// StripeVerifier: the `stripe` webhook scheme.
//
// Stripe sends `Stripe-Signature: t=1492774577,v1=5257a869...,v0=...`: t is the Unix time of
// signing and each v1 is the hex HMAC-SHA256 of "<t>.<raw body>" under the endpoint's signing
// secret (whsec_..., used as is). While a secret is being rolled, Stripe sends one v1 per secret;
// any match is accepted. Other schemes (v0) are ignored. The replay key is t with the SHA-256 of
// the body: Stripe's event id lives inside the body and is covered by it.
//
// Thread-safety: immutable; Verify is safe from many threads.
#pragma once

#include <string>

#include "server/webhooks/webhook_verifier.h"

namespace flowrun {

class StripeVerifier final : public WebhookVerifier {
 public:
  // REQUIRES: !secret.empty(), tolerance > 0, `clock` outlives the verifier.
  StripeVerifier(std::string secret, Duration tolerance, const Clock& clock);

  std::string_view scheme() const override { return "stripe"; }
  StatusOr<VerifiedDelivery> Verify(const WebhookHeaders& headers,
                                    std::string_view body) const override;

 private:
  const std::string secret_;
  const Duration tolerance_;
  const Clock& clock_;
};

}  // namespace flowrun

// GithubVerifier: the `github` webhook scheme.
//
// GitHub sends `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` under the
// webhook's secret, and no timestamp, so a captured delivery stays valid for ever; the replay key
// (the SHA-256 of the body, which the signature covers) lets the service refuse it for as long as
// the tolerance. X-GitHub-Delivery is reported as the delivery id but is not signed, so it is not
// the replay key: a replayer could change it freely.
//
// Thread-safety: immutable; Verify is safe from many threads.
#pragma once

#include <string>

#include "server/webhooks/webhook_verifier.h"

namespace flowrun {

class GithubVerifier final : public WebhookVerifier {
 public:
  // REQUIRES: !secret.empty(), tolerance > 0, `clock` outlives the verifier.
  GithubVerifier(std::string secret, Duration tolerance, const Clock& clock);

  std::string_view scheme() const override { return "github"; }
  StatusOr<VerifiedDelivery> Verify(const WebhookHeaders& headers,
                                    std::string_view body) const override;

 private:
  const std::string secret_;
  const Duration tolerance_;
  const Clock& clock_;
};

}  // namespace flowrun

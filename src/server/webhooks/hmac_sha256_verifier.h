// HmacSha256Verifier: the generic `hmac-sha256` webhook scheme, for senders with no scheme of
// their own (Shopify, in-house services, ...).
//
// The signature header (WebhookVerifierOptions::signature_header) holds one or more digests,
// separated by commas or spaces, each hex or base64 as configured and each starting with the
// configured prefix (e.g. "sha256=") when there is one. Without a timestamp header the signed
// content is the raw body and the replay key is the body's SHA-256, remembered for the tolerance;
// with one, the signed content is "<timestamp>.<raw body>", the timestamp must lie within the
// tolerance, and the replay key is the timestamp with the body's SHA-256.
//
// Thread-safety: immutable; Verify is safe from many threads.
#pragma once

#include <memory>
#include <string>

#include "server/webhooks/webhook_verifier.h"

namespace flowrun {

class HmacSha256Verifier final : public WebhookVerifier {
 public:
  // Uses options.secret, tolerance, signature_header, encoding, signature_prefix and
  // timestamp_header. Errors are kInvalidArgument. REQUIRES: `clock` outlives the verifier.
  static StatusOr<std::unique_ptr<HmacSha256Verifier>> Create(const WebhookVerifierOptions& options,
                                                              const Clock& clock);

  std::string_view scheme() const override { return "hmac-sha256"; }
  StatusOr<VerifiedDelivery> Verify(const WebhookHeaders& headers,
                                    std::string_view body) const override;

 private:
  HmacSha256Verifier(const WebhookVerifierOptions& options, const Clock& clock);

  const WebhookVerifierOptions options_;
  const Clock& clock_;
};

}  // namespace flowrun

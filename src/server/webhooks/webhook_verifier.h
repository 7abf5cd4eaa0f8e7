// Webhook signature verification: the contract between POST /webhooks/{name} and the signature
// schemes of docs/webhooks.md (stripe, github, standard-webhooks, hmac-sha256, none).
//
// A WebhookVerifier is built once from a webhook's config (MakeWebhookVerifier) and then checks
// each request: the signature over the raw body bytes, compared in constant time, and for the
// schemes that sign a timestamp, that it lies within the tolerance on either side of now. Any
// failure is kUnauthenticated (HTTP 401) with a message that names the scheme and the problem and
// never the expected signature. Several signatures in one header are all tried, so a sender that
// signs with an old and a new secret while rotating keys is accepted under either.
//
// Replays: a verified delivery carries a replay key, derived from signed content only (a
// forger cannot change it without breaking the signature), and the time until which it must be
// remembered. The service passes both to a ReplayGuard (server/webhooks/replay_guard.h) and refuses
// a key it has already accepted.
//
// Thread-safety: verifiers are immutable after construction; Verify is safe from many threads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "common/status.h"
#include "common/timestamp.h"
#include "server/webhooks/webhook_headers.h"

namespace flowrun {

// A signature header longer than this is refused before any parsing or hashing.
inline constexpr size_t kMaxSignatureHeaderBytes = 8192;
// A header listing more signatures than this is refused; rotation needs two or three.
inline constexpr size_t kMaxSignaturesPerHeader = 16;

// What a successful verification knows about the delivery.
struct VerifiedDelivery {
  // Identifies this delivery for replay protection: equal for a replay, different for any other
  // delivery; built from signed content only. Empty for the scheme none, which proves nothing.
  std::string replay_key;
  // How long the replay key must be remembered: the end of the signed timestamp's tolerance, or
  // for schemes without a timestamp, now plus the tolerance.
  TimePoint remember_until;
  // The signed timestamp, for the schemes that have one.
  std::optional<TimePoint> signed_at;
  // The sender's own delivery id (X-GitHub-Delivery, webhook-id), for logs; empty when there is
  // none. For GitHub it is not signed, so it is not the replay key.
  std::string delivery_id;
};

class WebhookVerifier {
 public:
  virtual ~WebhookVerifier() = default;

  // "stripe", "github", "standard-webhooks", "hmac-sha256" or "none".
  virtual std::string_view scheme() const = 0;

  // Checks one request. `body` is the raw body, byte for byte as received.
  [[nodiscard]] virtual StatusOr<VerifiedDelivery> Verify(const WebhookHeaders& headers,
                                                          std::string_view body) const = 0;
};

enum class DigestEncoding { kHex, kBase64 };

struct WebhookVerifierOptions {
  // stripe, github, standard-webhooks, hmac-sha256 or none.
  std::string scheme;
  // The signing secret as the sender shows it. For standard-webhooks, "whsec_<base64 key>" (the
  // prefix may be left out); for the others, the secret's bytes are the HMAC key.
  // REQUIRES: non-empty unless scheme is none.
  std::string secret;
  // Largest accepted distance between a signed timestamp and now, and how long replay keys of
  // schemes without a timestamp are remembered. Default: 5 minutes.
  Duration tolerance = std::chrono::minutes(5);

  // The generic hmac-sha256 scheme only:
  // The header holding the signature(s), separated by commas or spaces. Default: X-Signature.
  std::string signature_header = "X-Signature";
  // How the digest is written. Default: hex.
  DigestEncoding encoding = DigestEncoding::kHex;
  // Text before each digest, e.g. "sha256="; required on each signature when set. Default: none.
  std::string signature_prefix;
  // A header holding the Unix time of signing; when set, it is required, the signed content is
  // "<timestamp>.<body>" and the tolerance applies. Default: none (the body alone is signed).
  std::string timestamp_header;
};

// Builds the verifier for a webhook. `clock` supplies now; REQUIRES: it outlives the verifier.
// Errors are kInvalidArgument: an unknown scheme, a missing or malformed secret, a tolerance that
// is not positive, an empty header name.
[[nodiscard]] StatusOr<std::unique_ptr<WebhookVerifier>> MakeWebhookVerifier(
    const WebhookVerifierOptions& options, const Clock& clock);

// The schemes MakeWebhookVerifier knows, sorted.
const std::vector<std::string>& WebhookSchemes();

}  // namespace flowrun

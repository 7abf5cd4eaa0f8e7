// WebhookEndpoint: one configured webhook, POST /webhooks/{name}, minus HTTP and ingest. It
// turns a request (headers and raw body) into the event to ingest:
//
//   1. verify the signature over the raw body with the webhook's scheme (401 on failure);
//   2. admit the delivery's replay key to the ReplayGuard (a replay is 401);
//   3. parse the body (JSON when it parses, else its text; a body declared as JSON that does not
//      parse is 400) and apply the transform (webhook_transform.h; a failure is 422).
//
// When a later step fails (the transform, or the ingest after Accept returned), the caller calls
// Release so that the sender's retry of the same delivery is not refused as a replay.
//
// Thread-safety: immutable after Create apart from the shared ReplayGuard, which is thread-safe;
// Accept and Release may be called from many threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "config/config.h"
#include "config/secrets.h"
#include "server/webhooks/replay_guard.h"
#include "server/webhooks/webhook_headers.h"
#include "server/webhooks/webhook_transform.h"
#include "server/webhooks/webhook_verifier.h"

namespace flowrun {

// An accepted delivery: the event to ingest and what Release needs.
struct WebhookDelivery {
  Json event;               // {name, data, id?}
  std::string replay_key;   // as admitted to the guard (prefixed with the webhook name)
  std::string delivery_id;  // the sender's delivery id, for logs; may be empty
};

// Why Accept refused a request: the status, and whether it is the transform's fault (422) rather
// than the request's.
struct WebhookRefusal {
  Status status;
  bool unprocessable = false;
};

class WebhookEndpoint {
 public:
  // Builds the endpoint for webhook `name`: resolves its secret through `secrets`, builds the
  // verifier and compiles the transform. Errors (kInvalidArgument, kNotFound for a missing secret)
  // name the webhook. REQUIRES: `clock` and `guard` outlive the endpoint.
  [[nodiscard]] static StatusOr<std::unique_ptr<WebhookEndpoint>> Create(
      const std::string& name, const WebhookConfig& config, const Secrets& secrets,
      const Clock& clock, ReplayGuard& guard);

  // Steps 1 to 3 above. `headers` are the request's headers as received, `content_type` the
  // Content-Type (may be empty). On failure the returned refusal says why; the status code is
  // kUnauthenticated (bad signature or replay), kInvalidArgument (malformed body),
  // kResourceExhausted (the replay guard is full) or, with `unprocessable`, the transform's error.
  [[nodiscard]] std::variant<WebhookDelivery, WebhookRefusal> Accept(
      const std::vector<std::pair<std::string, std::string>>& headers,
      std::string_view content_type, std::string_view body) const;

  // Forgets an accepted delivery's replay key (the ingest that followed failed).
  void Release(const WebhookDelivery& delivery) const;

  const std::string& name() const { return name_; }
  std::string_view scheme() const { return verifier_->scheme(); }

 private:
  WebhookEndpoint(std::string name, std::unique_ptr<WebhookVerifier> verifier,
                  WebhookTransform transform, ReplayGuard& guard);

  const std::string name_;
  const std::unique_ptr<WebhookVerifier> verifier_;
  const WebhookTransform transform_;
  ReplayGuard& guard_;
};

}  // namespace flowrun

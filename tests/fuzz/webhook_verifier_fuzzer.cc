// libFuzzer target: the webhook signature verifiers (stripe, github, standard-webhooks,
// hmac-sha256 with a timestamp header) on hostile headers and bodies. The first byte picks the
// scheme; the rest is header lines ("Name: value\n") up to an empty line, then the body. Verify
// must refuse with kUnauthenticated and a message, or accept; never crash or hang.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "server/webhooks/webhook_headers.h"
#include "server/webhooks/webhook_verifier.h"

namespace {

class FixedClock final : public flowrun::Clock {
 public:
  flowrun::TimePoint Now() const override { return flowrun::FromUnixMillis(1700000000000); }
};

std::unique_ptr<flowrun::WebhookVerifier> Verifier(int index) {
  static const FixedClock clock;
  flowrun::WebhookVerifierOptions options;
  switch (index % 4) {
    case 0:
      options.scheme = "stripe";
      options.secret = "whsec_test_secret";
      break;
    case 1:
      options.scheme = "github";
      options.secret = "github-secret";
      break;
    case 2:
      options.scheme = "standard-webhooks";
      options.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
      break;
    default:
      options.scheme = "hmac-sha256";
      options.secret = "hmac-secret";
      options.timestamp_header = "X-Timestamp";
      break;
  }
  auto verifier = flowrun::MakeWebhookVerifier(options, clock);
  if (!verifier.ok()) __builtin_trap();
  return std::move(*verifier);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::unique_ptr<flowrun::WebhookVerifier> verifiers[] = {Verifier(0), Verifier(1),
                                                                        Verifier(2), Verifier(3)};
  const flowrun::WebhookVerifier& verifier = *verifiers[data[0] % 4];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  flowrun::WebhookHeaders headers;
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    headers.Add(std::string(line.substr(0, colon)), std::string(value));
  }
  auto delivery = verifier.Verify(headers, rest);
  if (!delivery.ok()) {
    if (delivery.status().code() != flowrun::StatusCode::kUnauthenticated ||
        delivery.status().message().empty()) {
      __builtin_trap();
    }
  }
  return 0;
}

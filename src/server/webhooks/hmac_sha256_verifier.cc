#include "server/webhooks/hmac_sha256_verifier.h"

#include <optional>
#include <utility>
#include <vector>

#include "server/webhooks/signed_timestamp.h"
#include "server/webhooks/webhook_crypto.h"

namespace flowrun {
namespace {

constexpr std::string_view kScheme = "hmac-sha256";

bool IsSeparator(char c) { return c == ',' || c == ' ' || c == '\t'; }

}  // namespace

StatusOr<std::unique_ptr<HmacSha256Verifier>> HmacSha256Verifier::Create(
    const WebhookVerifierOptions& options, const Clock& clock) {
  if (options.signature_header.empty()) {
    return InvalidArgumentError("hmac-sha256 webhook needs a signature header name");
  }
  return std::unique_ptr<HmacSha256Verifier>(new HmacSha256Verifier(options, clock));
}

HmacSha256Verifier::HmacSha256Verifier(const WebhookVerifierOptions& options, const Clock& clock)
    : options_(options), clock_(clock) {}

StatusOr<VerifiedDelivery> HmacSha256Verifier::Verify(const WebhookHeaders& headers,
                                                      std::string_view body) const {
  const std::string& name = options_.signature_header;
  ASSIGN_OR_RETURN(std::string_view header,
                   headers.GetOne(kScheme, name, kMaxSignatureHeaderBytes));
  std::vector<std::string> signatures;
  size_t entries = 0;
  size_t prefixed = 0;
  for (size_t at = 0; at < header.size();) {
    if (IsSeparator(header[at])) {
      ++at;
      continue;
    }
    size_t end = at;
    while (end < header.size() && !IsSeparator(header[end])) ++end;
    std::string_view entry = header.substr(at, end - at);
    at = end;
    if (++entries > kMaxSignaturesPerHeader) {
      return UnauthenticatedError("hmac-sha256 signature: malformed " + name +
                                  " header: too many signatures");
    }
    if (entry.substr(0, options_.signature_prefix.size()) != options_.signature_prefix) continue;
    ++prefixed;
    entry.remove_prefix(options_.signature_prefix.size());
    std::optional<std::string> digest =
        options_.encoding == DigestEncoding::kHex ? HexDecode(entry) : Base64Decode(entry);
    if (digest && digest->size() == kSha256Bytes) signatures.push_back(std::move(*digest));
  }
  if (prefixed == 0) {
    return UnauthenticatedError(
        "hmac-sha256 signature: malformed " + name + " header: no signature" +
        (options_.signature_prefix.empty() ? "" : " starting with " + options_.signature_prefix));
  }

  VerifiedDelivery delivery;
  std::string_view timestamp;
  if (!options_.timestamp_header.empty()) {
    ASSIGN_OR_RETURN(timestamp,
                     headers.GetOne(kScheme, options_.timestamp_header, kMaxSignatureHeaderBytes));
    ASSIGN_OR_RETURN(delivery.signed_at,
                     ParseSignedTimestamp(kScheme, options_.timestamp_header, timestamp));
  }
  StatusOr<std::string> expected = delivery.signed_at
                                       ? HmacSha256(options_.secret, {timestamp, ".", body})
                                       : HmacSha256(options_.secret, {body});
  if (!expected.ok()) return expected.status();
  if (!ConstantTimeEqualsAny(*expected, signatures)) {
    return UnauthenticatedError("hmac-sha256 signature: no signature in " + name +
                                " matches the body (wrong secret, wrong encoding or altered body)");
  }
  TimePoint now = clock_.Now();
  std::string body_hash = Sha256(body);
  if (delivery.signed_at) {
    RETURN_IF_ERROR(CheckTimestampTolerance(kScheme, *delivery.signed_at, now, options_.tolerance));
    delivery.replay_key = "hmac-sha256:" + std::string(timestamp) + ":" + HexEncode(body_hash);
    delivery.remember_until = *delivery.signed_at + options_.tolerance;
  } else {
    delivery.replay_key = "hmac-sha256:" + HexEncode(body_hash);
    delivery.remember_until = now + options_.tolerance;
  }
  return delivery;
}

}  // namespace flowrun

#include "server/webhooks/stripe_verifier.h"

#include <optional>
#include <utility>
#include <vector>

#include "server/webhooks/signed_timestamp.h"
#include "server/webhooks/webhook_crypto.h"

namespace flowrun {
namespace {

constexpr std::string_view kScheme = "stripe";
constexpr std::string_view kHeader = "Stripe-Signature";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Status Malformed(std::string_view why) {
  return UnauthenticatedError("stripe signature: malformed Stripe-Signature header: " +
                              std::string(why));
}

struct ParsedHeader {
  std::string_view timestamp;
  std::vector<std::string> signatures;  // decoded v1 digests; undecodable ones are left out
  size_t v1_count = 0;
};

StatusOr<ParsedHeader> Parse(std::string_view header) {
  ParsedHeader parsed;
  bool has_timestamp = false;
  size_t elements = 0;
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view element = Trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (++elements > kMaxSignaturesPerHeader + 2) return Malformed("too many elements");
    size_t equals = element.find('=');
    if (equals == std::string_view::npos) return Malformed("an element has no '='");
    std::string_view key = element.substr(0, equals);
    std::string_view value = element.substr(equals + 1);
    if (key == "t") {
      if (has_timestamp) return Malformed("more than one t=");
      has_timestamp = true;
      parsed.timestamp = value;
    } else if (key == "v1") {
      ++parsed.v1_count;
      std::optional<std::string> digest = HexDecode(value);
      if (digest && digest->size() == kSha256Bytes) parsed.signatures.push_back(std::move(*digest));
    }
  }
  if (!has_timestamp) return Malformed("no t= timestamp");
  if (parsed.v1_count == 0) return Malformed("no v1= signature");
  if (parsed.v1_count > kMaxSignaturesPerHeader) return Malformed("too many v1= signatures");
  return parsed;
}

}  // namespace

StripeVerifier::StripeVerifier(std::string secret, Duration tolerance, const Clock& clock)
    : secret_(std::move(secret)), tolerance_(tolerance), clock_(clock) {}

StatusOr<VerifiedDelivery> StripeVerifier::Verify(const WebhookHeaders& headers,
                                                  std::string_view body) const {
  ASSIGN_OR_RETURN(std::string_view header,
                   headers.GetOne(kScheme, kHeader, kMaxSignatureHeaderBytes));
  ASSIGN_OR_RETURN(ParsedHeader parsed, Parse(header));
  ASSIGN_OR_RETURN(TimePoint signed_at,
                   ParseSignedTimestamp(kScheme, "Stripe-Signature t=", parsed.timestamp));
  ASSIGN_OR_RETURN(std::string expected, HmacSha256(secret_, {parsed.timestamp, ".", body}));
  if (!ConstantTimeEqualsAny(expected, parsed.signatures)) {
    return UnauthenticatedError(
        "stripe signature: no v1 signature matches the body (wrong secret or altered body)");
  }
  RETURN_IF_ERROR(CheckTimestampTolerance(kScheme, signed_at, clock_.Now(), tolerance_));
  std::string body_hash = Sha256(body);
  VerifiedDelivery delivery;
  delivery.replay_key = "stripe:" + std::string(parsed.timestamp) + ":" + HexEncode(body_hash);
  delivery.remember_until = signed_at + tolerance_;
  delivery.signed_at = signed_at;
  return delivery;
}

}  // namespace flowrun

// SecretRedactor: the one redaction of secret values, used by the journal, the API, the
// dashboard, logs, error messages and the outbox alike, so that every view hides the same things.
//
// What it hides ("needles"): each secret value of at least kMinLength bytes, and its
// percent-encoded forms (RFC 3986 %XX in upper and lower case, and with "+" for a space as HTML
// forms encode it). Needles are replaced by "***" longest first, so a secret that contains
// another ("abcdef" and "abc") is hidden whole: no part of the longer one is left behind. The
// order the secrets are given in does not matter.
//
// Thread-safety: immutable after construction; share it read-only between threads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace flowrun {

class SecretRedactor {
 public:
  // Values shorter than this are not redacted: "1" or "on" would erase ordinary text.
  static constexpr size_t kMinLength = 3;

  SecretRedactor() = default;
  explicit SecretRedactor(std::vector<std::string> values);
  // The string members of `secrets`, an object of name -> value (SecretSource::All's shape).
  static SecretRedactor FromObject(const Json& secrets);

  // `text` with every needle replaced by "***".
  std::string RedactText(std::string_view text) const;
  // `value` with every string, and every object key, redacted. Takes `value` by value, so that a
  // caller done with it can move it in and pay for no copy.
  Json RedactJson(Json value) const;
  // The same status with its message redacted (code and retry_after_ms kept).
  Status RedactStatus(const Status& status) const;

  bool empty() const { return needles_.empty(); }
  // The needles, longest first (then in byte order), without duplicates.
  const std::vector<std::string>& needles() const { return needles_; }

 private:
  void RedactInPlace(std::string& text) const;
  void RedactInPlace(Json& value) const;

  std::vector<std::string> needles_;
};

}  // namespace flowrun

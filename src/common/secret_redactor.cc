#include "common/secret_redactor.h"

#include <algorithm>
#include <cctype>

#include "common/percent_encoding.h"

namespace flowrun {
namespace {

// `encoded` with the hex digits of every %XX in lower case.
std::string LowerHex(std::string encoded) {
  for (size_t i = 0; i + 2 < encoded.size(); ++i) {
    if (encoded[i] != '%') continue;
    encoded[i + 1] = static_cast<char>(std::tolower(static_cast<unsigned char>(encoded[i + 1])));
    encoded[i + 2] = static_cast<char>(std::tolower(static_cast<unsigned char>(encoded[i + 2])));
  }
  return encoded;
}

// `encoded` with every %20 as "+", the way application/x-www-form-urlencoded writes a space.
std::string FormSpaces(std::string encoded) {
  for (size_t at = encoded.find("%20"); at != std::string::npos; at = encoded.find("%20", at)) {
    encoded.replace(at, 3, "+");
  }
  return encoded;
}

}  // namespace

SecretRedactor::SecretRedactor(std::vector<std::string> values) {
  for (std::string& value : values) {
    if (value.size() < kMinLength) continue;
    std::string encoded = PercentEncode(value);
    if (encoded != value) {
      needles_.push_back(LowerHex(encoded));
      needles_.push_back(FormSpaces(encoded));
      needles_.push_back(std::move(encoded));
    }
    needles_.push_back(std::move(value));
  }
  std::sort(needles_.begin(), needles_.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
  needles_.erase(std::unique(needles_.begin(), needles_.end()), needles_.end());
}

SecretRedactor SecretRedactor::FromObject(const Json& secrets) {
  std::vector<std::string> values;
  if (secrets.is_object()) {
    for (const auto& [name, secret] : secrets.items()) {
      if (secret.is_string()) values.push_back(secret.get<std::string>());
    }
  }
  return SecretRedactor(std::move(values));
}

void SecretRedactor::RedactInPlace(std::string& text) const {
  static constexpr std::string_view kMask = "***";
  for (const std::string& needle : needles_) {
    for (size_t at = text.find(needle); at != std::string::npos;
         at = text.find(needle, at + kMask.size())) {
      text.replace(at, needle.size(), kMask);
    }
  }
}

void SecretRedactor::RedactInPlace(Json& value) const {
  if (value.is_string()) {
    RedactInPlace(value.get_ref<std::string&>());
  } else if (value.is_array()) {
    for (Json& item : value) RedactInPlace(item);
  } else if (value.is_object()) {
    bool key_changed = false;
    for (auto& [key, item] : value.items()) {
      RedactInPlace(item);
      key_changed = key_changed || RedactText(key) != key;
    }
    if (!key_changed) return;
    Json renamed = Json::object();
    for (auto& [key, item] : value.items()) renamed[RedactText(key)] = std::move(item);
    value = std::move(renamed);
  }
}

std::string SecretRedactor::RedactText(std::string_view text) const {
  std::string out(text);
  RedactInPlace(out);
  return out;
}

Json SecretRedactor::RedactJson(Json value) const {
  if (!needles_.empty()) RedactInPlace(value);
  return value;
}

Status SecretRedactor::RedactStatus(const Status& status) const {
  if (status.ok() || needles_.empty()) return status;
  Status out(status.code(), RedactText(status.message()));
  if (status.retry_after_ms()) out.set_retry_after_ms(*status.retry_after_ms());
  return out;
}

}  // namespace flowrun

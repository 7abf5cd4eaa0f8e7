#include "interpreter/secret_source.h"

#include <algorithm>
#include <cctype>

#include "common/percent_encoding.h"

namespace flowrun {
namespace {

void RedactInPlace(Json& value, const std::vector<std::string>& needles) {
  if (value.is_string()) {
    RedactNeedles(value.get_ref<std::string&>(), needles);
  } else if (value.is_structured()) {
    for (auto& child : value) RedactInPlace(child, needles);
  }
}

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

MapSecretSource::MapSecretSource(std::map<std::string, std::string> secrets)
    : secrets_(Json::object()) {
  for (auto& [name, value] : secrets) secrets_[name] = std::move(value);
}

std::vector<std::string> SecretNeedles(std::vector<std::string> values) {
  std::vector<std::string> needles;
  for (std::string& value : values) {
    if (value.size() < kMinRedactedSecretLength) continue;
    std::string encoded = PercentEncode(value);
    if (encoded != value) {
      needles.push_back(LowerHex(encoded));
      needles.push_back(FormSpaces(encoded));
      needles.push_back(std::move(encoded));
    }
    needles.push_back(std::move(value));
  }
  std::sort(needles.begin(), needles.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
  needles.erase(std::unique(needles.begin(), needles.end()), needles.end());
  return needles;
}

void RedactNeedles(std::string& text, const std::vector<std::string>& needles) {
  static constexpr std::string_view kMask = "***";
  for (const std::string& needle : needles) {
    for (size_t at = text.find(needle); at != std::string::npos;
         at = text.find(needle, at + kMask.size())) {
      text.replace(at, needle.size(), kMask);
    }
  }
}

Json RedactSecrets(Json value, const Json& secrets) {
  if (!secrets.is_object() || secrets.empty()) return value;
  std::vector<std::string> values;
  for (const auto& [name, secret] : secrets.items()) {
    if (secret.is_string()) values.push_back(secret.get<std::string>());
  }
  std::vector<std::string> needles = SecretNeedles(std::move(values));
  if (!needles.empty()) RedactInPlace(value, needles);
  return value;
}

}  // namespace flowrun

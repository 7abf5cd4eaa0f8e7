#include "interpreter/secret_source.h"

#include <vector>

namespace flowrun {
namespace {

void RedactInPlace(Json& value, const std::vector<std::string>& needles) {
  if (value.is_string()) {
    std::string& text = value.get_ref<std::string&>();
    for (const std::string& needle : needles) {
      for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 3)) {
        text.replace(at, needle.size(), "***");
      }
    }
  } else if (value.is_structured()) {
    for (auto& child : value) RedactInPlace(child, needles);
  }
}

}  // namespace

MapSecretSource::MapSecretSource(std::map<std::string, std::string> secrets)
    : secrets_(Json::object()) {
  for (auto& [name, value] : secrets) secrets_[name] = std::move(value);
}

Json RedactSecrets(Json value, const Json& secrets) {
  if (!secrets.is_object() || secrets.empty()) return value;
  std::vector<std::string> needles;
  for (const auto& [name, secret] : secrets.items()) {
    if (secret.is_string() && secret.get_ref<const std::string&>().size() >= 3) {
      needles.push_back(secret.get<std::string>());
    }
  }
  if (!needles.empty()) RedactInPlace(value, needles);
  return value;
}

}  // namespace flowrun

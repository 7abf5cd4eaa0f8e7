#include "common/json_path.h"

#include <cmath>
#include <cstdint>

namespace flowrun {
namespace {

Json NormalizeNumbers(const Json& value) {
  if (value.is_number_float()) {
    double d = value.get<double>();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e15) {
      return Json(static_cast<int64_t>(d));
    }
    return value;
  }
  if (value.is_structured()) {
    Json copy = value;
    for (auto& child : copy) child = NormalizeNumbers(child);
    return copy;
  }
  return value;
}

}  // namespace

std::vector<std::string> SplitJsonPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    if (dot == std::string::npos) dot = path.size();
    parts.push_back(path.substr(start, dot - start));
    start = dot + 1;
  }
  return parts;
}

std::string JoinJsonPath(const std::vector<std::string>& path) {
  std::string joined;
  for (const std::string& part : path) {
    if (!joined.empty()) joined += '.';
    joined += part;
  }
  return joined;
}

Json ExtractPath(const Json& value, const std::vector<std::string>& path) {
  const Json* at = &value;
  for (const std::string& segment : path) {
    if (at->is_object()) {
      auto it = at->find(segment);
      if (it == at->end()) return nullptr;
      at = &*it;
    } else if (at->is_array() && !segment.empty() &&
               segment.find_first_not_of("0123456789") == std::string::npos) {
      size_t index = std::stoul(segment);
      if (index >= at->size()) return nullptr;
      at = &(*at)[index];
    } else {
      return nullptr;
    }
  }
  return *at;
}

std::string CanonicalKey(const Json& value) { return NormalizeNumbers(value).dump(); }

}  // namespace flowrun

#include "actions/http/http_expect.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace flowrun {

StatusOr<StatusRanges> ParseExpect(const Json& expect) {
  if (expect.is_null()) return StatusRanges{{200, 299}};
  Json list = expect.is_array() ? expect : Json::array({expect});
  StatusRanges ranges;
  for (const Json& item : list) {
    if (item.is_number_integer() && item.get<int>() >= 100 && item.get<int>() <= 599) {
      ranges.emplace_back(item.get<int>(), item.get<int>());
      continue;
    }
    if (item.is_string()) {
      std::string text = item.get<std::string>();
      std::transform(text.begin(), text.end(), text.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (text.size() == 3 && text[0] >= '1' && text[0] <= '5' && text.substr(1) == "xx") {
        int base = (text[0] - '0') * 100;
        ranges.emplace_back(base, base + 99);
        continue;
      }
      if (text.size() == 3 && text.find_first_not_of("0123456789") == std::string::npos) {
        int code = std::stoi(text);
        if (code >= 100 && code <= 599) {
          ranges.emplace_back(code, code);
          continue;
        }
      }
    }
    return InvalidArgumentError("expect holds " + item.dump() +
                                ": expected statuses such as 200 or classes such as \"2xx\"");
  }
  return ranges;
}

bool Accepted(const StatusRanges& ranges, int status) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [status](const auto& r) { return status >= r.first && status <= r.second; });
}

Status UnexpectedStatusError(int status, std::string message) {
  return status == 429   ? ResourceExhaustedError(std::move(message))
         : status >= 500 ? UnavailableError(std::move(message))
                         : FailedPreconditionError(std::move(message));
}

}  // namespace flowrun

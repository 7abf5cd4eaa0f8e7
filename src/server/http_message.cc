#include "server/http_message.h"

#include <algorithm>
#include <cctype>

#include "common/percent_encoding.h"

namespace flowrun {

bool HeaderNameLess::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) <
           std::tolower(static_cast<unsigned char>(y));
  });
}

std::string HttpRequest::get_header_value(std::string_view name, size_t index) const {
  auto [begin, end] = headers.equal_range(name);
  for (auto it = begin; it != end; ++it, --index) {
    if (index == 0) return it->second;
  }
  return "";
}

std::string HttpRequest::get_param_value(std::string_view name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

void HttpResponse::set_header(std::string_view name, std::string value) {
  auto [begin, end] = headers.equal_range(name);
  headers.erase(begin, end);
  headers.emplace(std::string(name), std::move(value));
}

void HttpResponse::set_content(std::string content, std::string_view content_type) {
  body = std::move(content);
  set_header("Content-Type", std::string(content_type));
}

std::string DecodePath(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size()) {
      std::optional<std::string> byte = PercentDecode(path.substr(i, 3));
      if (byte.has_value()) {
        out += *byte;
        i += 2;
        continue;
      }
    }
    out += path[i];
  }
  return out;
}

QueryParams ParseQuery(std::string_view query) {
  QueryParams params;
  while (!query.empty()) {
    size_t end = query.find('&');
    std::string_view pair = query.substr(0, end);
    query = end == std::string_view::npos ? std::string_view() : query.substr(end + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    params.emplace(PercentDecode(name).value_or(std::string(name)),
                   PercentDecode(value).value_or(std::string(value)));
  }
  return params;
}

}  // namespace flowrun

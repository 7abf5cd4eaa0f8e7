#include "server/api_router.h"

namespace flowrun {

std::vector<std::string_view> SplitUrlPath(std::string_view path) {
  std::vector<std::string_view> segments;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (path.empty()) return segments;
  size_t start = 0;
  while (true) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
      segments.push_back(path.substr(start));
      return segments;
    }
    segments.push_back(path.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace flowrun

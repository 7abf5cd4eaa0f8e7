#include "store/store_url.h"

#include "common/percent_encoding.h"

namespace flowrun::store {

bool IsPostgresUrl(const std::string& url) {
  return url.starts_with("postgres://") || url.starts_with("postgresql://");
}

StatusOr<std::string> SqlitePathOfStoreUrl(const std::string& url) {
  if (IsPostgresUrl(url)) {
    return InvalidArgumentError("store \"" + url +
                                "\" is a PostgreSQL store, which has no SQLite file");
  }
  std::string path = url.starts_with("sqlite:") ? url.substr(7) : url;
  if (path.empty()) return InvalidArgumentError("store \"" + url + "\": no file path");
  return path;
}

std::string PostgresUrlWithSetting(const std::string& url, std::string_view name,
                                   std::string_view value) {
  const std::string setting = PercentEncode("-c " + std::string(name) + "=" + std::string(value));
  const size_t fragment = url.find('#');
  const std::string base = url.substr(0, fragment);
  const std::string tail = fragment == std::string::npos ? "" : url.substr(fragment);
  const size_t query = base.find('?');
  if (query == std::string::npos) return base + "?options=" + setting + tail;
  // An `options` parameter of the URI's own keeps its settings; ours goes after them.
  size_t start = query + 1;
  while (start <= base.size()) {
    size_t end = base.find('&', start);
    if (end == std::string::npos) end = base.size();
    if (base.compare(start, 8, "options=") == 0) {
      return base.substr(0, end) + "%20" + setting + base.substr(end) + tail;
    }
    start = end + 1;
  }
  return base + "&options=" + setting + tail;
}

}  // namespace flowrun::store

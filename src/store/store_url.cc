#include "store/store_url.h"

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

}  // namespace flowrun::store

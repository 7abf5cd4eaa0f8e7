#include "store/store_url.h"

namespace flowrun::store {

StatusOr<std::string> SqlitePathOfStoreUrl(const std::string& url) {
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    return InvalidArgumentError("store \"" + url +
                                "\": only the embedded SQLite store (sqlite:PATH) is supported");
  }
  std::string path = url.starts_with("sqlite:") ? url.substr(7) : url;
  if (path.empty()) return InvalidArgumentError("store \"" + url + "\": no file path");
  return path;
}

}  // namespace flowrun::store

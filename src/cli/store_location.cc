#include "cli/store_location.h"

#include <filesystem>

#include "store/store_url.h"

namespace flowrun::cli {

StatusOr<Config> LoadCliConfig(const std::string& config_path, const std::string& store_flag) {
  std::string path = config_path;
  if (path.empty() && std::filesystem::is_regular_file("flowrun.yaml")) path = "flowrun.yaml";
  Config config;
  if (path.empty()) {
    config = Config::Defaults(std::filesystem::current_path().string());
  } else {
    ASSIGN_OR_RETURN(config, ReadConfigFile(path));
  }
  if (!store_flag.empty()) {
    std::string store = store_flag;
    if (store.starts_with("sqlite:")) store = store.substr(7);
    if (store.find("://") == std::string::npos && store != ":memory:") {
      store = "sqlite:" + std::filesystem::absolute(store).string();
    } else if (store == ":memory:") {
      store = "sqlite::memory:";
    }
    config.store = store;
  }
  return config;
}

StatusOr<std::string> ResolveStoreFile(const std::string& config_path,
                                       const std::string& store_flag) {
  ASSIGN_OR_RETURN(Config config, LoadCliConfig(config_path, store_flag));
  ASSIGN_OR_RETURN(std::string path, store::SqlitePathOfStoreUrl(config.store));
  if (path == ":memory:") {
    return InvalidArgumentError("the store is sqlite::memory:, a private temporary file");
  }
  return path;
}

}  // namespace flowrun::cli

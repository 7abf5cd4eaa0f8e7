#include "actions/database.h"

#include "actions/postgres_database.h"
#include "actions/sqlite_database.h"

namespace flowrun {

StatusOr<std::unique_ptr<Database>> OpenDatabase(const std::string& label, const std::string& url,
                                                 size_t max_connections, OutboundLoop* loop) {
  if (url.rfind("sqlite:", 0) == 0) {
    std::string path = url.substr(7);
    if (path.empty()) return InvalidArgumentError("database " + label + ": empty sqlite path");
    return std::unique_ptr<Database>(new SqliteDatabase(label, path, max_connections));
  }
  if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    return std::unique_ptr<Database>(new PostgresDatabase(label, url, max_connections, loop));
  }
  return InvalidArgumentError("database " + label +
                              ": expected sqlite:PATH or postgres://…, got another scheme");
}

}  // namespace flowrun

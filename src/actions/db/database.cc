#include "actions/db/database.h"

#include "actions/db/postgres_database.h"
#include "actions/db/sqlite_database.h"
#include "common/log.h"

namespace flowrun {

std::string EncodeStepResult(const QueryResult& result) {
  return Json{{"rows", result.rows}, {"changes", result.changes}}.dump();
}

StatusOr<QueryResult> DecodeStepResult(std::string_view text) {
  Json recorded = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!recorded.is_object() || !recorded.contains("rows") || !recorded["rows"].is_array() ||
      !recorded.contains("changes") || !recorded["changes"].is_number_integer()) {
    return FailedPreconditionError(
        "flowrun_step_results holds a result that is not {rows, changes}");
  }
  QueryResult result;
  result.rows = std::move(recorded["rows"]);
  result.changes = recorded["changes"].get<long long>();
  return result;
}

void LogStepResultReplayed(std::string_view database, std::string_view key) {
  LogInfo("db step result replayed", {{"database", database}, {"key", key}});
}

StatusOr<std::unique_ptr<Database>> OpenDatabase(const std::string& label, const std::string& url,
                                                 const DatabaseOptions& options) {
  if (url.rfind("sqlite:", 0) == 0) {
    std::string path = url.substr(7);
    if (path.empty()) return InvalidArgumentError("database " + label + ": empty sqlite path");
    return std::unique_ptr<Database>(
        new SqliteDatabase(label, path, options.max_connections, options.step_results_retention));
  }
  if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    return std::unique_ptr<Database>(new PostgresDatabase(
        label, url, options.max_connections, options.loop, options.step_results_retention));
  }
  return InvalidArgumentError("database " + label +
                              ": expected sqlite:PATH or postgres://…, got another scheme");
}

}  // namespace flowrun

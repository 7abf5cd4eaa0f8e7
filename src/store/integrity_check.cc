#include "store/integrity_check.h"

#include <sqlite3.h>

namespace flowrun::store {

StatusOr<std::vector<std::string>> CheckIntegrity(sqlite::Connection& db, IntegrityCheck kind,
                                                  int max_problems) {
  const std::string sql = std::string(kind == IntegrityCheck::kQuick ? "PRAGMA quick_check("
                                                                     : "PRAGMA integrity_check(") +
                          std::to_string(std::max(1, max_problems)) + ")";
  std::vector<std::string> problems;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db.handle(), sql.c_str(), -1, &stmt, nullptr);
  while (rc == SQLITE_OK) {
    int step = sqlite3_step(stmt);
    if (step == SQLITE_DONE) break;
    if (step != SQLITE_ROW) {
      rc = step;
      break;
    }
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    std::string row = text ? text : "";
    if (row != "ok") problems.push_back(std::move(row));
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_OK) {
    Status error = StoreSqliteError(db.handle(), rc, sql);
    // A file too damaged to check is damaged; locks and permissions are the caller's to report.
    if (error.code() != StatusCode::kDataLoss && error.code() != StatusCode::kInternal) {
      return error;
    }
    problems.push_back(error.message());
  }
  return problems;
}

}  // namespace flowrun::store

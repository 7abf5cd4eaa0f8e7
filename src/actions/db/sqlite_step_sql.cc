#include "actions/db/sqlite_step_sql.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

#include "actions/db/sqlite_target_error.h"
#include "common/base64.h"

namespace flowrun {
namespace {

// The index of the first character of `s` from `i` on that is not whitespace, a semicolon or a
// comment; s.size() when there is none.
size_t SkipTrivia(std::string_view s, size_t i) {
  while (i < s.size()) {
    if (std::isspace(static_cast<unsigned char>(s[i])) || s[i] == ';') {
      ++i;
    } else if (s.compare(i, 2, "--") == 0) {
      size_t end = s.find('\n', i);
      i = end == std::string_view::npos ? s.size() : end;
    } else if (s.compare(i, 2, "/*") == 0) {
      size_t end = s.find("*/", i + 2);
      i = end == std::string_view::npos ? s.size() : end + 2;
    } else {
      break;
    }
  }
  return i;
}

}  // namespace

bool IsOnlyTrivia(std::string_view text) { return SkipTrivia(text, 0) == text.size(); }

bool IsTransactionStatement(std::string_view sql) {
  size_t start = SkipTrivia(sql, 0);
  size_t end = start;
  while (end < sql.size() && std::isalpha(static_cast<unsigned char>(sql[end]))) ++end;
  std::string_view word = sql.substr(start, end - start);
  static constexpr std::array<std::string_view, 6> kControl = {"BEGIN",    "COMMIT",    "END",
                                                               "ROLLBACK", "SAVEPOINT", "RELEASE"};
  return std::any_of(kControl.begin(), kControl.end(), [word](std::string_view control) {
    return std::equal(word.begin(), word.end(), control.begin(), control.end(), [](char a, char b) {
      return std::toupper(static_cast<unsigned char>(a)) == b;
    });
  });
}

namespace {

Status Bind(sqlite3_stmt* stmt, int index, const Json& value) {
  int rc;
  if (value.is_null()) {
    rc = sqlite3_bind_null(stmt, index);
  } else if (value.is_boolean()) {
    rc = sqlite3_bind_int(stmt, index, value.get<bool>() ? 1 : 0);
  } else if (value.is_number_integer()) {
    rc = sqlite3_bind_int64(stmt, index, value.get<long long>());
  } else if (value.is_number()) {
    rc = sqlite3_bind_double(stmt, index, value.get<double>());
  } else if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    rc = sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  } else {
    std::string text = value.dump();
    rc = sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  }
  if (rc != SQLITE_OK) return InternalError(std::string("binding failed: ") + sqlite3_errstr(rc));
  return OkStatus();
}

Json ColumnValue(sqlite3_stmt* stmt, int column) {
  switch (sqlite3_column_type(stmt, column)) {
    case SQLITE_INTEGER:
      return static_cast<long long>(sqlite3_column_int64(stmt, column));
    case SQLITE_FLOAT:
      return sqlite3_column_double(stmt, column);
    case SQLITE_TEXT:
      return std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, column)),
                         sqlite3_column_bytes(stmt, column));
    case SQLITE_BLOB:
      return Base64Encode(
          std::string_view(static_cast<const char*>(sqlite3_column_blob(stmt, column)),
                           static_cast<size_t>(sqlite3_column_bytes(stmt, column))));
    default:
      return nullptr;
  }
}

}  // namespace

Status BindStepParameters(sqlite3_stmt* stmt, const Json& params) {
  if (!params.is_object()) return InvalidArgumentError("params must be a map");
  std::set<std::string, std::less<>> used;
  for (int i = 1; i <= sqlite3_bind_parameter_count(stmt); ++i) {
    const char* name = sqlite3_bind_parameter_name(stmt, i);
    if (name == nullptr) {
      return InvalidArgumentError(
          "sql uses a positional placeholder (?); use named :parameters with values in params");
    }
    std::string key(name + 1);
    auto value = params.find(key);
    if (value == params.end()) {
      return InvalidArgumentError("sql uses :" + key + " but params has no \"" + key + "\"");
    }
    RETURN_IF_ERROR(Bind(stmt, i, *value));
    used.insert(std::move(key));
  }
  for (const auto& [key, value] : params.items()) {
    if (!used.count(key)) {
      return InvalidArgumentError("params has \"" + key + "\", which the sql does not use");
    }
  }
  return OkStatus();
}

StatusOr<QueryResult> RunStepStatement(const std::string& label, sqlite3* db, sqlite3_stmt* stmt) {
  QueryResult result;
  // Total changes, not sqlite3_changes: that one keeps the count of an earlier statement on this
  // connection when this one (DDL, for example) changes no rows.
  const long long changes_before = sqlite3_total_changes64(db);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    // Counted after the step: a kept statement is prepared again inside sqlite3_step when the
    // schema changed, and `SELECT *` may then have more columns.
    const int columns = sqlite3_column_count(stmt);
    Json row = Json::object();
    for (int c = 0; c < columns; ++c) row[sqlite3_column_name(stmt, c)] = ColumnValue(stmt, c);
    result.rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return SqliteTargetError(label, db, rc, "the statement failed");
  if (!sqlite3_stmt_readonly(stmt)) result.changes = sqlite3_total_changes64(db) - changes_before;
  return result;
}

}  // namespace flowrun

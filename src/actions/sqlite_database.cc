#include "actions/sqlite_database.h"

#include <sqlite3.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <set>

namespace flowrun {
namespace {

using SteadyClock = std::chrono::steady_clock;

Status SqliteError(const std::string& label, sqlite3* db, int code, const std::string& what) {
  int primary = code & 0xff;
  std::string message =
      "database " + label + ": " + what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(code));
  switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return UnavailableError(message + " (the database is busy)");
    case SQLITE_INTERRUPT:
      return DeadlineExceededError("database " + label + ": the statement ran out of time");
    case SQLITE_CONSTRAINT:
      return FailedPreconditionError(message);
    case SQLITE_FULL:
      return ResourceExhaustedError(message);
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      return UnavailableError(message);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return FailedPreconditionError(message);
    case SQLITE_ERROR:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
      return InvalidArgumentError(message);
    default:
      return InternalError(message);
  }
}

// True when `tail` holds only whitespace, semicolons and comments.
bool OnlyTrivia(const char* tail) {
  std::string_view s(tail);
  size_t i = 0;
  while (i < s.size()) {
    if (std::isspace(static_cast<unsigned char>(s[i])) || s[i] == ';') {
      ++i;
    } else if (s.compare(i, 2, "--") == 0) {
      size_t end = s.find('\n', i);
      i = end == std::string_view::npos ? s.size() : end;
    } else if (s.compare(i, 2, "/*") == 0) {
      size_t end = s.find("*/", i + 2);
      if (end == std::string_view::npos) return true;
      i = end + 2;
    } else {
      return false;
    }
  }
  return true;
}

std::string Base64(const unsigned char* data, size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < size; i += 3) {
    unsigned v = data[i] << 16;
    if (i + 1 < size) v |= data[i + 1] << 8;
    if (i + 2 < size) v |= data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < size ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < size ? kAlphabet[v & 63] : '=';
  }
  return out;
}

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
      return Base64(static_cast<const unsigned char*>(sqlite3_column_blob(stmt, column)),
                    sqlite3_column_bytes(stmt, column));
    default:
      return nullptr;
  }
}

struct StatementDeleter {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};

}  // namespace

SqliteDatabase::SqliteDatabase(std::string label, std::string path, size_t max_idle)
    : label_(std::move(label)),
      path_(std::move(path)),
      max_idle_(max_idle),
      writer_gate_(SqliteWriterGate::ForFile(path_)) {}

SqliteDatabase::~SqliteDatabase() {
  for (sqlite3* db : idle_) sqlite3_close_v2(db);
}

StatusOr<sqlite3*> SqliteDatabase::Acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      sqlite3* db = idle_.back();
      idle_.pop_back();
      return db;
    }
  }
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path_.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status error = SqliteError(label_, db, rc, "cannot open " + path_);
    sqlite3_close_v2(db);
    return error;
  }
  sqlite3_extended_result_codes(db, 1);
  return db;
}

void SqliteDatabase::Release(sqlite3* db) {
  std::lock_guard lock(mu_);
  if (idle_.size() < max_idle_ && sqlite3_get_autocommit(db)) {
    idle_.push_back(db);
  } else {
    sqlite3_close_v2(db);
  }
}

StatusOr<QueryResult> SqliteDatabase::Execute(std::string_view sql, const Json& params,
                                              Duration timeout) {
  if (!params.is_object()) return InvalidArgumentError("params must be a map");
  ASSIGN_OR_RETURN(sqlite3 * db, Acquire());
  struct Lease {
    SqliteDatabase* owner;
    sqlite3* db;
    ~Lease() {
      sqlite3_progress_handler(db, 0, nullptr, nullptr);
      if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      owner->Release(db);
    }
  } lease{this, db};

  const SteadyClock::time_point deadline = SteadyClock::now() + timeout;
  sqlite3_busy_timeout(db, static_cast<int>(std::max<long long>(1, timeout.count())));
  sqlite3_progress_handler(
      db, 1000,
      [](void* arg) -> int {
        return SteadyClock::now() > *static_cast<SteadyClock::time_point*>(arg) ? 1 : 0;
      },
      const_cast<SteadyClock::time_point*>(&deadline));

  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), 0, &raw, &tail);
  std::unique_ptr<sqlite3_stmt, StatementDeleter> stmt(raw);
  if (rc != SQLITE_OK) return SqliteError(label_, db, rc, "cannot prepare the statement");
  if (!stmt) return InvalidArgumentError("sql holds no statement");
  if (tail != nullptr && !OnlyTrivia(tail)) {
    return InvalidArgumentError("sql holds more than one statement; a db step runs exactly one");
  }

  std::set<std::string> used;
  for (int i = 1; i <= sqlite3_bind_parameter_count(stmt.get()); ++i) {
    const char* name = sqlite3_bind_parameter_name(stmt.get(), i);
    if (name == nullptr) {
      return InvalidArgumentError(
          "sql uses a positional placeholder (?); use named :parameters with values in params");
    }
    std::string key(name + 1);
    if (!params.contains(key)) {
      return InvalidArgumentError("sql uses :" + key + " but params has no \"" + key + "\"");
    }
    RETURN_IF_ERROR(Bind(stmt.get(), i, params[key]));
    used.insert(key);
  }
  for (const auto& [key, value] : params.items()) {
    if (!used.count(key)) {
      return InvalidArgumentError("params has \"" + key + "\", which the sql does not use");
    }
  }

  bool writes = !sqlite3_stmt_readonly(stmt.get());
  // Writers queue in the process's gate for this file rather than in SQLite's busy handler; the
  // gate is left after the transaction ends, committed or rolled back.
  struct Turn {
    SqliteWriterGate* gate = nullptr;
    sqlite3* db = nullptr;
    std::unique_ptr<sqlite3_stmt, StatementDeleter>* stmt = nullptr;
    ~Turn() {
      if (gate == nullptr) return;
      stmt->reset();
      if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      gate->Leave();
    }
  } turn;
  if (writes) {
    if (!writer_gate_->Enter(deadline)) {
      return UnavailableError("database " + label_ +
                              ": cannot begin a transaction: other writers "
                              "held the database for the whole timeout of " +
                              FormatDuration(timeout) + " (the database is busy)");
    }
    turn.gate = writer_gate_.get();
    turn.db = db;
    turn.stmt = &stmt;
    // What is left of the timeout, for writers in other processes.
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    sqlite3_busy_timeout(db, static_cast<int>(std::max<long long>(1, left.count())));
  }
  rc = sqlite3_exec(db, writes ? "BEGIN IMMEDIATE" : "BEGIN", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(label_, db, rc, "cannot begin a transaction");

  QueryResult result;
  // Total changes, not sqlite3_changes: that one keeps the count of an earlier statement on this
  // connection when this one (DDL, for example) changes no rows.
  const long long changes_before = sqlite3_total_changes64(db);
  int columns = sqlite3_column_count(stmt.get());
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    Json row = Json::object();
    for (int c = 0; c < columns; ++c)
      row[sqlite3_column_name(stmt.get(), c)] = ColumnValue(stmt.get(), c);
    result.rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return SqliteError(label_, db, rc, "the statement failed");
  if (writes) result.changes = sqlite3_total_changes64(db) - changes_before;
  stmt.reset();
  rc = sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(label_, db, rc, "cannot commit");
  return result;
}

}  // namespace flowrun

// sqlite::Statement: one prepared statement of a sqlite::Connection (common/sqlite/connection.h),
// finalized when destroyed. Errors go through the connection's ErrorTranslator and ErrorObserver.
//
// Thread-safety: none; used by the thread that holds its connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

struct sqlite3_stmt;

namespace flowrun::sqlite {

class Connection;

class Statement {
 public:
  // Takes ownership of `stmt`. REQUIRES: `connection` outlives the statement.
  Statement(Connection& connection, sqlite3_stmt* stmt) : connection_(connection), stmt_(stmt) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Binding is 1-based, as in SQLite. Binding resets the statement if it was stepped.
  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, int64_t value);
  Statement& BindNull(int index);
  Statement& Bind(int index, std::optional<int64_t> value);

  // Steps once: true when a row is available, false when done. An error names the statement's
  // SQL and resets it.
  [[nodiscard]] StatusOr<bool> Step();
  // Steps to completion, for statements that return no rows.
  [[nodiscard]] Status Run();
  // Resets for re-use and clears the bindings.
  void Reset();

  bool IsNull(int column) const;
  int64_t Int(int column) const;
  std::string Text(int column) const;
  std::optional<int64_t> OptionalInt(int column) const;

  // For callers that bind or read values the methods above do not cover.
  sqlite3_stmt* handle() const { return stmt_; }

 private:
  Connection& connection_;
  sqlite3_stmt* const stmt_;
  bool stepped_ = false;
};

// Resets a statement and clears its bindings when it goes out of scope.
class ResetOnExit {
 public:
  explicit ResetOnExit(Statement& statement) : statement_(statement) {}
  ~ResetOnExit() { statement_.Reset(); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  Statement& statement_;
};

}  // namespace flowrun::sqlite

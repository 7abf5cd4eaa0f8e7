// PgConnection: one blocking libpq connection for the PostgreSQL store, with its statements
// prepared once (by SQL text) and run with text parameters. Errors are translated by
// PostgresError (actions/db/postgres_error.h), so their codes carry the retry decision.
//
// Thread-safety: a connection is used by one thread at a time (the store hands them out from
// pools).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "common/timestamp.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace flowrun::store {

// One text parameter; nullopt is SQL NULL.
using PgParam = std::optional<std::string>;

PgParam PgText(std::string_view text);
// NULL for empty text.
PgParam PgTextOrNull(std::string_view text);
PgParam PgInt(int64_t value);
PgParam PgMillis(TimePoint t);
PgParam PgMillis(const std::optional<TimePoint>& t);
PgParam PgBool(bool value);

// One statement with $1… placeholders and its parameters.
struct PgStatement {
  std::string sql;
  std::vector<PgParam> params;
};

// The rows of one statement.
class PgResult {
 public:
  explicit PgResult(PGresult* result);
  PgResult(PgResult&&) noexcept;
  PgResult& operator=(PgResult&&) noexcept;
  ~PgResult();

  int rows() const;
  // The number of rows an INSERT, UPDATE or DELETE touched.
  int64_t affected() const;
  bool IsNull(int row, int column) const;
  std::string Text(int row, int column) const;  // "" for NULL
  int64_t Int(int row, int column) const;       // 0 for NULL
  std::optional<int64_t> OptionalInt(int row, int column) const;
  std::optional<TimePoint> OptionalTime(int row, int column) const;
  const PGresult* get() const { return result_; }

 private:
  PGresult* result_;
};

// What every store session sets, as connection options (PostgresUrlWithSetting, store_url.h), so
// that they cost no round trip and a server that refuses one refuses the connection with its
// reason:
//   - jit = off: flowrun's statements are short, and compiling one costs more than it saves (a
//     count over a large table spent tens of milliseconds compiling);
//   - enable_seqscan = off: every statement of the store reaches its rows through an index, and a
//     prepared statement must keep doing so. PostgreSQL plans a prepared statement once for all
//     (a generic plan) after five runs; made while a table was still tiny and analyzed so (a new
//     database, a trickle of runs), that plan scans the whole table and stays until autovacuum
//     analyzes the table again. A burst of 10,000 W1-io runs after a trickle of 30 ran at a quarter
//     of the rate, PostgreSQL at five times the CPU. Where no index applies, PostgreSQL still
//     scans.
struct PgSessionSetting {
  const char* name;
  const char* value;
};
inline constexpr PgSessionSetting kStoreSessionSettings[] = {{"jit", "off"},
                                                             {"enable_seqscan", "off"}};

class PgConnection {
 public:
  // Connects to `url` (a libpq connection URI). `subject` starts error messages ("store").
  // kUnavailable when the server cannot be reached. The session runs with
  // kStoreSessionSettings.
  [[nodiscard]] static StatusOr<std::unique_ptr<PgConnection>> Open(const std::string& url,
                                                                    std::string subject);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs the statements in order, each prepared on first use (by SQL text), sent together and
  // answered together (libpq pipeline mode): one round trip to the server however many there
  // are. At the first failure the rest are not run and its error is returned, with its SQLSTATE
  // kept for last_sqlstate(); inside a transaction, the transaction is then aborted. Outside one,
  // the statements form one transaction of their own: a failure undoes them all. A parameter
  // holding a NUL character, which PostgreSQL text cannot hold, is refused (kInvalidArgument)
  // before anything is sent.
  [[nodiscard]] StatusOr<std::vector<PgResult>> ExecPipelined(
      std::span<const PgStatement> statements);
  // One statement, as ExecPipelined runs it.
  [[nodiscard]] StatusOr<PgResult> Exec(const PgStatement& statement);
  [[nodiscard]] StatusOr<PgResult> Exec(std::string sql, std::vector<PgParam> params = {}) {
    return Exec(PgStatement{std::move(sql), std::move(params)});
  }
  // Runs one or more statements without parameters (DDL, BEGIN, COMMIT).
  [[nodiscard]] Status ExecScript(const std::string& sql);

  // The SQLSTATE of the last failure; "" after a success.
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  // Whether the last failure was a serialization failure or a deadlock: the transaction may be
  // tried again.
  bool LastFailureWasConflict() const;
  // Whether the connection is still usable (not broken, not inside a failed transaction).
  bool healthy() const;
  PGconn* handle() const { return conn_; }

 private:
  PgConnection(PGconn* conn, std::string subject) : conn_(conn), subject_(std::move(subject)) {}
  Status Failure(const PGresult* result, const std::string& what);
  // The parameters as libpq takes them; kInvalidArgument for text holding a NUL character.
  StatusOr<std::vector<const char*>> ParamValues(const std::vector<PgParam>& params);

  PGconn* conn_;
  const std::string subject_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
  std::string last_sqlstate_;
};

}  // namespace flowrun::store

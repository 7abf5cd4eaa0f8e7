#include "actions/postgres_database.h"

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <set>

#include "actions/sql_parameters.h"

namespace flowrun {
namespace {

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

std::string TrimMessage(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

Status PostgresError(const std::string& label, PGconn* conn, const PGresult* result,
                     const std::string& what) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  std::string text =
      TrimMessage(result && PQresultErrorMessage(result)[0] ? PQresultErrorMessage(result)
                                                            : PQerrorMessage(conn));
  std::string message = "database " + label + ": " + what + ": " + text +
                        (sqlstate.empty() ? "" : " (SQLSTATE " + sqlstate + ")");
  if (sqlstate.empty() || PQstatus(conn) != CONNECTION_OK) return UnavailableError(message);
  std::string klass = sqlstate.substr(0, 2);
  if (sqlstate == "40001" || sqlstate == "40P01") return AbortedError(message);
  if (sqlstate == "57014") {
    return DeadlineExceededError("database " + label + ": the statement ran out of time");
  }
  if (klass == "08" || sqlstate.rfind("57P", 0) == 0 || sqlstate == "55P03") {
    return UnavailableError(message);
  }
  if (klass == "53") return ResourceExhaustedError(message);
  if (klass == "23") return FailedPreconditionError(message);
  if (klass == "22" || klass == "42") return InvalidArgumentError(message);
  return FailedPreconditionError(message);
}

// Converts one text-format value by its column type.
Json ColumnValue(const PGresult* r, int row, int column) {
  if (PQgetisnull(r, row, column)) return nullptr;
  std::string text(PQgetvalue(r, row, column), PQgetlength(r, row, column));
  switch (PQftype(r, column)) {
    case 16:  // bool
      return text == "t";
    case 20:  // int8
    case 21:  // int2
    case 23:  // int4
    case 26:  // oid
      return std::stoll(text);
    case 700:     // float4
    case 701:     // float8
    case 1700: {  // numeric
      Json number = Json::parse(text, nullptr, false);
      return number.is_number() ? number : Json(text);
    }
    case 114:     // json
    case 3802: {  // jsonb
      Json parsed = Json::parse(text, nullptr, false);
      return parsed.is_discarded() ? Json(text) : parsed;
    }
    default:
      return text;
  }
}

std::string ParamText(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  return value.dump();
}

}  // namespace

PostgresDatabase::PostgresDatabase(std::string label, std::string url, size_t max_connections)
    : label_(std::move(label)), url_(std::move(url)), max_connections_(max_connections) {}

PostgresDatabase::~PostgresDatabase() {
  for (PGconn* conn : idle_) PQfinish(conn);
}

size_t PostgresDatabase::TEST_open_connections() const {
  std::lock_guard lock(mu_);
  return open_;
}

StatusOr<PGconn*> PostgresDatabase::Acquire(Duration timeout) {
  {
    std::unique_lock lock(mu_);
    bool available = released_.wait_for(lock, timeout,
                                        [&] { return !idle_.empty() || open_ < max_connections_; });
    if (!available) {
      return UnavailableError("database " + label_ + ": all " + std::to_string(max_connections_) +
                              " connections are busy");
    }
    if (!idle_.empty()) {
      PGconn* conn = idle_.back();
      idle_.pop_back();
      return conn;
    }
    ++open_;
  }
  long connect_seconds = std::max<long>(
      2, static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()));
  std::string connect_timeout = std::to_string(std::min<long>(connect_seconds, 10));
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* values[] = {url_.c_str(), connect_timeout.c_str(), "flowrun", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    std::string message = conn ? TrimMessage(PQerrorMessage(conn)) : "out of memory";
    PQfinish(conn);
    std::lock_guard lock(mu_);
    --open_;
    released_.notify_one();
    return UnavailableError("database " + label_ + ": cannot connect: " + message);
  }
  return conn;
}

void PostgresDatabase::Release(PGconn* conn) {
  std::lock_guard lock(mu_);
  if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE) {
    idle_.push_back(conn);
  } else {
    PQfinish(conn);
    --open_;
  }
  released_.notify_one();
}

StatusOr<QueryResult> PostgresDatabase::Execute(std::string_view sql, const Json& params,
                                                Duration timeout) {
  if (!params.is_object()) return InvalidArgumentError("params must be a map");
  ASSIGN_OR_RETURN(PositionalSql positional, TranslateNamedParameters(sql));
  std::vector<std::string> texts;
  std::vector<const char*> values;
  std::set<std::string> used;
  for (const std::string& name : positional.names) {
    if (!params.contains(name)) {
      return InvalidArgumentError("sql uses :" + name + " but params has no \"" + name + "\"");
    }
    used.insert(name);
  }
  for (const auto& [key, value] : params.items()) {
    if (!used.count(key)) {
      return InvalidArgumentError("params has \"" + key + "\", which the sql does not use");
    }
  }
  texts.reserve(positional.names.size());
  for (const std::string& name : positional.names) texts.push_back(ParamText(params[name]));
  for (size_t i = 0; i < texts.size(); ++i) {
    values.push_back(params[positional.names[i]].is_null() ? nullptr : texts[i].c_str());
  }

  // A pooled connection may have been closed by the server while idle (restart, idle timeout).
  // BEGIN changes nothing, so when it fails on a dead connection, one fresh connection is tried
  // before the step is failed for a retry.
  struct Lease {
    PostgresDatabase* owner;
    PGconn* conn = nullptr;
    ~Lease() {
      if (conn == nullptr) return;
      if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PQclear(PQexec(conn, "ROLLBACK"));
      }
      owner->Release(conn);
    }
  } lease{this};
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(lease.conn, Acquire(timeout));
    Result begin(PQexec(lease.conn, "BEGIN"));
    if (PQresultStatus(begin.get()) == PGRES_COMMAND_OK) break;
    Status error = PostgresError(label_, lease.conn, begin.get(), "cannot begin a transaction");
    if (attempt > 0 || PQstatus(lease.conn) == CONNECTION_OK) return error;
    Release(lease.conn);  // dead: closed and uncounted, not pooled
    lease.conn = nullptr;
  }
  PGconn* conn = lease.conn;
  std::string set_timeout =
      "SET LOCAL statement_timeout = " + std::to_string(std::max<long long>(1, timeout.count()));
  Result set(PQexec(conn, set_timeout.c_str()));
  if (PQresultStatus(set.get()) != PGRES_COMMAND_OK) {
    return PostgresError(label_, conn, set.get(), "cannot set the statement timeout");
  }
  Result result(PQexecParams(conn, positional.sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0));
  ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return PostgresError(label_, conn, result.get(), "the statement failed");
  }
  QueryResult out;
  if (status == PGRES_TUPLES_OK) {
    int rows = PQntuples(result.get());
    int columns = PQnfields(result.get());
    for (int r = 0; r < rows; ++r) {
      Json row = Json::object();
      for (int c = 0; c < columns; ++c) {
        row[PQfname(result.get(), c)] = ColumnValue(result.get(), r, c);
      }
      out.rows.push_back(std::move(row));
    }
  }
  std::string command = PQcmdStatus(result.get());
  const char* affected = PQcmdTuples(result.get());
  if (affected[0] != '\0' && command.rfind("SELECT", 0) != 0) out.changes = std::stoll(affected);
  Result commit(PQexec(conn, "COMMIT"));
  if (PQresultStatus(commit.get()) != PGRES_COMMAND_OK) {
    return PostgresError(label_, conn, commit.get(), "cannot commit");
  }
  return out;
}

}  // namespace flowrun

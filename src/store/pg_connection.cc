#include "store/pg_connection.h"

#include <libpq-fe.h>

#include <charconv>

#include "actions/db/postgres_error.h"
#include "store/store_url.h"

namespace flowrun::store {

PgParam PgText(std::string_view text) { return std::string(text); }
PgParam PgTextOrNull(std::string_view text) {
  if (text.empty()) return std::nullopt;
  return std::string(text);
}
PgParam PgInt(int64_t value) { return std::to_string(value); }
PgParam PgMillis(TimePoint t) { return std::to_string(ToUnixMillis(t)); }
PgParam PgMillis(const std::optional<TimePoint>& t) {
  if (!t) return std::nullopt;
  return PgMillis(*t);
}
PgParam PgBool(bool value) { return std::string(value ? "true" : "false"); }

PgResult::PgResult(PGresult* result) : result_(result) {}
PgResult::PgResult(PgResult&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    if (result_) PQclear(result_);
    result_ = other.result_;
    other.result_ = nullptr;
  }
  return *this;
}
PgResult::~PgResult() {
  if (result_) PQclear(result_);
}

int PgResult::rows() const { return result_ ? PQntuples(result_) : 0; }

int64_t PgResult::affected() const {
  const char* text = result_ ? PQcmdTuples(result_) : "";
  int64_t value = 0;
  std::from_chars(text, text + std::char_traits<char>::length(text), value);
  return value;
}

bool PgResult::IsNull(int row, int column) const { return PQgetisnull(result_, row, column); }

std::string PgResult::Text(int row, int column) const {
  if (IsNull(row, column)) return "";
  return std::string(PQgetvalue(result_, row, column), PQgetlength(result_, row, column));
}

int64_t PgResult::Int(int row, int column) const { return OptionalInt(row, column).value_or(0); }

std::optional<int64_t> PgResult::OptionalInt(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  const char* text = PQgetvalue(result_, row, column);
  const int length = PQgetlength(result_, row, column);
  int64_t value = 0;
  if (length == 1 && (text[0] == 't' || text[0] == 'f')) return text[0] == 't' ? 1 : 0;
  std::from_chars(text, text + length, value);
  return value;
}

std::optional<TimePoint> PgResult::OptionalTime(int row, int column) const {
  auto millis = OptionalInt(row, column);
  if (!millis) return std::nullopt;
  return FromUnixMillis(*millis);
}

StatusOr<std::unique_ptr<PgConnection>> PgConnection::Open(const std::string& url,
                                                           std::string subject) {
  std::string with_settings = url;
  for (const PgSessionSetting& setting : kStoreSessionSettings) {
    with_settings = PostgresUrlWithSetting(with_settings, setting.name, setting.value);
  }
  PGconn* conn = PQconnectdb(with_settings.c_str());
  if (conn == nullptr) return UnavailableError(subject + ": cannot connect: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = TrimPostgresMessage(PQerrorMessage(conn));
    PQfinish(conn);
    return UnavailableError(subject + ": cannot connect: " + message);
  }
  // Notices (for example "relation already exists, skipping") are not for the log.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<PgConnection>(new PgConnection(conn, std::move(subject)));
}

PgConnection::~PgConnection() { PQfinish(conn_); }

Status PgConnection::Failure(const PGresult* result, const std::string& what) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  last_sqlstate_ = state ? state : "";
  return PostgresError(subject_, conn_, result, what);
}

bool PgConnection::LastFailureWasConflict() const {
  return last_sqlstate_ == "40001" || last_sqlstate_ == "40P01";
}

bool PgConnection::healthy() const {
  return PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

StatusOr<std::vector<const char*>> PgConnection::ParamValues(const std::vector<PgParam>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const PgParam& p : params) {
    // libpq reads a text parameter up to its first NUL: the rest would be lost without a word.
    if (p && p->find('\0') != std::string::npos) {
      last_sqlstate_.clear();
      return InvalidArgumentError(subject_ +
                                  ": text with a NUL character cannot be stored in PostgreSQL");
    }
    values.push_back(p ? p->c_str() : nullptr);
  }
  return values;
}

StatusOr<PgResult> PgConnection::Exec(const PgStatement& statement) {
  ASSIGN_OR_RETURN(std::vector<PgResult> results, ExecPipelined({&statement, 1}));
  return std::move(results.front());
}

StatusOr<std::vector<PgResult>> PgConnection::ExecPipelined(
    std::span<const PgStatement> statements) {
  std::vector<std::vector<const char*>> values;
  values.reserve(statements.size());
  for (const PgStatement& statement : statements) {
    ASSIGN_OR_RETURN(std::vector<const char*> v, ParamValues(statement.params));
    values.push_back(std::move(v));
  }
  // What was sent, in order: a statement's preparation (first use) precedes its execution.
  struct Sent {
    size_t statement;
    bool prepare;
  };
  std::vector<Sent> sent;
  std::unordered_map<std::string, std::string> preparing;  // SQL text -> name, once prepared
  if (PQenterPipelineMode(conn_) != 1) {
    return Failure(nullptr, "cannot start a pipeline");
  }
  bool queued = true;
  for (size_t i = 0; i < statements.size() && queued; ++i) {
    const std::string& sql = statements[i].sql;
    std::string name;
    if (auto it = prepared_.find(sql); it != prepared_.end()) {
      name = it->second;
    } else if (auto it = preparing.find(sql); it != preparing.end()) {
      name = it->second;
    } else {
      name = "s" + std::to_string(prepared_.size() + preparing.size());
      queued = PQsendPrepare(conn_, name.c_str(), sql.c_str(), 0, nullptr) == 1;
      preparing.emplace(sql, name);
      sent.push_back({i, true});
    }
    queued = queued && PQsendQueryPrepared(conn_, name.c_str(), static_cast<int>(values[i].size()),
                                           values[i].data(), nullptr, nullptr, 0) == 1;
    sent.push_back({i, false});
  }
  // The sync sends everything. While the socket will not take more, libpq reads what the server
  // answers meanwhile, so neither side waits on the other's full socket buffer.
  queued = queued && PQpipelineSync(conn_) == 1;
  Status status = queued ? OkStatus() : Failure(nullptr, "cannot send statements");
  // Every answer up to the sync is read, whatever failed, so that the connection is usable.
  std::vector<PgResult> results;
  results.reserve(statements.size());
  for (const Sent& s : sent) {
    if (!queued) break;
    PgResult result(PQgetResult(conn_));
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);  // the command's end (NULL)
    const ExecStatusType state = result.get() ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (state == PGRES_PIPELINE_ABORTED) continue;  // after the failure reported below
    if (state != PGRES_COMMAND_OK && state != PGRES_TUPLES_OK) {
      if (status.ok()) {
        status =
            Failure(result.get(), s.prepare ? "cannot prepare a statement" : "a statement failed");
      }
      continue;
    }
    if (s.prepare) {
      prepared_.emplace(statements[s.statement].sql, preparing[statements[s.statement].sql]);
    } else {
      results.push_back(std::move(result));
    }
  }
  if (queued) {
    PgResult sync(PQgetResult(conn_));
    if (status.ok() && (!sync.get() || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC)) {
      status = Failure(sync.get(), "a pipeline did not end");
    }
  }
  if (PQexitPipelineMode(conn_) != 1 && status.ok()) {
    status = Failure(nullptr, "cannot end a pipeline");
  }
  if (!status.ok()) return status;
  last_sqlstate_.clear();
  return results;
}

Status PgConnection::ExecScript(const std::string& sql) {
  PgResult result(PQexec(conn_, sql.c_str()));
  const ExecStatusType status = result.get() ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return Failure(result.get(), "a statement failed");
  }
  last_sqlstate_.clear();
  return OkStatus();
}

}  // namespace flowrun::store

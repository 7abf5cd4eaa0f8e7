#include "actions/db/postgres_error.h"

#include <libpq-fe.h>

namespace flowrun {

std::string TrimPostgresMessage(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

Status PostgresError(const std::string& subject, PGconn* conn, const PGresult* result,
                     const std::string& what) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  std::string text =
      TrimPostgresMessage(result && PQresultErrorMessage(result)[0] ? PQresultErrorMessage(result)
                                                                    : PQerrorMessage(conn));
  std::string message = subject + ": " + what + ": " + text +
                        (sqlstate.empty() ? "" : " (SQLSTATE " + sqlstate + ")");
  if (sqlstate.empty() || PQstatus(conn) != CONNECTION_OK) return UnavailableError(message);
  std::string klass = sqlstate.substr(0, 2);
  if (sqlstate == "40001" || sqlstate == "40P01") return AbortedError(message);
  if (sqlstate == "57014")
    return DeadlineExceededError(subject + ": the statement ran out of time");
  if (klass == "08" || sqlstate.rfind("57P", 0) == 0 || sqlstate == "55P03") {
    return UnavailableError(message);
  }
  if (klass == "53") return ResourceExhaustedError(message);
  if (klass == "23") return FailedPreconditionError(message);
  if (klass == "22" || klass == "42") return InvalidArgumentError(message);
  return FailedPreconditionError(message);
}

}  // namespace flowrun

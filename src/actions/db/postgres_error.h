// The translation of libpq errors into Status, shared by every PostgreSQL client in flowrun (the
// `db` action's PostgresDatabase and the PostgreSQL store), so that the code carries the same
// retry decision everywhere.
//
// SQLSTATE decides the code: 40001 serialization failure and 40P01 deadlock are kAborted,
// class 08, server shutdowns (57P*) and 55P03 (lock not available) kUnavailable, 57014 (the
// statement timeout) kDeadlineExceeded, class 53 kResourceExhausted, class 23 constraint
// violations kFailedPrecondition, classes 22 and 42 kInvalidArgument, anything else
// kFailedPrecondition. No SQLSTATE, or a connection that is no longer OK, is kUnavailable.
//
// Thread-safety: pure functions over the arguments.
#pragma once

#include <string>

#include "common/status.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace flowrun {

// The status for a failure of `what` (a phrase: "cannot commit") on `conn`, from `result` when
// there is one (else from the connection's message). Messages start with `subject` ("database
// app", "store").
[[nodiscard]] Status PostgresError(const std::string& subject, PGconn* conn, const PGresult* result,
                                   const std::string& what);

// libpq's message without its trailing newline.
std::string TrimPostgresMessage(std::string message);

}  // namespace flowrun

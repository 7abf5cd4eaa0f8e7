// The SQL of a SQLite `db` step: checking that it is one statement and not a transaction
// statement, binding the step's JSON `params` to its `:name` placeholders, and running it into
// rows of JSON. Shared by SqliteConnection, SqliteDatabase (reads, and the checks made before a
// write queues) and SqliteCommitGroup (the writes it runs in a shared transaction). Errors are
// SqliteTargetError's (actions/db/sqlite_target_error.h).
//
// Thread-safety: the functions are reentrant; a connection is used by one thread at a time.
#pragma once

#include <string>
#include <string_view>

#include "actions/db/database.h"
#include "common/json.h"
#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace flowrun {

// True when `text` holds only whitespace, semicolons and comments.
bool IsOnlyTrivia(std::string_view text);

// True when `sql` starts (after whitespace and comments) with BEGIN, COMMIT, END, ROLLBACK,
// SAVEPOINT or RELEASE, in any case.
bool IsTransactionStatement(std::string_view sql);

// Binds `params` (an object) to the `:name` placeholders of `stmt`. Errors: params is not an
// object, a positional `?`, a placeholder without a value or a value without a placeholder.
Status BindStepParameters(sqlite3_stmt* stmt, const Json& params);

// Steps `stmt` to its end: every row as an object of column name -> value (BLOBs as base64), and
// the rows it inserted, updated or deleted. Leaves any transaction as it is.
StatusOr<QueryResult> RunStepStatement(const std::string& label, sqlite3* db, sqlite3_stmt* stmt);

}  // namespace flowrun

// The PostgreSQL store's writes of many rows in one statement each. The rows travel as one JSON
// array, read with json_to_recordset, so a group commit's events, runs, journal entries, run
// updates and lease checks cost one round trip and one statement each, however many batches the
// group holds. A single row takes the same statement: each of these writes has one SQL text.
// Each write's statement is also available unrun (…Statement), for PgConnection::ExecPipelined;
// given the DumpsOf the ops' batches, a statement copies their Json values' text instead of
// dumping them.
//
// Thread-safety: as PgConnection (one thread at a time).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "common/timestamp.h"
#include "store/pg_connection.h"
#include "store/pg_recordset.h"
#include "store/store.h"

namespace flowrun::store {

// Stores the events, in the given order (their seqs follow it); an event whose id is stored
// already is left alone. Each event is marked unmatched when a wait for its name exists. Rows: id,
// seq and unmatched ("t" or "f") of each event stored.
[[nodiscard]] StatusOr<PgResult> InsertEvents(PgConnection& db,
                                              const std::vector<const EventRecord*>& events);
PgStatement InsertEventsStatement(const std::vector<const EventRecord*>& events,
                                  const PgDumps* dumps = nullptr);

// Inserts the runs of the ops as given (store.h, CreateRunOp; flow control, idempotency keys and
// waits are the caller's), in order. A run whose id or (trigger event, flow) is taken is left
// out. Each run's event_mark is the highest event seq at the insert. Rows: the id of each run
// inserted.
[[nodiscard]] StatusOr<PgResult> InsertRuns(PgConnection& db,
                                            const std::vector<const CreateRunOp*>& ops);
PgStatement InsertRunsStatement(const std::vector<const CreateRunOp*>& ops,
                                const PgDumps* dumps = nullptr);

// What AppendJournalEntries does with a second kCompleted of a (run, step key): ignore it, or
// fail the statement (cheaper when a duplicate is rare and the caller can go again with kIgnore).
enum class JournalDuplicates { kIgnore, kFail };

// Appends the journal entries, their seqs taken in the given order. Returns the rows appended.
[[nodiscard]] StatusOr<int64_t> AppendJournalEntries(
    PgConnection& db, const std::vector<const JournalEntry*>& entries,
    JournalDuplicates duplicates = JournalDuplicates::kIgnore);
// Its statement; its result's affected() is the rows appended.
PgStatement AppendJournalEntriesStatement(const std::vector<const JournalEntry*>& entries,
                                          JournalDuplicates duplicates,
                                          const PgDumps* dumps = nullptr);

// Applies the run updates (store.h, UpdateRunOp) at `now`. REQUIRES: no run id appears twice.
// Rows: id, whether the run holds extra concurrency slots ("t"/"f") and whether it has a
// concurrency limit ("t"/"f"), for each run found.
[[nodiscard]] StatusOr<PgResult> UpdateRuns(PgConnection& db,
                                            const std::vector<const UpdateRunOp*>& ops,
                                            TimePoint now);
// The same statement. `fences`, when given, holds for each op the lease check of its batch on
// the same run (RequireLeaseOp), or null: a fenced run is updated, and so found, only while the
// lease it names holds. The rows are locked in id order (see LockLeases).
PgStatement UpdateRunsStatement(const std::vector<const UpdateRunOp*>& ops, TimePoint now,
                                const std::vector<const RequireLeaseOp*>* fences = nullptr,
                                const PgDumps* dumps = nullptr);

// Locks the rows of the runs (FOR UPDATE, in id order, so that two transactions locking the same
// runs never wait on each other in a cycle) until the transaction ends, and reads their leases.
// Rows: id, lease_owner, lease_token of each run found.
[[nodiscard]] StatusOr<PgResult> LockLeases(PgConnection& db,
                                            const std::vector<std::string>& run_ids);
PgStatement LockLeasesStatement(const std::vector<std::string>& run_ids);

// The Json values that the statements above dump for the batches' events, runs, journal entries
// and run updates, dumped now. The batches must stay where they are while the dumps are used.
PgDumps DumpsOf(const std::vector<WriteBatch>& batches);

}  // namespace flowrun::store

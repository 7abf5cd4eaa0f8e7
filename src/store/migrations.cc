#include "store/migrations.h"

#include <string>
#include <vector>

namespace flowrun::store {
namespace {

// Each entry moves the schema from version i to i + 1. Never edit a released entry; append one.
const std::vector<const char*>& Steps() {
  static const std::vector<const char*> steps = {
      R"sql(
CREATE TABLE events (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  data TEXT NOT NULL,
  ts INTEGER NOT NULL,
  client_id TEXT,
  unmatched INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_name ON events(name, seq);
CREATE INDEX events_name_ts ON events(name, ts);
CREATE INDEX events_unmatched ON events(seq) WHERE unmatched = 1;
CREATE TABLE event_dedupe (
  client_id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  flow_id TEXT NOT NULL,
  revision TEXT NOT NULL,
  status TEXT NOT NULL,
  event TEXT NOT NULL,
  trigger_event_id TEXT,
  output TEXT,
  error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  ended_at INTEGER,
  due_at INTEGER,
  deadline INTEGER,
  parent_run_id TEXT,
  parent_step_key TEXT,
  concurrency_key TEXT,
  concurrency_limit INTEGER NOT NULL DEFAULT 0,
  idempotency_key TEXT,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  wakeup INTEGER NOT NULL DEFAULT 0,
  event_mark INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_until INTEGER
);
CREATE UNIQUE INDEX runs_trigger ON runs(trigger_event_id, flow_id)
  WHERE trigger_event_id IS NOT NULL;
CREATE INDEX runs_due ON runs(due_at) WHERE due_at IS NOT NULL;
CREATE INDEX runs_flow ON runs(flow_id, created_at);
CREATE INDEX runs_status ON runs(status, created_at);
CREATE INDEX runs_parent ON runs(parent_run_id) WHERE parent_run_id IS NOT NULL;
CREATE INDEX runs_slots ON runs(flow_id, concurrency_key)
  WHERE concurrency_key IS NOT NULL AND lease_owner IS NOT NULL;
CREATE INDEX runs_lease ON runs(lease_owner) WHERE lease_owner IS NOT NULL;
CREATE TABLE journal (
  seq INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL,
  step_key TEXT NOT NULL,
  kind TEXT NOT NULL,
  data TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX journal_run ON journal(run_id, seq);
CREATE UNIQUE INDEX journal_completed ON journal(run_id, step_key) WHERE kind = 'completed';
CREATE TABLE waits (
  id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  flow_id TEXT NOT NULL,
  revision TEXT NOT NULL,
  step_key TEXT NOT NULL,
  step_id TEXT NOT NULL,
  event_name TEXT NOT NULL,
  match_path TEXT NOT NULL,
  match_key TEXT NOT NULL,
  since_seq INTEGER NOT NULL,
  lookback_from INTEGER,
  timeout_at INTEGER,
  created_at INTEGER NOT NULL,
  context TEXT NOT NULL,
  unscanned INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX waits_key ON waits(event_name, match_path, match_key);
CREATE INDEX waits_run ON waits(run_id);
CREATE INDEX waits_unscanned ON waits(created_at) WHERE unscanned = 1;
CREATE TABLE wait_paths (
  event_name TEXT NOT NULL,
  match_path TEXT NOT NULL,
  PRIMARY KEY (event_name, match_path)
) WITHOUT ROWID;
CREATE TABLE idempotency (
  flow_id TEXT NOT NULL,
  key TEXT NOT NULL,
  run_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (flow_id, key)
) WITHOUT ROWID;
CREATE TABLE flow_revisions (
  flow_id TEXT NOT NULL,
  revision TEXT NOT NULL,
  document TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (flow_id, revision)
) WITHOUT ROWID;
CREATE TABLE cron_ticks (
  flow_id TEXT NOT NULL,
  tick INTEGER NOT NULL,
  PRIMARY KEY (flow_id, tick)
) WITHOUT ROWID;
)sql",
      // Events sent with a `delay`: stored with the step that sends them, moved into `events`
      // when due.
      R"sql(
CREATE TABLE scheduled_events (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  data TEXT NOT NULL,
  client_id TEXT,
  due_at INTEGER NOT NULL
);
CREATE INDEX scheduled_events_due ON scheduled_events(due_at);
)sql",
      // Retention finds the oldest finished runs.
      R"sql(
CREATE INDEX runs_ended ON runs(ended_at) WHERE ended_at IS NOT NULL;
)sql",
      // Leases are found through runs_due (a leased run is always due at some time), so the
      // lease index no longer pays for the two updates it cost every run.
      R"sql(
DROP INDEX runs_lease;
)sql",
      // The journal becomes one b-tree: its key (run, step key, kind, n) keeps one completion per
      // step (n = 0) and finds a run's entries by prefix. seq, the order of entries, is handed out
      // by the store from the counter `journal_seq`.
      R"sql(
CREATE TABLE journal_v5 (
  run_id TEXT NOT NULL,
  step_key TEXT NOT NULL,
  kind TEXT NOT NULL,
  n INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  data TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (run_id, step_key, kind, n)
) WITHOUT ROWID;
INSERT INTO journal_v5 SELECT run_id, step_key, kind,
  CASE WHEN kind = 'completed' THEN 0 ELSE seq END, seq, data, at FROM journal;
CREATE TABLE counters (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters SELECT 'journal_seq', coalesce(max(seq), 0) FROM journal;
DROP TABLE journal;
ALTER TABLE journal_v5 RENAME TO journal;
)sql",
      // Runs held back by their concurrency key, found by key when a slot frees.
      R"sql(
CREATE INDEX IF NOT EXISTS runs_held_by_key ON runs(flow_id, concurrency_key, due_at)
  WHERE concurrency_limit > 0 AND lease_owner IS NULL;
)sql",
      // Flow control (store.h): batched events, skipped runs, singleton keys, concurrency limits
      // beyond the run's own key and the leased runs holding them, GCRA state of throttle and
      // rate_limit, and open debounces and batches.
      R"sql(
ALTER TABLE runs ADD COLUMN events TEXT;
ALTER TABLE runs ADD COLUMN skip_reason TEXT;
ALTER TABLE runs ADD COLUMN singleton_key TEXT;
ALTER TABLE runs ADD COLUMN extra_slots TEXT;
CREATE INDEX runs_singleton ON runs(flow_id, singleton_key)
  WHERE singleton_key IS NOT NULL AND ended_at IS NULL;
CREATE TABLE run_slots (
  flow_id TEXT NOT NULL,
  slot_key TEXT NOT NULL,
  run_id TEXT NOT NULL,
  PRIMARY KEY (flow_id, slot_key, run_id)
) WITHOUT ROWID;
CREATE INDEX run_slots_run ON run_slots(run_id);
CREATE TABLE rate_state (
  flow_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  tat INTEGER NOT NULL,
  PRIMARY KEY (flow_id, kind, key)
) WITHOUT ROWID;
CREATE INDEX rate_state_tat ON rate_state(tat);
CREATE TABLE gathers (
  flow_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  run_id TEXT NOT NULL,
  first_at INTEGER NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (flow_id, kind, key)
) WITHOUT ROWID;
)sql",
      // Fencing: every acquisition of a lease raises its token, and the holder's writes carry it.
      R"sql(
ALTER TABLE runs ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
)sql",
      // Membership: each node's last heartbeat (Store::ListNodes, TakeOverDeadNodesOp).
      R"sql(
CREATE TABLE nodes (
  id TEXT PRIMARY KEY,
  started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL
);
)sql",
      // The next due time (NextDueTime) looks at unleased runs only. Through runs_due it stepped
      // over every leased run, one row read each: with thousands of actions in flight, each idle
      // worker's probe read them all.
      R"sql(
CREATE INDEX runs_due_unleased ON runs(due_at) WHERE due_at IS NOT NULL AND lease_owner IS NULL;
)sql",
  };
  return steps;
}

StatusOr<int> CurrentVersion(sqlite::Connection& db) {
  ASSIGN_OR_RETURN(sqlite::Statement * exists,
                   db.Prepare("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'"));
  ASSIGN_OR_RETURN(bool found, exists->Step());
  exists->Reset();
  if (!found) return 0;
  ASSIGN_OR_RETURN(sqlite::Statement * select,
                   db.Prepare("SELECT max(version) FROM schema_version"));
  ASSIGN_OR_RETURN(bool row, select->Step());
  int version = row && !select->IsNull(0) ? static_cast<int>(select->Int(0)) : 0;
  select->Reset();
  return version;
}

}  // namespace

int LatestSchemaVersion() { return static_cast<int>(Steps().size()); }

StatusOr<SchemaReport> InspectSchema(sqlite::Connection& db) {
  SchemaReport report;
  ASSIGN_OR_RETURN(report.current, CurrentVersion(db));
  report.latest = LatestSchemaVersion();
  for (int v = report.current; v < report.latest; ++v) {
    report.pending.push_back(DescribeMigrationStep(v + 1, Steps()[v]));
  }
  return report;
}

Status Migrate(sqlite::Connection& db, PendingMigrations pending) {
  // Take the write lock first so two processes never migrate at once.
  RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  auto version = CurrentVersion(db);
  if (!version.ok()) {
    (void)db.Exec("ROLLBACK");
    return version.status();
  }
  if (*version > LatestSchemaVersion()) {
    (void)db.Exec("ROLLBACK");
    return FailedPreconditionError("the store has schema version " + std::to_string(*version) +
                                   ", newer than this flowrun understands (" +
                                   std::to_string(LatestSchemaVersion()) +
                                   "); upgrade flowrun to open it");
  }
  if (*version > 0 && *version < LatestSchemaVersion() && pending == PendingMigrations::kRefuse) {
    (void)db.Exec("ROLLBACK");
    return FailedPreconditionError(PendingMigrationsMessage(*version, LatestSchemaVersion()));
  }
  RETURN_IF_ERROR(db.Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
  for (int v = *version; v < LatestSchemaVersion(); ++v) {
    Status status = db.Exec(Steps()[v]);
    if (status.ok()) {
      status = db.Exec("DELETE FROM schema_version; INSERT INTO schema_version VALUES (" +
                       std::to_string(v + 1) + ")");
    }
    if (!status.ok()) {
      (void)db.Exec("ROLLBACK");
      return status.WithContext("migrating the store to schema version " + std::to_string(v + 1));
    }
  }
  return db.Exec("COMMIT");
}

}  // namespace flowrun::store

#include "store/pg_migrations.h"

#include <string>
#include <vector>

namespace flowrun::store {
namespace {

// Taken for the migration's transaction; any constant no other flowrun lock uses.
constexpr int64_t kMigrationLock = 0x666c6f7772756e;  // "flowrun"

// Each entry moves the schema from version i to i + 1. Never edit a released entry; append one.
// Timestamps are Unix milliseconds and JSON is text, as in the SQLite store.
const std::vector<const char*>& Steps() {
  static const std::vector<const char*> steps = {
      R"sql(
CREATE TABLE events (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  data TEXT NOT NULL,
  ts BIGINT NOT NULL,
  client_id TEXT,
  unmatched BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX events_name ON events(name, seq);
CREATE INDEX events_name_ts ON events(name, ts);
CREATE INDEX events_unmatched ON events(seq) WHERE unmatched;
CREATE TABLE event_dedupe (
  client_id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  flow_id TEXT NOT NULL,
  revision TEXT NOT NULL,
  status TEXT NOT NULL,
  event TEXT NOT NULL,
  trigger_event_id TEXT,
  output TEXT,
  error TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  ended_at BIGINT,
  due_at BIGINT,
  deadline BIGINT,
  parent_run_id TEXT,
  parent_step_key TEXT,
  concurrency_key TEXT,
  concurrency_limit INTEGER NOT NULL DEFAULT 0,
  idempotency_key TEXT,
  cancel_requested BOOLEAN NOT NULL DEFAULT false,
  wakeup BOOLEAN NOT NULL DEFAULT false,
  event_mark BIGINT NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_until BIGINT,
  lease_token BIGINT NOT NULL DEFAULT 0,
  created_order BIGSERIAL
);
CREATE UNIQUE INDEX runs_trigger ON runs(trigger_event_id, flow_id)
  WHERE trigger_event_id IS NOT NULL;
CREATE INDEX runs_due ON runs(due_at) WHERE due_at IS NOT NULL;
CREATE INDEX runs_order ON runs(created_order);
CREATE INDEX runs_flow ON runs(flow_id, created_order);
CREATE INDEX runs_status ON runs(status, created_order);
CREATE INDEX runs_parent ON runs(parent_run_id) WHERE parent_run_id IS NOT NULL;
CREATE INDEX runs_slots ON runs(flow_id, concurrency_key)
  WHERE concurrency_key IS NOT NULL AND lease_owner IS NOT NULL;
CREATE INDEX runs_held_by_key ON runs(flow_id, concurrency_key, due_at)
  WHERE concurrency_limit > 0 AND lease_owner IS NULL;
CREATE INDEX runs_ended ON runs(ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX runs_lease ON runs(lease_owner) WHERE lease_owner IS NOT NULL;
CREATE SEQUENCE journal_seq;
CREATE TABLE journal (
  seq BIGINT PRIMARY KEY,
  run_id TEXT NOT NULL,
  step_key TEXT NOT NULL,
  kind TEXT NOT NULL,
  data TEXT NOT NULL,
  at BIGINT NOT NULL
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
  since_seq BIGINT NOT NULL,
  lookback_from BIGINT,
  timeout_at BIGINT,
  created_at BIGINT NOT NULL,
  context TEXT NOT NULL,
  unscanned BOOLEAN NOT NULL DEFAULT true
);
CREATE INDEX waits_key ON waits(event_name, match_path, match_key);
CREATE INDEX waits_run ON waits(run_id);
CREATE INDEX waits_unscanned ON waits(created_at) WHERE unscanned;
CREATE TABLE wait_paths (
  event_name TEXT NOT NULL,
  match_path TEXT NOT NULL,
  PRIMARY KEY (event_name, match_path)
);
CREATE TABLE idempotency (
  flow_id TEXT NOT NULL,
  key TEXT NOT NULL,
  run_id TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (flow_id, key)
);
CREATE TABLE flow_revisions (
  flow_id TEXT NOT NULL,
  revision TEXT NOT NULL,
  document TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (flow_id, revision)
);
CREATE TABLE cron_ticks (
  flow_id TEXT NOT NULL,
  tick BIGINT NOT NULL,
  PRIMARY KEY (flow_id, tick)
);
CREATE TABLE scheduled_events (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  data TEXT NOT NULL,
  client_id TEXT,
  due_at BIGINT NOT NULL
);
CREATE INDEX scheduled_events_due ON scheduled_events(due_at);
CREATE TABLE email_outbox (
  seq BIGSERIAL PRIMARY KEY,
  message_id TEXT NOT NULL UNIQUE,
  run_id TEXT NOT NULL,
  step_key TEXT NOT NULL,
  sender TEXT NOT NULL,
  recipients TEXT NOT NULL,
  subject TEXT NOT NULL,
  mime TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
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
);
CREATE INDEX run_slots_run ON run_slots(run_id);
CREATE TABLE rate_state (
  flow_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  tat BIGINT NOT NULL,
  PRIMARY KEY (flow_id, kind, key)
);
CREATE INDEX rate_state_tat ON rate_state(tat);
CREATE TABLE gathers (
  flow_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  run_id TEXT NOT NULL,
  first_at BIGINT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (flow_id, kind, key)
);
)sql",
      // Membership: each node's last heartbeat (Store::ListNodes, TakeOverDeadNodesOp).
      R"sql(
CREATE TABLE nodes (
  id TEXT PRIMARY KEY,
  started_at BIGINT NOT NULL,
  heartbeat_at BIGINT NOT NULL
);
)sql",
      // The next due time (NextDueTime) looks at unleased runs only. Through runs_due it stepped
      // over every leased run, one row read each: with thousands of actions in flight, each idle
      // worker's probe read them all.
      R"sql(
CREATE INDEX runs_due_unleased ON runs(due_at) WHERE due_at IS NOT NULL AND lease_owner IS NULL;
)sql",
      // Room on each page of runs for the new versions of its rows. A leased run's steps update
      // its row without moving any indexed column (engine/lease_term.h); with room on the page,
      // PostgreSQL writes such an update in place (HOT) instead of adding an entry to every index
      // of the table. Pages written from now on keep 30% free.
      R"sql(
ALTER TABLE runs SET (fillfactor = 70);
)sql",
  };
  return steps;
}

}  // namespace

int LatestPgSchemaVersion() { return static_cast<int>(Steps().size()); }

StatusOr<SchemaReport> InspectPgSchema(PgConnection& db) {
  SchemaReport report;
  ASSIGN_OR_RETURN(PgResult exists, db.Exec("SELECT to_regclass('schema_version') IS NOT NULL"));
  if (exists.Int(0, 0) != 0) {
    ASSIGN_OR_RETURN(PgResult row, db.Exec("SELECT coalesce(max(version), 0) FROM schema_version"));
    report.current = static_cast<int>(row.Int(0, 0));
  }
  report.latest = LatestPgSchemaVersion();
  for (int v = report.current; v < report.latest; ++v) {
    report.pending.push_back(DescribeMigrationStep(v + 1, Steps()[v]));
  }
  return report;
}

Status MigratePg(PgConnection& db, PendingMigrations pending) {
  RETURN_IF_ERROR(db.ExecScript("BEGIN"));
  auto rollback = [&](Status status) {
    (void)db.ExecScript("ROLLBACK");
    return status;
  };
  Status status = db.ExecScript("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLock) +
                                "); CREATE TABLE IF NOT EXISTS schema_version (version INTEGER "
                                "NOT NULL)");
  if (!status.ok()) return rollback(status);
  auto version_row = db.Exec("SELECT coalesce(max(version), 0) FROM schema_version");
  if (!version_row.ok()) return rollback(version_row.status());
  const int version = static_cast<int>(version_row->Int(0, 0));
  if (version > LatestPgSchemaVersion()) {
    return rollback(FailedPreconditionError(
        "the store has schema version " + std::to_string(version) +
        ", newer than this flowrun understands (" + std::to_string(LatestPgSchemaVersion()) +
        "); upgrade flowrun to open it"));
  }
  if (version > 0 && version < LatestPgSchemaVersion() && pending == PendingMigrations::kRefuse) {
    return rollback(
        FailedPreconditionError(PendingMigrationsMessage(version, LatestPgSchemaVersion())));
  }
  for (int v = version; v < LatestPgSchemaVersion(); ++v) {
    status = db.ExecScript(Steps()[v]);
    if (status.ok()) {
      status = db.ExecScript("DELETE FROM schema_version; INSERT INTO schema_version VALUES (" +
                             std::to_string(v + 1) + ")");
    }
    if (!status.ok()) {
      return rollback(
          status.WithContext("migrating the store to schema version " + std::to_string(v + 1)));
    }
  }
  return db.ExecScript("COMMIT");
}

}  // namespace flowrun::store

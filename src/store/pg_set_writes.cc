#include "store/pg_set_writes.h"

namespace flowrun::store {
namespace {

Json TextOrNull(std::string_view text) {
  if (text.empty()) return nullptr;
  return std::string(text);
}

Json MillisOrNull(const std::optional<TimePoint>& t) {
  if (!t) return nullptr;
  return ToUnixMillis(*t);
}

// A JSON column's text, or NULL for a null value.
Json DumpOrNull(const Json& value) {
  if (value.is_null()) return nullptr;
  return value.dump();
}

Json ExtraSlotsOrNull(const std::vector<ConcurrencySlot>& slots) {
  if (slots.empty()) return nullptr;
  Json list = Json::array();
  for (const ConcurrencySlot& slot : slots) list.push_back({slot.key, slot.limit});
  return list.dump();
}

}  // namespace

PgStatement InsertEventsStatement(const std::vector<const EventRecord*>& events) {
  Json rows = Json::array();
  for (const EventRecord* e : events) {
    rows.push_back({{"id", e->id},
                    {"name", e->name},
                    {"data", e->data.dump()},
                    {"ts", ToUnixMillis(e->ts)},
                    {"client_id", TextOrNull(e->client_id)}});
  }
  return {
      "INSERT INTO events (id, name, data, ts, client_id, unmatched) SELECT e.id, e.name, e.data, "
      "e.ts, e.client_id, EXISTS (SELECT 1 FROM waits WHERE event_name = e.name) FROM ROWS FROM "
      "(json_to_recordset($1::json) AS (id text, name text, data text, ts bigint, client_id "
      "text)) WITH ORDINALITY AS e(id, name, data, ts, client_id, i) ORDER BY e.i ON CONFLICT "
      "(id) DO NOTHING RETURNING id, seq, unmatched",
      {rows.dump()}};
}

StatusOr<PgResult> InsertEvents(PgConnection& db, const std::vector<const EventRecord*>& events) {
  return db.Exec(InsertEventsStatement(events));
}

PgStatement InsertRunsStatement(const std::vector<const CreateRunOp*>& ops) {
  Json rows = Json::array();
  for (const CreateRunOp* op : ops) {
    const RunRecord& run = op->run;
    rows.push_back({
        {"id", run.id},
        {"flow_id", run.flow_id},
        {"revision", run.revision},
        {"status", RunStatusName(run.status)},
        {"event", run.event.dump()},
        {"trigger_event_id", TextOrNull(run.trigger_event_id)},
        {"created_at", ToUnixMillis(run.created_at)},
        {"due_at", MillisOrNull(run.due_at)},
        {"deadline", MillisOrNull(run.deadline)},
        {"parent_run_id", TextOrNull(run.parent_run_id)},
        {"parent_step_key", TextOrNull(run.parent_step_key)},
        {"concurrency_key", TextOrNull(run.concurrency_key)},
        {"concurrency_limit", run.concurrency_limit},
        {"idempotency_key", TextOrNull(run.idempotency_key)},
        {"lease_owner", TextOrNull(run.lease_owner)},
        {"lease_until", MillisOrNull(run.lease_until)},
        {"output", DumpOrNull(run.output)},
        {"error", DumpOrNull(run.error)},
        {"ended_at", MillisOrNull(run.ended_at)},
        {"events", DumpOrNull(run.events)},
        {"skip_reason", TextOrNull(run.skip_reason)},
        // A finished run holds no singleton key (store.h, flow control).
        {"singleton_key", TextOrNull(run.ended_at ? std::string_view() : run.singleton_key)},
        {"extra_slots", ExtraSlotsOrNull(op->extra_slots)},
    });
  }
  // A run created leased has the first lease token; any other, none yet.
  return {
      "INSERT INTO runs (id, flow_id, revision, status, event, trigger_event_id, created_at, "
      "updated_at, due_at, deadline, parent_run_id, parent_step_key, concurrency_key, "
      "concurrency_limit, idempotency_key, lease_owner, lease_until, output, error, ended_at, "
      "event_mark, lease_token, events, skip_reason, singleton_key, extra_slots) SELECT r.id, "
      "r.flow_id, r.revision, r.status, r.event, r.trigger_event_id, r.created_at, r.created_at, "
      "r.due_at, r.deadline, r.parent_run_id, r.parent_step_key, r.concurrency_key, "
      "r.concurrency_limit, r.idempotency_key, r.lease_owner, r.lease_until, r.output, r.error, "
      "r.ended_at, (SELECT coalesce(max(seq), 0) FROM events), CASE WHEN r.lease_owner IS NULL "
      "THEN 0 ELSE $2 END, r.events, r.skip_reason, r.singleton_key, r.extra_slots FROM ROWS "
      "FROM (json_to_recordset($1::json) AS (id text, flow_id text, revision text, status text, "
      "event text, trigger_event_id text, created_at bigint, due_at bigint, deadline bigint, "
      "parent_run_id text, parent_step_key text, concurrency_key text, concurrency_limit "
      "integer, idempotency_key text, lease_owner text, lease_until bigint, output text, error "
      "text, ended_at bigint, events text, skip_reason text, singleton_key text, extra_slots "
      "text)) WITH ORDINALITY AS r(id, flow_id, revision, status, event, trigger_event_id, "
      "created_at, due_at, deadline, parent_run_id, parent_step_key, concurrency_key, "
      "concurrency_limit, idempotency_key, lease_owner, lease_until, output, error, ended_at, "
      "events, skip_reason, singleton_key, extra_slots, i) ORDER BY r.i ON CONFLICT DO NOTHING "
      "RETURNING id",
      {rows.dump(), PgInt(kFirstLeaseToken)}};
}

StatusOr<PgResult> InsertRuns(PgConnection& db, const std::vector<const CreateRunOp*>& ops) {
  return db.Exec(InsertRunsStatement(ops));
}

PgStatement AppendJournalEntriesStatement(const std::vector<const JournalEntry*>& entries,
                                          JournalDuplicates duplicates) {
  Json rows = Json::array();
  for (const JournalEntry* e : entries) {
    rows.push_back({{"r", e->run_id},
                    {"s", e->step_key},
                    {"k", JournalKindName(e->kind)},
                    {"d", e->data.dump()},
                    {"a", ToUnixMillis(e->at)}});
  }
  // Without ON CONFLICT each row is inserted plainly, without a speculative insertion.
  const std::string sql =
      std::string(
          "INSERT INTO journal (seq, run_id, step_key, kind, data, at) SELECT "
          "nextval('journal_seq'), e.r, e.s, e.k, e.d, e.a FROM ROWS FROM (json_to_recordset("
          "$1::json) AS (r text, s text, k text, d text, a bigint)) WITH ORDINALITY AS e(r, s, k, "
          "d, a, i) ORDER BY e.i") +
      (duplicates == JournalDuplicates::kIgnore ? " ON CONFLICT DO NOTHING" : "");
  return {sql, {rows.dump()}};
}

StatusOr<int64_t> AppendJournalEntries(PgConnection& db,
                                       const std::vector<const JournalEntry*>& entries,
                                       JournalDuplicates duplicates) {
  ASSIGN_OR_RETURN(PgResult r, db.Exec(AppendJournalEntriesStatement(entries, duplicates)));
  return r.affected();
}

PgStatement UpdateRunsStatement(const std::vector<const UpdateRunOp*>& ops, TimePoint now) {
  Json rows = Json::array();
  for (const UpdateRunOp* op : ops) {
    rows.push_back({{"id", op->run_id},
                    {"status", RunStatusName(op->status)},
                    {"due_at", MillisOrNull(op->due_at)},
                    {"output", DumpOrNull(op->output)},
                    {"error", DumpOrNull(op->error)},
                    {"ended_at", MillisOrNull(op->ended_at)},
                    {"release", op->release_lease},
                    {"lease_until", MillisOrNull(op->lease_until)}});
  }
  // A finished run is due never; a wake-up posted meanwhile (wakeup, an earlier due_at) is kept.
  // The ids' array leads the planner to the primary key: joined with the rows alone, it would
  // scan the whole table.
  return {
      "UPDATE runs SET status = u.status, due_at = CASE WHEN u.ended_at IS NOT NULL THEN NULL "
      "WHEN runs.wakeup AND runs.due_at IS NOT NULL AND (u.due_at IS NULL OR runs.due_at < "
      "u.due_at) THEN runs.due_at ELSE u.due_at END, output = u.output, error = u.error, "
      "ended_at = u.ended_at, updated_at = $2, event_mark = (SELECT coalesce(max(seq), 0) FROM "
      "events), lease_owner = CASE WHEN u.release THEN NULL ELSE runs.lease_owner END, "
      "lease_until = CASE WHEN u.release THEN NULL ELSE coalesce(u.lease_until, "
      "runs.lease_until) END FROM json_to_recordset($1::json) AS u(id text, status text, due_at "
      "bigint, output text, error text, ended_at bigint, release boolean, lease_until bigint) "
      "WHERE runs.id = u.id AND runs.id = ANY(ARRAY(SELECT r->>'id' FROM json_array_elements("
      "$1::json) AS r)) RETURNING runs.id, runs.extra_slots IS NOT NULL, runs.concurrency_limit "
      "> 0",
      {rows.dump(), PgMillis(now)}};
}

StatusOr<PgResult> UpdateRuns(PgConnection& db, const std::vector<const UpdateRunOp*>& ops,
                              TimePoint now) {
  return db.Exec(UpdateRunsStatement(ops, now));
}

PgStatement LockLeasesStatement(const std::vector<std::string>& run_ids) {
  Json ids = Json::array();
  for (const std::string& id : run_ids) ids.push_back(id);
  return {
      "SELECT id, lease_owner, lease_token FROM runs WHERE id = ANY(ARRAY(SELECT "
      "json_array_elements_text($1::json))) ORDER BY id FOR UPDATE",
      {ids.dump()}};
}

StatusOr<PgResult> LockLeases(PgConnection& db, const std::vector<std::string>& run_ids) {
  return db.Exec(LockLeasesStatement(run_ids));
}

}  // namespace flowrun::store

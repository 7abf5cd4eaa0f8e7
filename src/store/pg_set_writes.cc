#include "store/pg_set_writes.h"

#include <algorithm>

#include "store/pg_recordset.h"

namespace flowrun::store {
namespace {

// The concurrency slots as the JSON text of [[key, limit], ...], or empty for none.
std::string ExtraSlotsText(const std::vector<ConcurrencySlot>& slots) {
  if (slots.empty()) return "";
  Json list = Json::array();
  for (const ConcurrencySlot& slot : slots) list.push_back({slot.key, slot.limit});
  return list.dump();
}

}  // namespace

PgStatement InsertEventsStatement(const std::vector<const EventRecord*>& events,
                                  const PgDumps* dumps) {
  PgRecordset rows(dumps);
  for (const EventRecord* e : events) {
    rows.Row();
    rows.Text("id", e->id);
    rows.Text("name", e->name);
    rows.Dump("data", e->data);
    rows.Int("ts", ToUnixMillis(e->ts));
    rows.TextOrNull("client_id", e->client_id);
  }
  return {
      "INSERT INTO events (id, name, data, ts, client_id, unmatched) SELECT e.id, e.name, e.data, "
      "e.ts, e.client_id, EXISTS (SELECT 1 FROM waits WHERE event_name = e.name) FROM ROWS FROM "
      "(json_to_recordset($1::json) AS (id text, name text, data text, ts bigint, client_id "
      "text)) WITH ORDINALITY AS e(id, name, data, ts, client_id, i) ORDER BY e.i ON CONFLICT "
      "(id) DO NOTHING RETURNING id, seq, unmatched",
      {std::move(rows).Finish()}};
}

StatusOr<PgResult> InsertEvents(PgConnection& db, const std::vector<const EventRecord*>& events) {
  return db.Exec(InsertEventsStatement(events));
}

PgStatement InsertRunsStatement(const std::vector<const CreateRunOp*>& ops, const PgDumps* dumps) {
  PgRecordset rows(dumps);
  for (const CreateRunOp* op : ops) {
    const RunRecord& run = op->run;
    rows.Row();
    rows.Text("id", run.id);
    rows.Text("flow_id", run.flow_id);
    rows.Text("revision", run.revision);
    rows.Text("status", RunStatusName(run.status));
    rows.Dump("event", run.event);
    rows.TextOrNull("trigger_event_id", run.trigger_event_id);
    rows.Int("created_at", ToUnixMillis(run.created_at));
    rows.MillisOrNull("due_at", run.due_at);
    rows.MillisOrNull("deadline", run.deadline);
    rows.TextOrNull("parent_run_id", run.parent_run_id);
    rows.TextOrNull("parent_step_key", run.parent_step_key);
    rows.TextOrNull("concurrency_key", run.concurrency_key);
    rows.Int("concurrency_limit", run.concurrency_limit);
    rows.TextOrNull("idempotency_key", run.idempotency_key);
    rows.TextOrNull("lease_owner", run.lease_owner);
    rows.MillisOrNull("lease_until", run.lease_until);
    rows.DumpOrNull("output", run.output);
    rows.DumpOrNull("error", run.error);
    rows.MillisOrNull("ended_at", run.ended_at);
    rows.DumpOrNull("events", run.events);
    rows.TextOrNull("skip_reason", run.skip_reason);
    // A finished run holds no singleton key (store.h, flow control).
    rows.TextOrNull("singleton_key", run.ended_at ? std::string_view() : run.singleton_key);
    rows.TextOrNull("extra_slots", ExtraSlotsText(op->extra_slots));
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
      {std::move(rows).Finish(), PgInt(kFirstLeaseToken)}};
}

StatusOr<PgResult> InsertRuns(PgConnection& db, const std::vector<const CreateRunOp*>& ops) {
  return db.Exec(InsertRunsStatement(ops));
}

PgStatement AppendJournalEntriesStatement(const std::vector<const JournalEntry*>& entries,
                                          JournalDuplicates duplicates, const PgDumps* dumps) {
  PgRecordset rows(dumps);
  for (const JournalEntry* e : entries) {
    rows.Row();
    rows.Text("r", e->run_id);
    rows.Text("s", e->step_key);
    rows.Text("k", JournalKindName(e->kind));
    rows.Dump("d", e->data);
    rows.Int("a", ToUnixMillis(e->at));
  }
  // Without ON CONFLICT each row is inserted plainly, without a speculative insertion.
  const std::string sql =
      std::string(
          "INSERT INTO journal (seq, run_id, step_key, kind, data, at) SELECT "
          "nextval('journal_seq'), e.r, e.s, e.k, e.d, e.a FROM ROWS FROM (json_to_recordset("
          "$1::json) AS (r text, s text, k text, d text, a bigint)) WITH ORDINALITY AS e(r, s, k, "
          "d, a, i) ORDER BY e.i") +
      (duplicates == JournalDuplicates::kIgnore ? " ON CONFLICT DO NOTHING" : "");
  return {sql, {std::move(rows).Finish()}};
}

StatusOr<int64_t> AppendJournalEntries(PgConnection& db,
                                       const std::vector<const JournalEntry*>& entries,
                                       JournalDuplicates duplicates) {
  ASSIGN_OR_RETURN(PgResult r, db.Exec(AppendJournalEntriesStatement(entries, duplicates)));
  return r.affected();
}

PgStatement UpdateRunsStatement(const std::vector<const UpdateRunOp*>& ops, TimePoint now,
                                const std::vector<const RequireLeaseOp*>* fences,
                                const PgDumps* dumps) {
  // In id order: the statement locks the rows in the order it reaches them.
  std::vector<size_t> order(ops.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&ops](size_t a, size_t b) { return ops[a]->run_id < ops[b]->run_id; });
  PgRecordset rows(dumps);
  std::vector<std::string> ids;
  ids.reserve(ops.size());
  for (size_t i : order) {
    const UpdateRunOp* op = ops[i];
    ids.push_back(op->run_id);
    const RequireLeaseOp* fence = fences ? (*fences)[i] : nullptr;
    rows.Row();
    rows.Text("id", op->run_id);
    rows.Text("status", RunStatusName(op->status));
    rows.MillisOrNull("due_at", op->due_at);
    rows.DumpOrNull("output", op->output);
    rows.DumpOrNull("error", op->error);
    rows.MillisOrNull("ended_at", op->ended_at);
    rows.Bool("release", op->release_lease);
    rows.MillisOrNull("lease_until", op->lease_until);
    if (fence) {
      rows.Text("owner", fence->owner);
      rows.Int("token", fence->token);
    }
  }
  // A finished run is due never; a wake-up posted meanwhile (wakeup, an earlier due_at) is kept.
  // The ids' array leads the planner to the primary key: joined with the rows alone, it would
  // scan the whole table. The ids travel apart ($3), so that the server need not parse the rows
  // again to find them.
  return {
      "UPDATE runs SET status = u.status, due_at = CASE WHEN u.ended_at IS NOT NULL THEN NULL "
      "WHEN runs.wakeup AND runs.due_at IS NOT NULL AND (u.due_at IS NULL OR runs.due_at < "
      "u.due_at) THEN runs.due_at ELSE u.due_at END, output = u.output, error = u.error, "
      "ended_at = u.ended_at, updated_at = $2, event_mark = (SELECT coalesce(max(seq), 0) FROM "
      "events), lease_owner = CASE WHEN u.release THEN NULL ELSE runs.lease_owner END, "
      "lease_until = CASE WHEN u.release THEN NULL ELSE coalesce(u.lease_until, "
      "runs.lease_until) END FROM json_to_recordset($1::json) AS u(id text, status text, due_at "
      "bigint, output text, error text, ended_at bigint, release boolean, lease_until bigint, "
      "owner text, token bigint) WHERE runs.id = u.id AND runs.id = ANY(ARRAY(SELECT "
      "json_array_elements_text($3::json))) AND (u.owner IS NULL OR (runs.lease_owner = "
      "u.owner AND runs.lease_token = u.token)) RETURNING runs.id, runs.extra_slots IS NOT NULL, "
      "runs.concurrency_limit > 0",
      {std::move(rows).Finish(), PgMillis(now), PgJsonTextArray(ids)}};
}

StatusOr<PgResult> UpdateRuns(PgConnection& db, const std::vector<const UpdateRunOp*>& ops,
                              TimePoint now) {
  return db.Exec(UpdateRunsStatement(ops, now));
}

PgStatement LockLeasesStatement(const std::vector<std::string>& run_ids) {
  return {
      "SELECT id, lease_owner, lease_token FROM runs WHERE id = ANY(ARRAY(SELECT "
      "json_array_elements_text($1::json))) ORDER BY id FOR UPDATE",
      {PgJsonTextArray(run_ids)}};
}

StatusOr<PgResult> LockLeases(PgConnection& db, const std::vector<std::string>& run_ids) {
  return db.Exec(LockLeasesStatement(run_ids));
}

PgDumps DumpsOf(const std::vector<WriteBatch>& batches) {
  PgDumps dumps;
  for (const WriteBatch& batch : batches) {
    for (const WriteOp& op : batch.ops) {
      if (const auto* insert = std::get_if<InsertEventOp>(&op)) {
        dumps.Add(insert->event.data);
      } else if (const auto* create = std::get_if<CreateRunOp>(&op)) {
        dumps.Add(create->run.event);
        dumps.Add(create->run.output);
        dumps.Add(create->run.error);
        dumps.Add(create->run.events);
      } else if (const auto* append = std::get_if<AppendJournalOp>(&op)) {
        dumps.Add(append->entry.data);
      } else if (const auto* update = std::get_if<UpdateRunOp>(&op)) {
        dumps.Add(update->output);
        dumps.Add(update->error);
      }
    }
  }
  return dumps;
}

}  // namespace flowrun::store

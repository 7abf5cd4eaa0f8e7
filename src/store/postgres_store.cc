#include "store/postgres_store.h"

#include <libpq-fe.h>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "common/log.h"
#include "store/claim_sql.h"
#include "store/flow_control_rules.h"
#include "store/lease_fence.h"
#include "store/pg_migrations.h"
#include "store/pg_recordset.h"
#include "store/pg_set_writes.h"
#include "store/prune_in_batches.h"

namespace flowrun::store {
namespace {

constexpr char kRunColumns[] =
    "id, flow_id, revision, status, event, trigger_event_id, output, error, created_at, "
    "updated_at, ended_at, due_at, deadline, parent_run_id, parent_step_key, concurrency_key, "
    "concurrency_limit, idempotency_key, cancel_requested, event_mark, lease_owner, lease_until, "
    "lease_token, events, skip_reason, singleton_key";
constexpr char kEventColumns[] = "seq, id, name, data, ts, client_id";
constexpr char kWaitColumns[] =
    "id, run_id, kind, flow_id, revision, step_key, step_id, event_name, match_path, match_key, "
    "since_seq, lookback_from, timeout_at, created_at, context";
// How long Claim sets aside a run whose concurrency key has no free slot, unless a slot frees
// first (as in the SQLite store).
constexpr Duration kConcurrencyRecheck = std::chrono::seconds(2);
// The advisory lock that orders transactions storing events or registering waits (see the
// header). Any constant no other flowrun lock uses.
constexpr char kEventLock[] = "SELECT pg_advisory_xact_lock(7382910455)";
// Deadlocks and serialization failures are retried this often per batch.
constexpr int kConflictRetries = 3;
constexpr char kWakeChannel[] = "NOTIFY flowrun_wake";

StatusOr<Json> ParseJsonColumn(const PgResult& r, int row, int column) {
  if (r.IsNull(row, column)) return Json();
  Json value = Json::parse(r.Text(row, column), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return DataLossError("the store holds malformed JSON");
  return value;
}

StatusOr<RunRecord> ReadRun(const PgResult& r, int i) {
  RunRecord run;
  run.id = r.Text(i, 0);
  run.flow_id = r.Text(i, 1);
  run.revision = r.Text(i, 2);
  ASSIGN_OR_RETURN(run.status, ParseRunStatus(r.Text(i, 3)));
  ASSIGN_OR_RETURN(run.event, ParseJsonColumn(r, i, 4));
  run.trigger_event_id = r.Text(i, 5);
  ASSIGN_OR_RETURN(run.output, ParseJsonColumn(r, i, 6));
  ASSIGN_OR_RETURN(run.error, ParseJsonColumn(r, i, 7));
  run.created_at = FromUnixMillis(r.Int(i, 8));
  run.updated_at = FromUnixMillis(r.Int(i, 9));
  run.ended_at = r.OptionalTime(i, 10);
  run.due_at = r.OptionalTime(i, 11);
  run.deadline = r.OptionalTime(i, 12);
  run.parent_run_id = r.Text(i, 13);
  run.parent_step_key = r.Text(i, 14);
  run.concurrency_key = r.Text(i, 15);
  run.concurrency_limit = static_cast<int>(r.Int(i, 16));
  run.idempotency_key = r.Text(i, 17);
  run.cancel_requested = r.Int(i, 18) != 0;
  run.event_mark = r.Int(i, 19);
  run.lease_owner = r.Text(i, 20);
  run.lease_until = r.OptionalTime(i, 21);
  run.lease_token = r.Int(i, 22);
  ASSIGN_OR_RETURN(run.events, ParseJsonColumn(r, i, 23));
  run.skip_reason = r.Text(i, 24);
  run.singleton_key = r.Text(i, 25);
  return run;
}

StatusOr<EventRecord> ReadEvent(const PgResult& r, int i) {
  EventRecord event;
  event.seq = r.Int(i, 0);
  event.id = r.Text(i, 1);
  event.name = r.Text(i, 2);
  ASSIGN_OR_RETURN(event.data, ParseJsonColumn(r, i, 3));
  event.ts = FromUnixMillis(r.Int(i, 4));
  event.client_id = r.Text(i, 5);
  return event;
}

StatusOr<WaitRecord> ReadWait(const PgResult& r, int i) {
  WaitRecord wait;
  wait.id = r.Text(i, 0);
  wait.run_id = r.Text(i, 1);
  wait.kind = r.Text(i, 2) == "cancel" ? WaitRecord::Kind::kCancel : WaitRecord::Kind::kStep;
  wait.flow_id = r.Text(i, 3);
  wait.revision = r.Text(i, 4);
  wait.step_key = r.Text(i, 5);
  wait.step_id = r.Text(i, 6);
  wait.event_name = r.Text(i, 7);
  wait.match_path = r.Text(i, 8);
  wait.match_key = r.Text(i, 9);
  wait.since_seq = r.Int(i, 10);
  wait.lookback_from = r.OptionalTime(i, 11);
  wait.timeout_at = r.OptionalTime(i, 12);
  wait.created_at = FromUnixMillis(r.Int(i, 13));
  ASSIGN_OR_RETURN(wait.context, ParseJsonColumn(r, i, 14));
  return wait;
}

StatusOr<FlowRevisionRecord> ReadRevision(const PgResult& r, int i) {
  FlowRevisionRecord revision;
  revision.flow_id = r.Text(i, 0);
  revision.revision = r.Text(i, 1);
  ASSIGN_OR_RETURN(revision.document, ParseJsonColumn(r, i, 2));
  revision.created_at = FromUnixMillis(r.Int(i, 3));
  return revision;
}

template <typename T, typename ReadFn>
StatusOr<std::vector<T>> CollectRows(const PgResult& r, ReadFn read) {
  std::vector<T> rows;
  rows.reserve(r.rows());
  for (int i = 0; i < r.rows(); ++i) {
    ASSIGN_OR_RETURN(T value, read(r, i));
    rows.push_back(std::move(value));
  }
  return rows;
}

template <typename T, typename ReadFn>
StatusOr<std::optional<T>> FirstRow(const PgResult& r, ReadFn read) {
  if (r.rows() == 0) return std::optional<T>();
  ASSIGN_OR_RETURN(T value, read(r, 0));
  return std::optional<T>(std::move(value));
}

// Whether a group holding `batches` stores events or registers waits, and so must take the event
// lock (see the header).
bool TouchesEventsOrWaits(const std::vector<WriteBatch>& batches) {
  for (const WriteBatch& batch : batches) {
    for (const WriteOp& op : batch.ops) {
      if (std::holds_alternative<InsertEventOp>(op) || std::holds_alternative<RegisterWaitOp>(op)) {
        return true;
      }
      if (const auto* create = std::get_if<CreateRunOp>(&op); create && !create->waits.empty()) {
        return true;
      }
    }
  }
  return false;
}

// The ids that the batches applied in bulk so far create, update or check.
struct BulkIds {
  std::unordered_set<std::string> events;
  std::unordered_set<std::string> created;
  std::unordered_set<std::string> updated;
  std::unordered_set<std::string> checked;
};

// Whether Writer::ApplyInBulk can apply the op: a lease check, a journal entry, a run update, an
// event without a client id (no deduplication) or a run without flow control, idempotency key or
// waits.
bool BulkApplicable(const WriteOp& op) {
  if (std::holds_alternative<RequireLeaseOp>(op) || std::holds_alternative<AppendJournalOp>(op) ||
      std::holds_alternative<UpdateRunOp>(op)) {
    return true;
  }
  if (const auto* insert = std::get_if<InsertEventOp>(&op)) return insert->event.client_id.empty();
  if (const auto* create = std::get_if<CreateRunOp>(&op)) {
    return !create->HasFlowControl() && create->run.idempotency_key.empty() &&
           create->waits.empty();
  }
  return false;
}

// Adds the batches of one request to the bulk when applying them in bulk, beside the batches
// taken before, gives what applying everything in order would: each op is BulkApplicable, no
// event or run id is stored twice, no run is updated twice, and no lease check names a run
// created in the bulk. Returns false, and takes nothing, otherwise.
bool TakeForBulk(const std::vector<WriteBatch>& batches, BulkIds& taken) {
  BulkIds mine;
  for (const WriteBatch& batch : batches) {
    for (const WriteOp& op : batch.ops) {
      if (!BulkApplicable(op)) return false;
      bool fresh = true;
      if (const auto* insert = std::get_if<InsertEventOp>(&op)) {
        fresh =
            !taken.events.count(insert->event.id) && mine.events.insert(insert->event.id).second;
      } else if (const auto* create = std::get_if<CreateRunOp>(&op)) {
        const std::string& id = create->run.id;
        fresh = !taken.created.count(id) && !taken.checked.count(id) && !mine.checked.count(id) &&
                mine.created.insert(id).second;
      } else if (const auto* update = std::get_if<UpdateRunOp>(&op)) {
        fresh = !taken.updated.count(update->run_id) && mine.updated.insert(update->run_id).second;
      } else if (const auto* check = std::get_if<RequireLeaseOp>(&op)) {
        fresh = !taken.created.count(check->run_id) && !mine.created.count(check->run_id);
        mine.checked.insert(check->run_id);
      }
      if (!fresh) return false;
    }
  }
  taken.events.merge(mine.events);
  taken.created.merge(mine.created);
  taken.updated.merge(mine.updated);
  taken.checked.merge(mine.checked);
  return true;
}

}  // namespace

// The writer connection and the code that applies each operation. Used by one thread at a time:
// the leader of the current group commit.
class PostgresStore::Writer {
 public:
  explicit Writer(std::unique_ptr<PgConnection> db) : db_(std::move(db)) {}

  PgConnection& db() { return *db_; }
  void Replace(std::unique_ptr<PgConnection> db) { db_ = std::move(db); }
  // Rows written since the counter was last read: a batch that failed without writing needs no
  // rollback.
  int64_t TakeWrites() { return std::exchange(writes_, 0); }
  // Whether the transaction has done something other nodes should look at (NOTIFY).
  bool TakeWakes() { return std::exchange(wakes_, false); }

  Status ApplyBatch(WriteBatch& batch, BatchResult& result, TimePoint now) {
    for (size_t i = 0; i < batch.ops.size();) {
      // A run of journal entries (a step's attempts, several steps finished in one batch) is one
      // INSERT: the ops between them are applied in order, so the lease check before them still
      // comes first.
      size_t end = i;
      while (end < batch.ops.size() && std::holds_alternative<AppendJournalOp>(batch.ops[end])) {
        ++end;
      }
      if (end - i > 1) {
        RETURN_IF_ERROR(AppendJournal(batch.ops, i, end));
        i = end;
        continue;
      }
      RETURN_IF_ERROR(std::visit([&](auto& o) { return Apply(o, result, now); }, batch.ops[i]));
      ++i;
    }
    return OkStatus();
  }

  // The batch's first lease check on `run_id`, or null.
  static const RequireLeaseOp* FirstCheckOn(const std::vector<WriteOp>& ops,
                                            std::string_view run_id) {
    for (const WriteOp& op : ops) {
      const auto* check = std::get_if<RequireLeaseOp>(&op);
      if (check && check->run_id == run_id) return check;
    }
    return nullptr;
  }
  // Whether the batch updates `run_id`.
  static bool UpdatesRun(const std::vector<WriteOp>& ops, std::string_view run_id) {
    return std::any_of(ops.begin(), ops.end(), [run_id](const WriteOp& op) {
      const auto* update = std::get_if<UpdateRunOp>(&op);
      return update && update->run_id == run_id;
    });
  }

  // One batch applied in bulk, and where its result goes.
  struct BulkBatch {
    WriteBatch* batch;
    BatchResult* result;
  };

  // Applies the batches (each op BulkApplicable, taken by TakeForBulk) with one statement per
  // kind of op: first the journal entries of the batches without a lease check (they write
  // nothing that locks a row another transaction may hold), then `event_lock` when given (so
  // that the group holds the store-wide event lock for as short a time as it can, and never
  // while it waits for a row), then the lease checks of runs their batch does not update, the
  // events, the runs, the run updates (each fenced by its batch's lease check on that run, if
  // any) and the other journal entries, each kind in batch order. A batch whose lease check
  // fails is answered with its error and writes nothing. A failing statement fails the call, and
  // the transaction with it: the caller rolls back and applies the group batch by batch. With
  // `begin`, the statements open the transaction themselves: BEGIN goes first, in their round trip.
  // `dumps` holds the batches' Json values dumped ahead of time (DumpsOf).
  Status ApplyInBulk(std::vector<BulkBatch>& batches, const PgDumps& dumps, TimePoint now,
                     bool event_lock, bool begin) {
    std::vector<const JournalEntry*> unchecked_entries;
    std::vector<std::string> checked_runs;
    std::vector<const EventRecord*> events;
    std::vector<const CreateRunOp*> creates;
    std::vector<const JournalEntry*> entries;
    std::vector<const UpdateRunOp*> updates;
    std::vector<const RequireLeaseOp*> fences;  // per update: its batch's check on its run
    // Every lease check, and whether it rides with its batch's update of the run.
    std::vector<std::pair<const RequireLeaseOp*, bool>> checks;
    for (const BulkBatch& b : batches) {
      const std::vector<WriteOp>& ops = b.batch->ops;
      const bool checked = std::any_of(ops.begin(), ops.end(), [](const WriteOp& op) {
        return std::holds_alternative<RequireLeaseOp>(op);
      });
      for (const WriteOp& op : ops) {
        if (const auto* check = std::get_if<RequireLeaseOp>(&op)) {
          // The first check on a run its batch updates rides with the update; others lock and read.
          const bool fenced =
              UpdatesRun(ops, check->run_id) && FirstCheckOn(ops, check->run_id) == check;
          if (!fenced) checked_runs.push_back(check->run_id);
          checks.emplace_back(check, fenced);
        }
        if (const auto* insert = std::get_if<InsertEventOp>(&op)) events.push_back(&insert->event);
        if (const auto* create = std::get_if<CreateRunOp>(&op)) creates.push_back(create);
        if (const auto* append = std::get_if<AppendJournalOp>(&op)) {
          (checked ? entries : unchecked_entries).push_back(&append->entry);
        }
        if (const auto* update = std::get_if<UpdateRunOp>(&op)) {
          updates.push_back(update);
          fences.push_back(FirstCheckOn(ops, update->run_id));
        }
      }
    }
    // Every statement goes in one round trip, in the lock order of the file comment: journal
    // entries of batches without a lease check, the event lock, then the rows (the lease checks
    // and the updates each lock their runs in id order, before the journal entries that they
    // fence). A second completion of a step fails its journal statement; the group then goes
    // again batch by batch, where it is ignored.
    std::vector<PgStatement> statements;
    auto add = [&](bool wanted, PgStatement statement) -> std::optional<size_t> {
      if (!wanted) return std::nullopt;
      statements.push_back(std::move(statement));
      return statements.size() - 1;
    };
    add(begin, {"BEGIN", {}});
    add(!unchecked_entries.empty(),
        AppendJournalEntriesStatement(unchecked_entries, JournalDuplicates::kFail, &dumps));
    add(event_lock, {kEventLock, {}});
    const auto lease_rows = add(!checked_runs.empty(), LockLeasesStatement(checked_runs));
    const auto event_rows = add(!events.empty(), InsertEventsStatement(events, &dumps));
    const auto run_rows = add(!creates.empty(), InsertRunsStatement(creates, &dumps));
    const auto update_rows =
        add(!updates.empty(), UpdateRunsStatement(updates, now, &fences, &dumps));
    add(!entries.empty(), AppendJournalEntriesStatement(entries, JournalDuplicates::kFail, &dumps));
    ASSIGN_OR_RETURN(std::vector<PgResult> results, db_->ExecPipelined(statements));
    std::unordered_map<std::string, std::pair<bool, bool>> found;  // id -> slots, limited
    if (update_rows) {
      const PgResult& r = results[*update_rows];
      for (int row = 0; row < r.rows(); ++row) {
        found[r.Text(row, 0)] = {r.Int(row, 1) != 0, r.Int(row, 2) != 0};
      }
    }
    // The writes went out as if every lease held: a fenced update found its run only while its
    // lease held, and the other checks read theirs. When one does not hold, the group is undone
    // and goes again batch by batch, where that batch fails alone.
    std::unordered_map<std::string, std::pair<std::string, int64_t>> leases;  // id -> owner, token
    if (lease_rows) {
      const PgResult& r = results[*lease_rows];
      for (int row = 0; row < r.rows(); ++row) {
        leases[r.Text(row, 0)] = {r.Text(row, 1), r.Int(row, 2)};
      }
    }
    for (const auto& [check, fenced] : checks) {
      bool held = false;
      if (fenced) {
        held = found.count(check->run_id) > 0;
      } else if (auto it = leases.find(check->run_id); it != leases.end()) {
        held = LeaseHeld(*check, it->second.first, it->second.second);
      }
      if (!held) return AbortedError("a lease check failed: the group goes batch by batch");
    }
    std::unordered_map<std::string, std::pair<int64_t, bool>> stored;  // id -> seq, unmatched
    if (event_rows) {
      const PgResult& r = results[*event_rows];
      for (int row = 0; row < r.rows(); ++row) {
        stored[r.Text(row, 0)] = {r.Int(row, 1), r.Int(row, 2) != 0};
      }
    }
    std::unordered_set<std::string> created;
    if (run_rows) {
      const PgResult& r = results[*run_rows];
      for (int row = 0; row < r.rows(); ++row) created.insert(r.Text(row, 0));
    }
    for (size_t i = 0; i < batches.size(); ++i) {
      BatchResult& result = *batches[i].result;
      for (const WriteOp& op : batches[i].batch->ops) {
        if (const auto* insert = std::get_if<InsertEventOp>(&op)) {
          auto it = stored.find(insert->event.id);
          if (it == stored.end()) continue;  // the same deterministic id: already stored
          result.inserted_events.push_back(insert->event.id);
          if (!it->second.second) continue;
          EventRecord event = insert->event;
          event.seq = it->second.first;
          result.events_to_match.push_back(std::move(event));
        } else if (const auto* create = std::get_if<CreateRunOp>(&op)) {
          const RunRecord& run = create->run;
          if (!created.count(run.id)) {
            result.skipped_runs.push_back(run.id);
            continue;
          }
          if (run.lease_owner.empty() && run.due_at && !run.ended_at) wakes_ = true;
          result.created_runs.push_back(run.id);
        } else if (const auto* update = std::get_if<UpdateRunOp>(&op)) {
          auto it = found.find(update->run_id);
          const bool is_found = it != found.end();
          RETURN_IF_ERROR(AfterRunUpdate(*update, is_found, is_found && it->second.first,
                                         is_found && it->second.second, now));
        }
      }
    }
    return OkStatus();
  }

  StatusOr<std::vector<RunRecord>> Claim(const ClaimArgs& args) {
    ASSIGN_OR_RETURN(PgResult candidates,
                     db_->Exec("SELECT id, flow_id, concurrency_key, concurrency_limit, "
                               "extra_slots, status FROM runs WHERE due_at <= $1 AND "
                               "(lease_owner IS NULL OR lease_until < $1) ORDER BY due_at LIMIT "
                               "$2 FOR UPDATE SKIP LOCKED",
                               {PgMillis(args.now), PgInt(int64_t{args.max} * 4 + 16)}));
    // Runs with concurrency slots are leased one at a time, in order, since each lease counts
    // toward the next run's slot; the others (most) are leased together at the end, in one
    // UPDATE. Either way the claimed runs come back in the candidates' order.
    std::vector<std::pair<int, RunRecord>> claimed;
    std::unordered_map<std::string, int> plain;  // run id -> candidate row, leased together
    for (int i = 0; i < candidates.rows(); ++i) {
      if (static_cast<int>(claimed.size() + plain.size()) >= args.max) break;
      const std::string id = candidates.Text(i, 0);
      const std::string flow_id = candidates.Text(i, 1);
      const std::string key = candidates.Text(i, 2);
      const int64_t limit = candidates.Int(i, 3);
      std::vector<ConcurrencySlot> extra;
      if (!candidates.IsNull(i, 4)) {
        ASSIGN_OR_RETURN(extra, ParseSlots(candidates.Text(i, 4)));
      }
      const bool keyed = !key.empty() && limit > 0;
      if (!keyed && extra.empty()) {
        plain.emplace(id, i);
        continue;
      }
      if (keyed) {
        ASSIGN_OR_RETURN(SlotState state,
                         CountSlot(flow_id, key, limit, args.now, /*extra=*/false));
        if (state == SlotState::kBusy) continue;
        if (state == SlotState::kFull) {
          RETURN_IF_ERROR(SetAside(id, args.now));
          continue;
        }
      }
      bool free = true;
      bool busy = false;
      for (const ConcurrencySlot& slot : extra) {
        ASSIGN_OR_RETURN(SlotState state,
                         CountSlot(flow_id, slot.key, slot.limit, args.now, /*extra=*/true));
        busy = state == SlotState::kBusy;
        free = state == SlotState::kFree;
        if (!free) break;
      }
      if (busy) continue;
      if (!free) {
        RETURN_IF_ERROR(SetAside(id, args.now));
        continue;
      }
      ASSIGN_OR_RETURN(std::vector<RunRecord> leased, Lease({id}, args));
      if (leased.empty()) continue;
      for (const ConcurrencySlot& slot : extra) {
        RETURN_IF_ERROR(
            Write("INSERT INTO run_slots (flow_id, slot_key, run_id) VALUES ($1, $2, $3) ON "
                  "CONFLICT DO NOTHING",
                  {PgText(flow_id), PgText(slot.key), PgText(id)}));
      }
      claimed.emplace_back(i, std::move(leased.front()));
    }
    if (!plain.empty()) {
      std::vector<std::string> ids;
      ids.reserve(plain.size());
      for (const auto& [id, row] : plain) ids.push_back(id);
      ASSIGN_OR_RETURN(std::vector<RunRecord> leased, Lease(ids, args));
      for (RunRecord& run : leased) {
        auto row = plain.find(run.id);
        if (row != plain.end()) claimed.emplace_back(row->second, std::move(run));
      }
    }
    std::sort(claimed.begin(), claimed.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    // Each comes back with the status it was found in (Store::ClaimRuns).
    std::vector<RunRecord> runs;
    runs.reserve(claimed.size());
    for (auto& [row, run] : claimed) {
      ASSIGN_OR_RETURN(run.status, ParseRunStatus(candidates.Text(row, 5)));
      runs.push_back(std::move(run));
    }
    return runs;
  }

  // The names of the transaction-scoped advisory locks that the flow-control runs of the group
  // decide under: their run ids, idempotency keys, gathers, GCRA keys and singleton keys.
  static std::vector<std::string> FlowControlKeys(const std::vector<WriteRequest*>& group) {
    std::vector<std::string> names;
    for (const WriteRequest* request : group) {
      for (const WriteBatch& batch : request->batches) {
        for (const WriteOp& op : batch.ops) {
          const auto* create = std::get_if<CreateRunOp>(&op);
          if (!create || !create->HasFlowControl()) continue;
          const RunRecord& run = create->run;
          const std::string flow = "\n" + run.flow_id + "\n";
          names.push_back("run\n" + run.id);
          if (!run.idempotency_key.empty()) {
            names.push_back("idempotency" + flow + run.idempotency_key);
          }
          if (create->gather) {
            names.push_back(std::string(GatherKindName(*create->gather)) + flow +
                            create->gather->key);
          }
          if (create->rate_limit) names.push_back("rate_limit" + flow + create->rate_limit->key);
          if (create->throttle) names.push_back("throttle" + flow + create->throttle->key);
          if (create->singleton) names.push_back("singleton" + flow + create->singleton->key);
        }
      }
    }
    return names;
  }

  // Takes the locks `names` (FlowControlKeys) in one order that every node uses (sorted by lock
  // id). Taken all at once, before the transaction writes anything or waits for a row, so that
  // two nodes never wait on each other in a cycle.
  Status LockFlowControlKeys(const std::vector<std::string>& names) {
    if (names.empty()) return OkStatus();
    // The aggregate takes the locks as the sorted subquery yields them.
    return db_
        ->Exec(
            "SELECT count(pg_advisory_xact_lock(h)) FROM (SELECT DISTINCT "
            "hashtextextended(name, 0) AS h FROM json_array_elements_text($1::json) AS name "
            "ORDER BY h) AS sorted",
            {PgJsonTextArray(names)})
        .status();
  }

 private:
  enum class SlotState { kFree, kFull, kBusy };

  // Leases the runs `ids` to the claim's owner, with a new token each.
  StatusOr<std::vector<RunRecord>> Lease(const std::vector<std::string>& ids,
                                         const ClaimArgs& args) {
    ASSIGN_OR_RETURN(
        PgResult leased,
        db_->Exec(std::string("UPDATE runs SET lease_owner = $2, lease_until = $3, due_at = $3, "
                              "lease_token = lease_token + 1, wakeup = false, ") +
                      kStartQueuedRun +
                      " WHERE id = ANY(ARRAY(SELECT json_array_elements_text($1::json))) "
                      "RETURNING " +
                      kRunColumns,
                  {PgJsonTextArray(ids), PgText(args.owner), PgMillis(args.now + args.lease)}));
    writes_ += leased.rows();
    return CollectRows<RunRecord>(leased, ReadRun);
  }

  // Whether a concurrency slot of a flow has a free place at `now`: the run's own key counts the
  // leased runs carrying it, an extra slot the leased runs holding it (run_slots). Counted under
  // a transaction-scoped advisory lock on the key, so that one node at a time counts and leases;
  // only tried, never waited for (kBusy: another node is counting it now), since a claim holds
  // the rows of its candidates and would otherwise wait in a cycle with another claim.
  StatusOr<SlotState> CountSlot(const std::string& flow_id, const std::string& key, int64_t limit,
                                TimePoint now, bool extra) {
    ASSIGN_OR_RETURN(PgResult locked,
                     db_->Exec("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))",
                               {PgText(flow_id + "\n" + key)}));
    if (locked.Text(0, 0) != "t") return SlotState::kBusy;
    ASSIGN_OR_RETURN(
        PgResult used,
        extra ? db_->Exec("SELECT count(*) FROM run_slots AS s JOIN runs AS r ON r.id = s.run_id "
                          "WHERE s.flow_id = $1 AND s.slot_key = $2 AND r.lease_owner IS NOT "
                          "NULL AND r.lease_until >= $3",
                          {PgText(flow_id), PgText(key), PgMillis(now)})
              : db_->Exec("SELECT count(*) FROM runs WHERE flow_id = $1 AND concurrency_key = $2 "
                          "AND lease_owner IS NOT NULL AND lease_until >= $3",
                          {PgText(flow_id), PgText(key), PgMillis(now)}));
    return used.Int(0, 0) >= limit ? SlotState::kFull : SlotState::kFree;
  }

  // Steps a run aside whose slot is full, so that runs of other keys behind it are reached; a run
  // of its own key that gives its slot back wakes it sooner (WakeNextHeldRun). wakeup marks it as
  // set aside; the claim resets it.
  Status SetAside(const std::string& id, TimePoint now) {
    return Write("UPDATE runs SET due_at = $2, wakeup = true WHERE id = $1",
                 {PgText(id), PgMillis(now + kConcurrencyRecheck)});
  }

  static StatusOr<std::vector<ConcurrencySlot>> ParseSlots(const std::string& text) {
    Json list = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!list.is_array()) return DataLossError("the store holds malformed concurrency slots");
    std::vector<ConcurrencySlot> slots;
    for (const Json& slot : list) {
      if (!slot.is_array() || slot.size() != 2 || !slot[0].is_string() ||
          !slot[1].is_number_integer()) {
        return DataLossError("the store holds malformed concurrency slots");
      }
      slots.push_back({slot[0].get<std::string>(), slot[1].get<int>()});
    }
    return slots;
  }

  Status ReleaseSlots(const std::string& run_id) {
    return Write("DELETE FROM run_slots WHERE run_id = $1", {PgText(run_id)});
  }

  // Runs a statement that writes; counts the rows it touched.
  Status Write(const std::string& sql, const std::vector<PgParam>& params) {
    ASSIGN_OR_RETURN(PgResult r, db_->Exec(sql, params));
    writes_ += r.affected();
    return OkStatus();
  }
  StatusOr<PgResult> WriteReturning(const std::string& sql, const std::vector<PgParam>& params) {
    ASSIGN_OR_RETURN(PgResult r, db_->Exec(sql, params));
    writes_ += r.rows();
    return r;
  }

  Status Apply(InsertEventOp& op, BatchResult& result, TimePoint now) {
    EventRecord& event = op.event;
    if (!event.client_id.empty()) {
      // The client id is claimed first: a concurrent node claiming the same id waits for this
      // transaction and then finds it taken.
      ASSIGN_OR_RETURN(
          PgResult claimed,
          WriteReturning("INSERT INTO event_dedupe (client_id, event_id, expires_at) VALUES ($1, "
                         "$2, $3) ON CONFLICT (client_id) DO UPDATE SET event_id = "
                         "EXCLUDED.event_id, expires_at = EXCLUDED.expires_at WHERE "
                         "event_dedupe.expires_at <= $4 RETURNING event_id",
                         {PgText(event.client_id), PgText(event.id),
                          PgMillis(now + op.dedupe_window), PgMillis(now)}));
      if (claimed.rows() == 0) {
        if (!op.duplicate_aborts_batch) return OkStatus();
        ASSIGN_OR_RETURN(PgResult first,
                         db_->Exec("SELECT event_id FROM event_dedupe WHERE client_id = $1",
                                   {PgText(event.client_id)}));
        result.duplicate_of = first.rows() > 0 ? first.Text(0, 0) : "";
        return AlreadyExistsError("event id " + event.client_id + " was already received");
      }
    }
    ASSIGN_OR_RETURN(PgResult inserted, InsertEvents(*db_, {&event}));
    writes_ += inserted.rows();
    if (inserted.rows() == 0) return OkStatus();  // the same deterministic id: already stored
    event.seq = inserted.Int(0, 1);
    result.inserted_events.push_back(event.id);
    if (inserted.Int(0, 2) != 0) result.events_to_match.push_back(event);
    return OkStatus();
  }

  Status Apply(CreateRunOp& op, BatchResult& result, TimePoint now) {
    RunRecord& run = op.run;
    if (op.HasFlowControl()) {
      // Decided under the locks LockFlowControlKeys took: the idempotency key first (as on
      // SQLite, before flow control spends anything), then steps 1 to 5 of store.h.
      if (!run.idempotency_key.empty()) {
        ASSIGN_OR_RETURN(
            PgResult seen,
            db_->Exec("SELECT 1 FROM idempotency WHERE flow_id = $1 AND key = $2 "
                      "AND expires_at > $3",
                      {PgText(run.flow_id), PgText(run.idempotency_key), PgMillis(now)}));
        if (seen.rows() > 0) {
          result.skipped_runs.push_back(run.id);
          return OkStatus();
        }
      }
      ASSIGN_OR_RETURN(bool proceed, ApplyFlowControl(op, result, now));
      if (!proceed) return OkStatus();
    }
    ASSIGN_OR_RETURN(PgResult inserted, InsertRuns(*db_, {&op}));
    writes_ += inserted.rows();
    if (inserted.rows() == 0) {
      result.skipped_runs.push_back(run.id);
      return OkStatus();
    }
    if (op.gather && !run.ended_at) RETURN_IF_ERROR(OpenGather(op, now));
    if (!run.idempotency_key.empty()) {
      // The key is a primary key: of two nodes creating runs under it, the second waits for the
      // first's commit and then finds it taken.
      ASSIGN_OR_RETURN(
          PgResult key,
          WriteReturning("INSERT INTO idempotency (flow_id, key, run_id, expires_at) VALUES ($1, "
                         "$2, $3, $4) ON CONFLICT (flow_id, key) DO UPDATE SET run_id = "
                         "EXCLUDED.run_id, expires_at = EXCLUDED.expires_at WHERE "
                         "idempotency.expires_at <= $5 RETURNING run_id",
                         {PgText(run.flow_id), PgText(run.idempotency_key), PgText(run.id),
                          PgMillis(now + op.idempotency_window), PgMillis(now)}));
      if (key.rows() == 0) {
        if (op.HasFlowControl()) {
          // Checked above under the key's lock: unreachable unless the lock was not taken.
          return InternalError("idempotency key " + run.idempotency_key +
                               " was taken while its lock was held");
        }
        RETURN_IF_ERROR(Write("DELETE FROM runs WHERE id = $1", {PgText(run.id)}));
        result.skipped_runs.push_back(run.id);
        return OkStatus();
      }
    }
    for (const WaitRecord& wait : op.waits) {
      RegisterWaitOp register_op{wait};
      RETURN_IF_ERROR(Apply(register_op, result, now));
    }
    if (run.lease_owner.empty() && run.due_at && !run.ended_at) wakes_ = true;
    result.created_runs.push_back(run.id);
    return OkStatus();
  }

  // Steps 1 to 5 of flow control (store.h), under the locks of LockFlowControlKeys. Returns
  // false when no run is to be inserted (it exists, or the event joined an open gather);
  // otherwise adjusts `op.run` (skipped, delayed).
  StatusOr<bool> ApplyFlowControl(CreateRunOp& op, BatchResult& result, TimePoint now) {
    RunRecord& run = op.run;
    const int64_t now_ms = ToUnixMillis(now);
    // A run planned again for the same cause has the same id, so looking it up finds a replay
    // before it spends a token or joins a gather (its id is locked: a node creating it at the
    // same time has committed before this looks).
    ASSIGN_OR_RETURN(PgResult exists,
                     db_->Exec("SELECT 1 FROM runs WHERE id = $1", {PgText(run.id)}));
    if (exists.rows() > 0) {
      result.skipped_runs.push_back(run.id);
      return false;
    }
    if (op.gather) {
      ASSIGN_OR_RETURN(bool merged, JoinGather(op, result, now));
      if (merged) return false;
    }
    // The rate limit is checked before a singleton may cancel anything, and its token is spent
    // only by a run that is created.
    int64_t rate_tat = 0;
    if (op.rate_limit) {
      ASSIGN_OR_RETURN(rate_tat, LoadTat(run.flow_id, "rate_limit", op.rate_limit->key, now_ms));
      if (auto allowed_at = RateLimitRefusal(*op.rate_limit, rate_tat, now_ms)) {
        RETURN_IF_ERROR(Skip(op, result, now, "rate_limit", RateLimitSkipMessage(*allowed_at)));
        return true;
      }
    }
    if (op.singleton) {
      ASSIGN_OR_RETURN(PgResult running,
                       db_->Exec("SELECT id FROM runs WHERE flow_id = $1 AND singleton_key = $2 "
                                 "AND ended_at IS NULL ORDER BY id",
                                 {PgText(run.flow_id), PgText(op.singleton->key)}));
      run.singleton_key = op.singleton->key;
      if (running.rows() > 0 && op.singleton->mode == SingletonRule::Mode::kSkip) {
        RETURN_IF_ERROR(
            Skip(op, result, now, "singleton", SingletonSkipMessage(running.Text(0, 0))));
        return true;
      }
      for (int i = 0; i < running.rows(); ++i) {
        RETURN_IF_ERROR(Wake(running.Text(i, 0), now, /*cancel=*/true));
        result.cancelled_runs.push_back(running.Text(i, 0));
      }
    }
    if (op.rate_limit) {
      RETURN_IF_ERROR(StoreTat(run.flow_id, "rate_limit", op.rate_limit->key,
                               rate_tat + DurationMillis(op.rate_limit->interval)));
    }
    if (op.throttle) {
      ASSIGN_OR_RETURN(int64_t tat, LoadTat(run.flow_id, "throttle", op.throttle->key, now_ms));
      const int64_t start = ThrottleStart(*op.throttle, tat, now_ms);
      RETURN_IF_ERROR(StoreTat(run.flow_id, "throttle", op.throttle->key,
                               tat + DurationMillis(op.throttle->interval)));
      DelayToThrottleStart(op, start, now_ms, result);
    }
    return true;
  }

  // Makes `op.run` a finished, skipped run (SkipRun) and tells an invoked run's parent.
  Status Skip(CreateRunOp& op, BatchResult& result, TimePoint now, const std::string& reason,
              const std::string& message) {
    std::optional<JournalEntry> parent_failed = SkipRun(op, result, now, reason, message);
    if (!parent_failed) return OkStatus();
    const std::string parent = parent_failed->run_id;
    AppendJournalOp failed{std::move(*parent_failed)};
    RETURN_IF_ERROR(Apply(failed, result, now));
    return Wake(parent, now, /*cancel=*/false);
  }

  // The stored theoretical arrival time of (flow, kind, key), or `now` when none or past.
  StatusOr<int64_t> LoadTat(const std::string& flow_id, std::string_view kind,
                            const std::string& key, int64_t now) {
    ASSIGN_OR_RETURN(PgResult r, db_->Exec("SELECT tat FROM rate_state WHERE flow_id = $1 AND "
                                           "kind = $2 AND key = $3",
                                           {PgText(flow_id), PgText(kind), PgText(key)}));
    return std::max<int64_t>(r.rows() > 0 ? r.Int(0, 0) : 0, now);
  }

  Status StoreTat(const std::string& flow_id, std::string_view kind, const std::string& key,
                  int64_t tat) {
    return Write(
        "INSERT INTO rate_state (flow_id, kind, key, tat) VALUES ($1, $2, $3, $4) ON CONFLICT "
        "(flow_id, kind, key) DO UPDATE SET tat = EXCLUDED.tat",
        {PgText(flow_id), PgText(kind), PgText(key), PgInt(tat)});
  }

  // Step 2 of flow control: joins the event of `op` to the open gather of its key, if any. The
  // gather's run is locked: a node claiming it at the same time either has it (and this finds
  // the gather closed) or waits until the event has joined.
  StatusOr<bool> JoinGather(CreateRunOp& op, BatchResult& result, TimePoint now) {
    const GatherSpec& gather = *op.gather;
    const RunRecord& run = op.run;
    const int64_t now_ms = ToUnixMillis(now);
    ASSIGN_OR_RETURN(
        PgResult open,
        db_->Exec("SELECT g.run_id, g.first_at, g.size FROM gathers AS g JOIN runs AS r ON r.id "
                  "= g.run_id WHERE g.flow_id = $1 AND g.kind = $2 AND g.key = $3 AND r.status = "
                  "'queued' AND r.lease_owner IS NULL AND r.due_at > $4 FOR UPDATE OF r",
                  {PgText(run.flow_id), PgText(GatherKindName(gather)), PgText(gather.key),
                   PgInt(now_ms)}));
    if (open.rows() == 0) return false;
    const std::string target = open.Text(0, 0);
    const int64_t first_at = open.Int(0, 1);
    const int64_t size = open.Int(0, 2) + 1;
    const PgParam key[] = {PgText(run.flow_id), PgText(GatherKindName(gather)), PgText(gather.key)};
    if (gather.kind == GatherSpec::Kind::kDebounce) {
      RETURN_IF_ERROR(
          Write("UPDATE runs SET event = $2, trigger_event_id = $3, due_at = $4, "
                "updated_at = $5 WHERE id = $1",
                {PgText(target), run.event.dump(), PgTextOrNull(run.trigger_event_id),
                 PgInt(DebounceDue(gather, first_at, now_ms)), PgInt(now_ms)}));
    } else {
      const bool full = size >= gather.max_size;
      // The events are appended as text: the stored JSON stays as the engine wrote it.
      RETURN_IF_ERROR(Write(
          "UPDATE runs SET events = CASE WHEN events IS NULL OR events = '[]' THEN '[' || $2::text "
          "|| ']' ELSE left(events, -1) || ',' || $2::text || ']' END, due_at = CASE WHEN "
          "$3::boolean "
          "THEN $4 ELSE due_at END, updated_at = $4 WHERE id = $1",
          {PgText(target), run.event.dump(), PgBool(full), PgInt(now_ms)}));
      if (full) {
        wakes_ = true;  // due now
        RETURN_IF_ERROR(Write("DELETE FROM gathers WHERE flow_id = $1 AND kind = $2 AND key = $3",
                              {key[0], key[1], key[2]}));
        result.merged_runs.emplace_back(run.id, target);
        return true;
      }
    }
    RETURN_IF_ERROR(
        Write("UPDATE gathers SET size = $4 WHERE flow_id = $1 AND kind = $2 AND key = $3",
              {key[0], key[1], key[2], PgInt(size)}));
    result.merged_runs.emplace_back(run.id, target);
    return true;
  }

  // Opens the gather of a run just created (unless a batch of one is already full).
  Status OpenGather(const CreateRunOp& op, TimePoint now) {
    const GatherSpec& gather = *op.gather;
    if (gather.kind == GatherSpec::Kind::kBatch && gather.max_size <= 1) return OkStatus();
    return Write(
        "INSERT INTO gathers (flow_id, kind, key, run_id, first_at, size) VALUES ($1, $2, $3, "
        "$4, $5, 1) ON CONFLICT (flow_id, kind, key) DO UPDATE SET run_id = EXCLUDED.run_id, "
        "first_at = EXCLUDED.first_at, size = 1",
        {PgText(op.run.flow_id), PgText(GatherKindName(gather)), PgText(gather.key),
         PgText(op.run.id), PgMillis(now)});
  }

  Status Apply(UpdateRunOp& op, BatchResult&, TimePoint now) {
    ASSIGN_OR_RETURN(PgResult updated, UpdateRuns(*db_, {&op}, now));
    writes_ += updated.rows();
    const bool found = updated.rows() > 0;
    return AfterRunUpdate(op, found, found && updated.Int(0, 1) != 0,
                          found && updated.Int(0, 2) != 0, now);
  }

  // What follows an update of a run (UpdateRuns): wakes other nodes when the run is left due,
  // and gives back its slots. Only a run with extra slots holds run_slots rows (Claim), and only
  // a run with a concurrency limit can wake a run of its key: the others skip both statements.
  // A run not `found` is treated as holding both.
  Status AfterRunUpdate(const UpdateRunOp& op, bool found, bool holds_slots, bool limited,
                        TimePoint now) {
    if (op.release_lease && op.due_at && !op.ended_at) wakes_ = true;
    if (!op.release_lease && !op.ended_at) return OkStatus();
    if (!found || holds_slots) RETURN_IF_ERROR(ReleaseSlots(op.run_id));
    if (!found || limited) return WakeNextHeldRun(op.run_id, now);
    return OkStatus();
  }

  // `run_id` gave back its concurrency slot (if it has a limit): the oldest run of its key that
  // Claim set aside falls due now. Only a run set aside (wakeup with a due time still ahead):
  // waking a run of the key that sleeps until a retry or a timer would make two such runs wake
  // each other forever.
  Status WakeNextHeldRun(const std::string& run_id, TimePoint now) {
    ASSIGN_OR_RETURN(
        PgResult woken,
        WriteReturning("UPDATE runs SET due_at = $2 WHERE id = (SELECT held.id FROM runs AS r "
                       "JOIN runs AS held ON held.flow_id = r.flow_id AND held.concurrency_key = "
                       "r.concurrency_key WHERE r.id = $1 AND r.concurrency_limit > 0 AND "
                       "held.concurrency_limit > 0 AND held.id <> r.id AND held.wakeup AND "
                       "held.lease_owner IS NULL AND held.due_at > "
                       "$2 AND held.status IN ('queued', 'running') ORDER BY held.due_at LIMIT 1) "
                       "RETURNING id",
                       {PgText(run_id), PgMillis(now)}));
    if (woken.rows() > 0) wakes_ = true;
    return OkStatus();
  }

  // The journal entries ops[begin, end) (each an AppendJournalOp) in one statement, their seqs
  // taken in order.
  Status AppendJournal(const std::vector<WriteOp>& ops, size_t begin, size_t end) {
    std::vector<const JournalEntry*> entries;
    for (size_t i = begin; i < end; ++i)
      entries.push_back(&std::get<AppendJournalOp>(ops[i]).entry);
    ASSIGN_OR_RETURN(int64_t appended, AppendJournalEntries(*db_, entries));
    writes_ += appended;
    return OkStatus();
  }

  Status Apply(AppendJournalOp& op, BatchResult&, TimePoint) {
    ASSIGN_OR_RETURN(int64_t appended, AppendJournalEntries(*db_, {&op.entry}));
    writes_ += appended;
    return OkStatus();
  }

  Status Apply(RegisterWaitOp& op, BatchResult&, TimePoint) {
    const WaitRecord& w = op.wait;
    RETURN_IF_ERROR(Write(
        "INSERT INTO waits (id, run_id, kind, flow_id, revision, step_key, step_id, event_name, "
        "match_path, match_key, since_seq, lookback_from, timeout_at, created_at, context) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $11::bigint = -2 THEN "
        "(SELECT coalesce(max(seq), 0) FROM events) WHEN $11::bigint < 0 THEN coalesce((SELECT "
        "event_mark FROM runs WHERE id = $2), 0) ELSE $11::bigint END, $12, $13, $14, $15) ON "
        "CONFLICT DO NOTHING",
        {PgText(w.id), PgText(w.run_id),
         PgText(w.kind == WaitRecord::Kind::kCancel ? "cancel" : "step"), PgText(w.flow_id),
         PgText(w.revision), PgText(w.step_key), PgText(w.step_id), PgText(w.event_name),
         PgText(w.match_path), PgText(w.match_key), PgInt(w.since_seq), PgMillis(w.lookback_from),
         PgMillis(w.timeout_at), PgMillis(w.created_at), w.context.dump()}));
    if (!w.match_path.empty()) {
      RETURN_IF_ERROR(Write(
          "INSERT INTO wait_paths (event_name, match_path) VALUES ($1, $2) ON CONFLICT DO NOTHING",
          {PgText(w.event_name), PgText(w.match_path)}));
    }
    return OkStatus();
  }

  Status Wake(const std::string& run_id, TimePoint now, bool cancel) {
    ASSIGN_OR_RETURN(
        PgResult woken,
        WriteReturning(
            "UPDATE runs SET wakeup = true, cancel_requested = cancel_requested OR $3::boolean, "
            "event_mark = (SELECT coalesce(max(seq), 0) FROM events), due_at = CASE WHEN due_at "
            "IS NULL OR due_at > $2 THEN $2 ELSE due_at END WHERE id = $1 AND ended_at IS NULL "
            "RETURNING id",
            {PgText(run_id), PgMillis(now), PgBool(cancel)}));
    if (woken.rows() > 0) wakes_ = true;
    return OkStatus();
  }

  Status Apply(ResolveWaitOp& op, BatchResult& result, TimePoint now) {
    // Deleting claims the wait: of two nodes resolving it, one gets the row.
    ASSIGN_OR_RETURN(PgResult claimed,
                     WriteReturning("DELETE FROM waits WHERE id = $1 RETURNING run_id, kind, "
                                    "step_key",
                                    {PgText(op.wait_id)}));
    if (claimed.rows() == 0) return OkStatus();
    const std::string run_id = claimed.Text(0, 0);
    const bool cancel = claimed.Text(0, 1) == "cancel";
    const std::string step_key = claimed.Text(0, 2);
    if (!cancel) {
      AppendJournalOp done{JournalEntry{
          .run_id = run_id,
          .step_key = step_key,
          .kind = JournalKind::kCompleted,
          .data = Json{{"status", "completed"}, {"output", op.output}, {"attempts", 1}},
          .at = now}};
      RETURN_IF_ERROR(Apply(done, result, now));
    }
    RETURN_IF_ERROR(Wake(run_id, now, cancel));
    result.resolved_waits.push_back(op.wait_id);
    if (op.lease_owner.empty() || !op.lease_until) return OkStatus();
    ASSIGN_OR_RETURN(
        PgResult leased,
        WriteReturning(
            std::string("UPDATE runs SET lease_owner = $2, lease_until = $3, due_at "
                        "= $3, lease_token = lease_token + 1, wakeup = false WHERE id "
                        "= $1 AND ended_at IS NULL AND concurrency_limit = 0 AND "
                        "(lease_owner IS NULL OR lease_until < $4) RETURNING ") +
                kRunColumns,
            {PgText(run_id), PgText(op.lease_owner), PgMillis(*op.lease_until), PgMillis(now)}));
    ASSIGN_OR_RETURN(std::optional<RunRecord> run, FirstRow<RunRecord>(leased, ReadRun));
    if (run) result.leased_runs.push_back(std::move(*run));
    return OkStatus();
  }

  Status Apply(DeleteWaitsOp& op, BatchResult&, TimePoint) {
    return Write("DELETE FROM waits WHERE run_id = $1", {PgText(op.run_id)});
  }

  Status Apply(MarkMatchedOp& op, BatchResult&, TimePoint) {
    for (const std::string& id : op.event_ids) {
      RETURN_IF_ERROR(
          Write("UPDATE events SET unmatched = false WHERE id = $1 AND unmatched", {PgText(id)}));
    }
    for (const std::string& id : op.wait_ids) {
      RETURN_IF_ERROR(
          Write("UPDATE waits SET unscanned = false WHERE id = $1 AND unscanned", {PgText(id)}));
    }
    return OkStatus();
  }

  Status Apply(WakeRunOp& op, BatchResult&, TimePoint now) { return Wake(op.run_id, now, false); }
  Status Apply(RequestCancelOp& op, BatchResult&, TimePoint now) {
    return Wake(op.run_id, now, true);
  }

  Status Apply(PutFlowRevisionOp& op, BatchResult&, TimePoint) {
    const FlowRevisionRecord& r = op.revision;
    return Write(
        "INSERT INTO flow_revisions (flow_id, revision, document, created_at) VALUES ($1, $2, "
        "$3, $4) ON CONFLICT DO NOTHING",
        {PgText(r.flow_id), PgText(r.revision), r.document.dump(), PgMillis(r.created_at)});
  }

  Status Apply(ClaimCronTickOp& op, BatchResult& result, TimePoint) {
    // The primary key makes the tick fire once across all nodes.
    ASSIGN_OR_RETURN(PgResult claimed,
                     WriteReturning("INSERT INTO cron_ticks (flow_id, tick) VALUES ($1, $2) ON "
                                    "CONFLICT DO NOTHING RETURNING tick",
                                    {PgText(op.flow_id), PgMillis(op.tick)}));
    result.cron_tick_claimed = claimed.rows() > 0;
    return OkStatus();
  }

  Status Apply(ScheduleEventOp& op, BatchResult&, TimePoint) {
    const EventRecord& e = op.event;
    wakes_ = true;  // other nodes' timers learn of the new due time
    return Write(
        "INSERT INTO scheduled_events (id, name, data, client_id, due_at) VALUES ($1, $2, $3, $4, "
        "$5) ON CONFLICT DO NOTHING",
        {PgText(e.id), PgText(e.name), e.data.dump(), PgTextOrNull(e.client_id),
         PgMillis(op.due_at)});
  }

  Status Apply(ReleaseScheduledEventOp& op, BatchResult&, TimePoint) {
    return Write("DELETE FROM scheduled_events WHERE id = $1", {PgText(op.event_id)});
  }

  Status Apply(ReleaseLeasesOp& op, BatchResult& result, TimePoint now) {
    RETURN_IF_ERROR(
        Write("DELETE FROM run_slots WHERE run_id IN (SELECT id FROM runs WHERE "
              "due_at IS NOT NULL AND lease_owner = $1)",
              {PgText(op.owner)}));
    ASSIGN_OR_RETURN(
        PgResult released,
        WriteReturning("UPDATE runs SET lease_owner = NULL, lease_until = NULL, due_at = CASE "
                       "WHEN due_at IS NULL OR due_at > $2 THEN $2 ELSE due_at END WHERE due_at "
                       "IS NOT NULL AND lease_owner = $1 RETURNING id",
                       {PgText(op.owner), PgMillis(now)}));
    if (released.rows() > 0) wakes_ = true;
    result.released_leases += released.rows();
    return OkStatus();
  }

  Status Apply(HeartbeatOp& op, BatchResult&, TimePoint now) {
    return Write(
        "INSERT INTO nodes (id, started_at, heartbeat_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO "
        "UPDATE SET started_at = EXCLUDED.started_at, heartbeat_at = EXCLUDED.heartbeat_at",
        {PgText(op.node_id), PgMillis(op.started_at), PgMillis(now)});
  }

  Status Apply(TakeOverDeadNodesOp& op, BatchResult& result, TimePoint now) {
    // Deleting claims the dead node: of two nodes taking it over, one gets the row.
    ASSIGN_OR_RETURN(PgResult dead,
                     WriteReturning("DELETE FROM nodes WHERE heartbeat_at < $1 AND id <> $2 "
                                    "RETURNING id",
                                    {PgMillis(op.dead_before), PgText(op.self)}));
    for (int i = 0; i < dead.rows(); ++i) {
      ReleaseLeasesOp release{dead.Text(i, 0)};
      RETURN_IF_ERROR(Apply(release, result, now));
      result.dead_nodes.push_back(release.owner);
    }
    return OkStatus();
  }

  Status Apply(PruneFinishedRunsOp& op, BatchResult& result, TimePoint now) {
    ASSIGN_OR_RETURN(
        PgResult runs,
        db_->Exec("SELECT id, trigger_event_id FROM runs WHERE ended_at IS NOT NULL "
                  "AND ended_at < $1 AND status IN ('completed', 'failed', "
                  "'cancelled', 'skipped') ORDER BY ended_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                  {PgMillis(op.ended_before), PgInt(op.limit)}));
    for (int i = 0; i < runs.rows(); ++i) {
      const PgParam id = PgText(runs.Text(i, 0));
      RETURN_IF_ERROR(Write("DELETE FROM journal WHERE run_id = $1", {id}));
      RETURN_IF_ERROR(Write("DELETE FROM gathers WHERE run_id = $1", {id}));
      RETURN_IF_ERROR(Write("DELETE FROM waits WHERE run_id = $1", {id}));
      RETURN_IF_ERROR(Write("DELETE FROM runs WHERE id = $1", {id}));
    }
    // After the runs are gone, a trigger event goes too unless another run still refers to it or
    // its client id may still be deduplicated.
    for (int i = 0; i < runs.rows(); ++i) {
      if (runs.IsNull(i, 1)) continue;
      RETURN_IF_ERROR(
          Write("DELETE FROM events WHERE id = $1 AND ts < $2 AND NOT EXISTS (SELECT "
                "1 FROM runs WHERE trigger_event_id = $1)",
                {PgText(runs.Text(i, 1)), PgMillis(op.keep_events_since)}));
    }
    result.pruned_runs += runs.rows();
    // GCRA state whose tat has passed is the same as none.
    return Write(
        "DELETE FROM rate_state WHERE (flow_id, kind, key) IN (SELECT flow_id, kind, key "
        "FROM rate_state WHERE tat < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        {PgMillis(now), PgInt(op.limit)});
  }

  Status Apply(RequireLeaseOp& op, BatchResult&, TimePoint) {
    // The row stays locked until the commit, so no claim takes the run in between.
    ASSIGN_OR_RETURN(PgResult lease, LockLeases(*db_, {op.run_id}));
    const bool found = lease.rows() > 0;
    return CheckLease(op, found ? lease.Text(0, 1) : "", found ? lease.Int(0, 2) : 0);
  }

  std::unique_ptr<PgConnection> db_;
  int64_t writes_ = 0;
  bool wakes_ = false;
};

PostgresStore::PostgresStore(PostgresStoreOptions options) : options_(std::move(options)) {}

PostgresStore::~PostgresStore() {
  group_leader_.reset();  // joins its thread once the last drain has run the queue empty
  queue_.reset();
  writer_.reset();
  while (readers_.Take()) {
  }
}

TimePoint PostgresStore::Now() const {
  if (options_.clock) return options_.clock->Now();
  return SystemClock().Now();
}

StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(PostgresStoreOptions options) {
  std::unique_ptr<PostgresStore> store(new PostgresStore(std::move(options)));
  RETURN_IF_ERROR(store->Initialize());
  return store;
}

Status PostgresStore::Initialize() {
  ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> db, PgConnection::Open(options_.url, "store"));
  RETURN_IF_ERROR(
      MigratePg(*db, options_.pending_migrations).WithContext("opening the PostgreSQL store"));
  writer_pid_ = PQbackendPID(db->handle());
  writer_ = std::make_unique<Writer>(std::move(db));
  group_leader_ = std::make_unique<WorkerPool>(1);
  queue_ = std::make_unique<GroupCommitQueue<WriteRequest, WriteResult>>(
      [this](std::vector<WriteRequest*>& group) { return ApplyGroup(group); }, options_.max_group,
      [this](std::function<void()> drain) { group_leader_->Run(std::move(drain)); },
      GroupCommitQueue<WriteRequest, WriteResult>::Leaders::kDrains);
  return OkStatus();
}

std::vector<PostgresStore::WriteResult> PostgresStore::ApplyGroup(
    std::vector<WriteRequest*>& group) {
  // A writer connection that broke (a server restart) is replaced before the next group.
  if (!writer_->db().healthy()) {
    auto db = PgConnection::Open(options_.url, "store");
    if (!db.ok()) {
      std::vector<WriteResult> results(group.size());
      for (WriteResult& r : results) r.status = db.status();
      return results;
    }
    writer_pid_ = PQbackendPID((*db)->handle());
    writer_->Replace(std::move(*db));
  }
  std::optional<std::vector<WriteResult>> results = ApplyGroupOnce(group, /*savepoints=*/false);
  if (results) return std::move(*results);
  return std::move(*ApplyGroupOnce(group, /*savepoints=*/true));
}

std::optional<std::vector<PostgresStore::WriteResult>> PostgresStore::ApplyGroupOnce(
    std::vector<WriteRequest*>& group, bool savepoints) {
  std::vector<WriteResult> results(group.size());
  PgConnection& db = writer_->db();
  const TimePoint now = Now();
  auto fail_all = [&](const Status& status) {
    (void)db.ExecScript("ROLLBACK");
    for (WriteResult& r : results) {
      r = WriteResult{};
      r.status = status;
    }
    return std::move(results);
  };
  bool event_lock = false;
  for (const WriteRequest* request : group) {
    event_lock = event_lock || TouchesEventsOrWaits(request->batches);
  }
  // First attempt: the requests whose batches allow it are applied in bulk, a statement per kind
  // of op for all of them; the others, and claims, one by one after them.
  std::vector<bool> in_bulk(group.size(), false);
  std::vector<Writer::BulkBatch> bulk;
  PgDumps dumps;
  if (!savepoints) {
    BulkIds taken;
    for (size_t i = 0; i < group.size(); ++i) {
      WriteRequest& request = *group[i];
      if (request.claim || !TakeForBulk(request.batches, taken)) continue;
      in_bulk[i] = true;
      dumps.Merge(std::move(request.dumps));
      results[i].batches.resize(request.batches.size());
      for (size_t b = 0; b < request.batches.size(); ++b) {
        bulk.push_back({&request.batches[b], &results[i].batches[b]});
      }
    }
  }
  // Every transaction takes its locks in one order: flow-control keys, the event lock, rows.
  // Without keys to lock, BEGIN goes out with the bulk's statements, in one round trip.
  const std::vector<std::string> keys = Writer::FlowControlKeys(group);
  const bool begin_with_bulk = keys.empty() && !bulk.empty();
  if (!begin_with_bulk) {
    Status begin = db.ExecScript("BEGIN");
    if (!begin.ok()) return fail_all(begin.WithContext("starting a store transaction"));
  }
  (void)writer_->TakeWakes();
  if (Status locked = writer_->LockFlowControlKeys(keys); !locked.ok()) {
    return fail_all(locked.WithContext("locking flow-control keys"));
  }
  if (!bulk.empty()) {
    if (Status applied = writer_->ApplyInBulk(bulk, dumps, now, event_lock, begin_with_bulk);
        !applied.ok()) {
      (void)db.ExecScript("ROLLBACK");
      return std::nullopt;
    }
    event_lock = false;  // taken
  }
  const size_t bulk_batches = bulk.size();
  if (event_lock) {
    if (Status locked = db.ExecScript(kEventLock); !locked.ok()) {
      return fail_all(locked.WithContext("taking the event lock"));
    }
  }
  for (size_t i = 0; i < group.size(); ++i) {
    if (in_bulk[i]) continue;
    WriteRequest& request = *group[i];
    WriteResult& result = results[i];
    if (request.claim) {
      auto claimed = writer_->Claim(*request.claim);
      if (!claimed.ok()) {
        if (!savepoints) {
          (void)db.ExecScript("ROLLBACK");
          return std::nullopt;
        }
        return fail_all(claimed.status());
      }
      result.claimed = std::move(*claimed);
      continue;
    }
    result.batches.resize(request.batches.size());
    for (size_t b = 0; b < request.batches.size(); ++b) {
      BatchResult& batch_result = result.batches[b];
      Status status;
      for (int attempt = 0;; ++attempt) {
        batch_result = BatchResult{};
        (void)writer_->TakeWrites();
        status = savepoints ? db.ExecScript("SAVEPOINT batch") : OkStatus();
        if (status.ok()) status = writer_->ApplyBatch(request.batches[b], batch_result, now);
        const bool conflict = !status.ok() && db.LastFailureWasConflict();
        if (status.ok() && savepoints) status = db.ExecScript("RELEASE SAVEPOINT batch");
        if (status.ok()) break;
        if (!savepoints) {
          // A statement failed (the transaction is aborted) or the batch wrote before failing:
          // only savepoints can undo it alone.
          if (db.last_sqlstate() != "" || writer_->TakeWrites() > 0) {
            (void)db.ExecScript("ROLLBACK");
            return std::nullopt;
          }
          break;
        }
        Status rollback = db.ExecScript("ROLLBACK TO SAVEPOINT batch; RELEASE SAVEPOINT batch");
        if (!rollback.ok()) return fail_all(rollback);
        if (!conflict || attempt + 1 >= kConflictRetries) break;
      }
      if (status.ok()) continue;
      std::string duplicate = batch_result.duplicate_of;
      batch_result = BatchResult{};
      batch_result.duplicate_of = duplicate;
      batch_result.status = status;
    }
  }
  if (writer_->TakeWakes()) {
    if (Status notify = db.ExecScript(kWakeChannel); !notify.ok()) return fail_all(notify);
  }
  if (Status commit = db.ExecScript("COMMIT"); !commit.ok()) {
    return fail_all(commit.WithContext("committing"));
  }
  transactions_.fetch_add(1);
  batches_in_bulk_.fetch_add(static_cast<int64_t>(bulk_batches));
  return results;
}

StatusOr<std::vector<BatchResult>> PostgresStore::CommitMany(std::vector<WriteBatch> batches) {
  if (batches.empty()) return std::vector<BatchResult>();
  WriteRequest request{std::move(batches), std::nullopt, {}};
  request.dumps = DumpsOf(request.batches);  // here, so that the group's leader need not
  WriteResult result = queue_->Submit(std::move(request));
  if (!result.status.ok()) return result.status;
  return std::move(result.batches);
}

Status PostgresStore::ReleaseLeases(std::string_view owner) {
  WriteBatch batch;
  batch.Add(ReleaseLeasesOp{std::string(owner)});
  ASSIGN_OR_RETURN(BatchResult result, Commit(std::move(batch)));
  return result.status;
}

StatusOr<int> PostgresStore::PruneFinishedRuns(TimePoint ended_before, int limit) {
  return PruneInBatches(*this, ended_before, limit, options_.prune_batch, Now());
}

StatusOr<std::unique_ptr<PgConnection>> PostgresStore::AcquireReader() {
  if (std::unique_ptr<PgConnection> db = readers_.Take()) return db;
  return PgConnection::Open(options_.url, "store");
}

void PostgresStore::ReturnReader(std::unique_ptr<PgConnection> db) {
  if (db->healthy()) readers_.Keep(std::move(db));
}

// A reader connection borrowed from the pool for one call.
class PostgresStore::ReaderLease {
 public:
  explicit ReaderLease(PostgresStore& store) : store_(store) {}
  ReaderLease(const ReaderLease&) = delete;
  ReaderLease& operator=(const ReaderLease&) = delete;
  ~ReaderLease() {
    if (db_) store_.ReturnReader(std::move(db_));
  }
  [[nodiscard]] StatusOr<PgResult> Exec(const std::string& sql,
                                        const std::vector<PgParam>& params = {}) {
    if (!db_) {
      ASSIGN_OR_RETURN(db_, store_.AcquireReader());
    }
    return db_->Exec(sql, params);
  }

 private:
  PostgresStore& store_;
  std::unique_ptr<PgConnection> db_;
};

StatusOr<std::vector<RunRecord>> PostgresStore::ClaimRuns(std::string_view owner, TimePoint now,
                                                          int max, Duration lease) {
  {
    // Most calls find nothing due: a reader answers those without a write transaction. The order
    // keeps the plan on the due-time index, which holds only timers, ready runs and woken or
    // lapsed leases (store.h), even as a generic plan; a scan of the table would walk every
    // finished run first.
    ReaderLease reader(*this);
    ASSIGN_OR_RETURN(PgResult due,
                     reader.Exec("SELECT 1 FROM runs WHERE due_at <= $1 AND (lease_owner IS NULL "
                                 "OR lease_until < $1) ORDER BY due_at LIMIT 1",
                                 {PgMillis(now)}));
    if (due.rows() == 0) return std::vector<RunRecord>();
  }
  WriteResult result =
      queue_->Submit(WriteRequest{{}, ClaimArgs{std::string(owner), now, max, lease}, {}});
  if (!result.status.ok()) return result.status;
  return std::move(result.claimed);
}

StatusOr<int> PostgresStore::PruneEvents(TimePoint stored_before, int limit) {
  const int batch_size = std::max(1, options_.prune_batch);
  int pruned = 0;
  while (pruned < limit) {
    const int want = std::min(batch_size, limit - pruned);
    // One statement is one transaction: it holds up no writer, and rows being written (an event
    // being marked matched) are skipped rather than waited for.
    ReaderLease connection(*this);
    ASSIGN_OR_RETURN(PgResult deleted,
                     connection.Exec("DELETE FROM events WHERE seq IN (SELECT seq FROM events AS "
                                     "e WHERE ts < $1 AND NOT unmatched AND NOT EXISTS (SELECT 1 "
                                     "FROM runs WHERE trigger_event_id = e.id) ORDER BY seq "
                                     "LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING seq",
                                     {PgMillis(stored_before), PgInt(want)}));
    pruned += deleted.rows();
    if (deleted.rows() < want) break;
  }
  return pruned;
}

StatusOr<std::optional<RunRecord>> PostgresStore::GetRun(std::string_view id) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(
      PgResult r,
      reader.Exec(std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = $1", {PgText(id)}));
  return FirstRow<RunRecord>(r, ReadRun);
}

StatusOr<std::vector<RunRecord>> PostgresStore::ListRuns(const RunFilter& filter) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(
      PgResult r,
      reader.Exec(std::string("SELECT ") + kRunColumns +
                      " FROM runs WHERE ($1::text = '' OR flow_id = $1) AND ($2::text = '' OR "
                      "status = $2) AND ($3::text = '' OR parent_run_id = $3) AND ($4::text = '' "
                      "OR created_order < (SELECT created_order FROM runs WHERE id = $4)) AND "
                      "($6::bigint IS NULL OR created_at >= $6) AND ($7::bigint IS NULL OR "
                      "created_at < $7) ORDER BY created_order DESC LIMIT $5",
                  {PgText(filter.flow_id),
                   PgText(filter.status ? RunStatusName(*filter.status) : std::string_view()),
                   PgText(filter.parent_run_id), PgText(filter.before_id), PgInt(filter.limit),
                   PgMillis(filter.created_since), PgMillis(filter.created_until)}));
  return CollectRows<RunRecord>(r, ReadRun);
}

StatusOr<int64_t> PostgresStore::CountRuns(RunStatus status) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(PgResult r, reader.Exec("SELECT count(*) FROM runs WHERE status = $1",
                                           {PgText(RunStatusName(status))}));
  return r.Int(0, 0);
}

StatusOr<std::vector<NodeRecord>> PostgresStore::ListNodes() {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(
      PgResult r,
      reader.Exec("SELECT n.id, n.started_at, n.heartbeat_at, (SELECT "
                  "count(*) FROM runs WHERE lease_owner = n.id AND ended_at IS NULL) FROM "
                  "nodes AS n ORDER BY n.id"));
  std::vector<NodeRecord> nodes;
  for (int i = 0; i < r.rows(); ++i) {
    nodes.push_back({.id = r.Text(i, 0),
                     .started_at = FromUnixMillis(r.Int(i, 1)),
                     .heartbeat_at = FromUnixMillis(r.Int(i, 2)),
                     .leases = r.Int(i, 3)});
  }
  return nodes;
}

StatusOr<std::vector<JournalEntry>> PostgresStore::LoadJournal(std::string_view run_id) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(PgResult r, reader.Exec("SELECT seq, run_id, step_key, kind, data, at FROM "
                                           "journal WHERE run_id = $1 ORDER BY seq",
                                           {PgText(run_id)}));
  return CollectRows<JournalEntry>(r, [](const PgResult& row, int i) -> StatusOr<JournalEntry> {
    JournalEntry e;
    e.seq = row.Int(i, 0);
    e.run_id = row.Text(i, 1);
    e.step_key = row.Text(i, 2);
    const std::string kind = row.Text(i, 3);
    e.kind = kind == "completed" ? JournalKind::kCompleted
             : kind == "attempt" ? JournalKind::kAttempt
             : kind == "nondet"  ? JournalKind::kNondet
                                 : JournalKind::kStarted;
    ASSIGN_OR_RETURN(e.data, ParseJsonColumn(row, i, 4));
    e.at = FromUnixMillis(row.Int(i, 5));
    return e;
  });
}

StatusOr<std::optional<TimePoint>> PostgresStore::NextDueTime() {
  ReaderLease reader(*this);
  // least() skips NULLs.
  ASSIGN_OR_RETURN(PgResult r,
                   reader.Exec("SELECT least((SELECT due_at FROM runs WHERE due_at IS NOT NULL "
                               "AND lease_owner IS NULL ORDER BY due_at LIMIT 1), (SELECT "
                               "min(due_at) FROM scheduled_events))"));
  return r.OptionalTime(0, 0);
}

StatusOr<std::vector<EventRecord>> PostgresStore::DueScheduledEvents(TimePoint now, int limit) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(PgResult r,
                   reader.Exec("SELECT id, name, data, client_id FROM scheduled_events WHERE "
                               "due_at <= $1 ORDER BY due_at, id LIMIT $2",
                               {PgMillis(now), PgInt(limit)}));
  return CollectRows<EventRecord>(r, [](const PgResult& row, int i) -> StatusOr<EventRecord> {
    EventRecord event;
    event.id = row.Text(i, 0);
    event.name = row.Text(i, 1);
    ASSIGN_OR_RETURN(event.data, ParseJsonColumn(row, i, 2));
    event.client_id = row.Text(i, 3);
    return event;
  });
}

StatusOr<std::optional<EventRecord>> PostgresStore::GetEvent(std::string_view id) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(
      PgResult r, reader.Exec(std::string("SELECT ") + kEventColumns + " FROM events WHERE id = $1",
                              {PgText(id)}));
  return FirstRow<EventRecord>(r, ReadEvent);
}

StatusOr<std::vector<EventRecord>> PostgresStore::ListEvents(const EventFilter& filter) {
  ReaderLease reader(*this);
  const std::string order = filter.newest_first ? " ORDER BY seq DESC" : " ORDER BY seq";
  const std::string select = std::string("SELECT ") + kEventColumns + " FROM events WHERE ";
  StatusOr<PgResult> r = InternalError("unreached");
  if (filter.name.empty()) {
    r = reader.Exec(select + "seq > $1" + order + " LIMIT $2",
                    {PgInt(filter.after_seq), PgInt(filter.limit)});
  } else if (filter.stored_since) {
    r = reader.Exec(
        select + "name = $1 AND seq > $5 AND (seq > $2 OR ts >= $3)" + order + " LIMIT $4",
        {PgText(filter.name), PgInt(filter.after_seq), PgMillis(*filter.stored_since),
         PgInt(filter.limit), PgInt(filter.page_after_seq)});
  } else {
    r = reader.Exec(select + "name = $1 AND seq > $2" + order + " LIMIT $3",
                    {PgText(filter.name), PgInt(filter.after_seq), PgInt(filter.limit)});
  }
  if (!r.ok()) return r.status();
  return CollectRows<EventRecord>(*r, ReadEvent);
}

StatusOr<std::vector<EventRecord>> PostgresStore::UnmatchedEvents(int limit) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(PgResult r, reader.Exec(std::string("SELECT ") + kEventColumns +
                                               " FROM events WHERE unmatched ORDER BY seq LIMIT $1",
                                           {PgInt(limit)}));
  return CollectRows<EventRecord>(r, ReadEvent);
}

StatusOr<bool> PostgresStore::HasWaits(std::string_view event_name) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(PgResult r, reader.Exec("SELECT 1 FROM waits WHERE event_name = $1 LIMIT 1",
                                           {PgText(event_name)}));
  return r.rows() > 0;
}

StatusOr<std::vector<std::string>> PostgresStore::WaitPaths(std::string_view event_name) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(
      PgResult r,
      reader.Exec("SELECT match_path FROM wait_paths WHERE event_name = $1", {PgText(event_name)}));
  return CollectRows<std::string>(
      r, [](const PgResult& row, int i) -> StatusOr<std::string> { return row.Text(i, 0); });
}

StatusOr<std::vector<WaitRecord>> PostgresStore::FindIndexedWaits(std::string_view event_name,
                                                                  std::string_view match_path,
                                                                  std::string_view match_key,
                                                                  std::string_view after_id,
                                                                  int limit) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(PgResult r,
                   reader.Exec(std::string("SELECT ") + kWaitColumns +
                                   " FROM waits WHERE event_name = $1 AND match_path = $2 AND "
                                   "match_key = $3 AND id > $4 ORDER BY id LIMIT $5",
                               {PgText(event_name), PgText(match_path), PgText(match_key),
                                PgText(after_id), PgInt(limit)}));
  return CollectRows<WaitRecord>(r, ReadWait);
}

StatusOr<std::vector<WaitRecord>> PostgresStore::ScanWaits(std::string_view event_name,
                                                           std::string_view after_id, int limit) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(PgResult r,
                   reader.Exec(std::string("SELECT ") + kWaitColumns +
                                   " FROM waits WHERE event_name = $1 AND match_path = '' AND "
                                   "id > $2 ORDER BY id LIMIT $3",
                               {PgText(event_name), PgText(after_id), PgInt(limit)}));
  return CollectRows<WaitRecord>(r, ReadWait);
}

StatusOr<std::vector<WaitRecord>> PostgresStore::WaitsOfRun(std::string_view run_id) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(PgResult r, reader.Exec(std::string("SELECT ") + kWaitColumns +
                                               " FROM waits WHERE run_id = $1",
                                           {PgText(run_id)}));
  return CollectRows<WaitRecord>(r, ReadWait);
}

StatusOr<std::vector<WaitRecord>> PostgresStore::UnscannedWaits(int limit) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(PgResult r,
                   reader.Exec(std::string("SELECT ") + kWaitColumns +
                                   " FROM waits WHERE unscanned ORDER BY created_at LIMIT $1",
                               {PgInt(limit)}));
  return CollectRows<WaitRecord>(r, ReadWait);
}

StatusOr<std::optional<FlowRevisionRecord>> PostgresStore::GetFlowRevision(
    std::string_view flow_id, std::string_view revision) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(PgResult r, reader.Exec("SELECT flow_id, revision, document, created_at FROM "
                                           "flow_revisions WHERE flow_id = $1 AND revision = $2",
                                           {PgText(flow_id), PgText(revision)}));
  return FirstRow<FlowRevisionRecord>(r, ReadRevision);
}

StatusOr<std::vector<FlowRevisionRecord>> PostgresStore::ListFlowRevisions(
    std::string_view flow_id) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(PgResult r, reader.Exec("SELECT flow_id, revision, document, created_at FROM "
                                           "flow_revisions WHERE flow_id = $1 ORDER BY created_at",
                                           {PgText(flow_id)}));
  return CollectRows<FlowRevisionRecord>(r, ReadRevision);
}

StatusOr<std::vector<std::pair<std::string, std::string>>> PostgresStore::ActiveRevisions() {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(PgResult r, reader.Exec("SELECT DISTINCT flow_id, revision FROM runs WHERE "
                                           "ended_at IS NULL ORDER BY flow_id, revision"));
  return CollectRows<std::pair<std::string, std::string>>(
      r, [](const PgResult& row, int i) -> StatusOr<std::pair<std::string, std::string>> {
        return std::make_pair(row.Text(i, 0), row.Text(i, 1));
      });
}

StatusOr<std::optional<TimePoint>> PostgresStore::LastCronTick(std::string_view flow_id) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(PgResult r, reader.Exec("SELECT max(tick) FROM cron_ticks WHERE flow_id = $1",
                                           {PgText(flow_id)}));
  return r.OptionalTime(0, 0);
}

}  // namespace flowrun::store

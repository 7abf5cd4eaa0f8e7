#include "store/sqlite_store.h"

#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <filesystem>
#include <type_traits>

#include "common/log.h"
#include "store/claim_sql.h"
#include "store/clean_shutdown_marker.h"
#include "store/flow_control_rules.h"
#include "store/integrity_check.h"
#include "store/lease_fence.h"
#include "store/migrations.h"
#include "store/prune_in_batches.h"

namespace flowrun::store {
namespace {

constexpr char kRunColumns[] =
    "id, flow_id, revision, status, event, trigger_event_id, output, error, created_at, "
    "updated_at, ended_at, due_at, deadline, parent_run_id, parent_step_key, concurrency_key, "
    "concurrency_limit, idempotency_key, cancel_requested, event_mark, lease_owner, lease_until, "
    "lease_token, events, skip_reason, singleton_key";
// How long Claim sets aside a run whose concurrency key has no free slot, unless a slot frees
// first. Bounds the wait when a slot's holder died without giving it back.
constexpr Duration kConcurrencyRecheck = std::chrono::seconds(2);
constexpr char kEventColumns[] = "seq, id, name, data, ts, client_id";
constexpr char kWaitColumns[] =
    "id, run_id, kind, flow_id, revision, step_key, step_id, event_name, match_path, match_key, "
    "since_seq, lookback_from, timeout_at, created_at, context";

std::optional<TimePoint> OptionalTime(const sqlite::Statement& s, int column) {
  auto value = s.OptionalInt(column);
  if (!value) return std::nullopt;
  return FromUnixMillis(*value);
}

std::optional<int64_t> OptionalMillis(const std::optional<TimePoint>& t) {
  if (!t) return std::nullopt;
  return ToUnixMillis(*t);
}

StatusOr<Json> ParseJsonColumn(const sqlite::Statement& s, int column) {
  if (s.IsNull(column)) return Json();
  Json value = Json::parse(s.Text(column), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return DataLossError("the store holds malformed JSON");
  return value;
}

StatusOr<RunRecord> ReadRun(const sqlite::Statement& s) {
  RunRecord run;
  run.id = s.Text(0);
  run.flow_id = s.Text(1);
  run.revision = s.Text(2);
  ASSIGN_OR_RETURN(run.status, ParseRunStatus(s.Text(3)));
  ASSIGN_OR_RETURN(run.event, ParseJsonColumn(s, 4));
  run.trigger_event_id = s.Text(5);
  ASSIGN_OR_RETURN(run.output, ParseJsonColumn(s, 6));
  ASSIGN_OR_RETURN(run.error, ParseJsonColumn(s, 7));
  run.created_at = FromUnixMillis(s.Int(8));
  run.updated_at = FromUnixMillis(s.Int(9));
  run.ended_at = OptionalTime(s, 10);
  run.due_at = OptionalTime(s, 11);
  run.deadline = OptionalTime(s, 12);
  run.parent_run_id = s.Text(13);
  run.parent_step_key = s.Text(14);
  run.concurrency_key = s.Text(15);
  run.concurrency_limit = static_cast<int>(s.Int(16));
  run.idempotency_key = s.Text(17);
  run.cancel_requested = s.Int(18) != 0;
  run.event_mark = s.Int(19);
  run.lease_owner = s.Text(20);
  run.lease_until = OptionalTime(s, 21);
  run.lease_token = s.Int(22);
  ASSIGN_OR_RETURN(run.events, ParseJsonColumn(s, 23));
  run.skip_reason = s.Text(24);
  run.singleton_key = s.Text(25);
  return run;
}

StatusOr<EventRecord> ReadEvent(const sqlite::Statement& s) {
  EventRecord event;
  event.seq = s.Int(0);
  event.id = s.Text(1);
  event.name = s.Text(2);
  ASSIGN_OR_RETURN(event.data, ParseJsonColumn(s, 3));
  event.ts = FromUnixMillis(s.Int(4));
  event.client_id = s.Text(5);
  return event;
}

StatusOr<WaitRecord> ReadWait(const sqlite::Statement& s) {
  WaitRecord wait;
  wait.id = s.Text(0);
  wait.run_id = s.Text(1);
  wait.kind = s.Text(2) == "cancel" ? WaitRecord::Kind::kCancel : WaitRecord::Kind::kStep;
  wait.flow_id = s.Text(3);
  wait.revision = s.Text(4);
  wait.step_key = s.Text(5);
  wait.step_id = s.Text(6);
  wait.event_name = s.Text(7);
  wait.match_path = s.Text(8);
  wait.match_key = s.Text(9);
  wait.since_seq = s.Int(10);
  wait.lookback_from = OptionalTime(s, 11);
  wait.timeout_at = OptionalTime(s, 12);
  wait.created_at = FromUnixMillis(s.Int(13));
  ASSIGN_OR_RETURN(wait.context, ParseJsonColumn(s, 14));
  return wait;
}

std::string NullableJson(const Json& value) { return value.is_null() ? "" : value.dump(); }

// The JSON columns of `op`, in the order its Apply reads them with Writer::Column.
std::vector<std::string> SerializeColumns(const WriteOp& op) {
  if (const auto* o = std::get_if<InsertEventOp>(&op)) return {o->event.data.dump()};
  if (const auto* o = std::get_if<CreateRunOp>(&op)) {
    return {o->run.event.dump(), NullableJson(o->run.output), NullableJson(o->run.error),
            NullableJson(o->run.events)};
  }
  if (const auto* o = std::get_if<UpdateRunOp>(&op)) {
    return {NullableJson(o->output), NullableJson(o->error)};
  }
  if (const auto* o = std::get_if<AppendJournalOp>(&op)) return {o->entry.data.dump()};
  if (const auto* o = std::get_if<RegisterWaitOp>(&op)) return {o->wait.context.dump()};
  return {};
}

// Binds text, or NULL when empty.
void BindTextOrNull(sqlite::Statement& s, int index, std::string_view text) {
  if (text.empty()) {
    s.BindNull(index);
  } else {
    s.Bind(index, text);
  }
}

template <typename T, typename ReadFn>
StatusOr<std::vector<T>> CollectRows(sqlite::Statement& s, ReadFn read) {
  std::vector<T> rows;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    ASSIGN_OR_RETURN(T value, read(s));
    rows.push_back(std::move(value));
  }
  s.Reset();
  return rows;
}

// The first row of a lookup by key, or nullopt when there is none.
template <typename T, typename ReadFn>
StatusOr<std::optional<T>> FirstRow(sqlite::Statement& s, ReadFn read) {
  ASSIGN_OR_RETURN(std::vector<T> rows, CollectRows<T>(s, read));
  if (rows.empty()) return std::optional<T>();
  return std::optional<T>(std::move(rows.front()));
}

}  // namespace

// The writer connection and the code that applies each operation. Used by one thread at a time:
// the leader of the current group commit.
class SqliteStore::Writer {
 public:
  Writer(std::unique_ptr<sqlite::Connection> db, const SqliteStore& store)
      : db_(std::move(db)), store_(store) {}

  sqlite::Connection& db() { return *db_; }
  int64_t transactions() const { return transactions_.load(); }

  // Reads the journal's seq counter. Called at the start of every write transaction, under the
  // write lock: other processes on the same file hand out seqs too.
  Status LoadCounters() {
    ASSIGN_OR_RETURN(sqlite::Statement * select,
                     db_->Prepare("SELECT value FROM counters WHERE name = 'journal_seq'"));
    ASSIGN_OR_RETURN(bool row, select->Step());
    journal_seq_ = saved_journal_seq_ = row ? select->Int(0) : 0;
    select->Reset();
    return OkStatus();
  }
  // Writes the seq counter into the current transaction when it moved; call before COMMIT.
  Status SaveCounters() {
    if (journal_seq_ == saved_journal_seq_) return OkStatus();
    ASSIGN_OR_RETURN(sqlite::Statement * update,
                     db_->Prepare("INSERT OR REPLACE INTO counters (name, value) VALUES "
                                  "('journal_seq', ?1)"));
    update->Bind(1, journal_seq_);
    return update->Run();
  }
  // After a COMMIT: the counter as saved is durable.
  void CountersCommitted() { saved_journal_seq_ = journal_seq_; }
  void CountTransaction() { transactions_.fetch_add(1); }

  // Applies one batch inside the current transaction. `columns` holds the serialized JSON
  // columns of its ops (SerializeColumns), or is empty.
  Status ApplyBatch(WriteBatch& batch, const std::vector<OpColumns>& columns, BatchResult& result,
                    TimePoint now) {
    for (size_t i = 0; i < batch.ops.size(); ++i) {
      columns_ = i < columns.size() ? &columns[i] : nullptr;
      Status status = std::visit([&](auto& o) { return Apply(o, result, now); }, batch.ops[i]);
      columns_ = nullptr;
      if (!status.ok()) return status;
    }
    return OkStatus();
  }

  // Deletes the events of `args` that still qualify for PruneEvents; returns how many.
  StatusOr<int> DeleteEvents(const PruneEventsArgs& args) {
    ASSIGN_OR_RETURN(sqlite::Statement * remove,
                     db_->Prepare("DELETE FROM events WHERE seq = ?1 AND ts < ?2 AND unmatched = 0 "
                                  "AND NOT EXISTS (SELECT 1 FROM runs WHERE trigger_event_id = "
                                  "events.id)"));
    int deleted = 0;
    for (int64_t seq : args.seqs) {
      remove->Bind(1, seq).Bind(2, ToUnixMillis(args.stored_before));
      RETURN_IF_ERROR(remove->Run());
      deleted += static_cast<int>(db_->Changes());
    }
    return deleted;
  }

  StatusOr<std::vector<RunRecord>> Claim(const ClaimArgs& args) {
    ASSIGN_OR_RETURN(
        sqlite::Statement * candidates,
        db_->Prepare("SELECT id, flow_id, concurrency_key, concurrency_limit, extra_slots, "
                     "status FROM runs WHERE due_at <= ?1 AND (lease_owner IS NULL OR "
                     "lease_until < ?1) ORDER BY due_at LIMIT ?2"));
    candidates->Bind(1, ToUnixMillis(args.now)).Bind(2, static_cast<int64_t>(args.max) * 4 + 16);
    struct Candidate {
      std::string id, flow_id, key;
      int64_t limit;
      std::string extra_slots;  // JSON [[key, limit], ...], or empty
      std::string status;       // as found: the claimed run comes back with it
    };
    std::vector<Candidate> list;
    for (;;) {
      ASSIGN_OR_RETURN(bool row, candidates->Step());
      if (!row) break;
      list.push_back({candidates->Text(0), candidates->Text(1), candidates->Text(2),
                      candidates->Int(3), candidates->Text(4), candidates->Text(5)});
    }
    candidates->Reset();
    ASSIGN_OR_RETURN(sqlite::Statement * slots,
                     db_->Prepare("SELECT count(*) FROM runs WHERE flow_id = ?1 AND "
                                  "concurrency_key = ?2 AND lease_owner IS NOT NULL AND "
                                  "lease_until >= ?3"));
    // wakeup = 1 marks the run as set aside for a slot (WakeNextHeldRun); the claim resets it.
    ASSIGN_OR_RETURN(sqlite::Statement * held,
                     db_->Prepare("UPDATE runs SET due_at = ?2, wakeup = 1 WHERE id = ?1"));
    ASSIGN_OR_RETURN(sqlite::Statement * lease,
                     db_->Prepare(std::string("UPDATE runs SET lease_owner = ?2, lease_until = ?3, "
                                              "due_at = ?3, lease_token = lease_token + 1, "
                                              "wakeup = 0, ") +
                                  kStartQueuedRun + " WHERE id = ?1 RETURNING " + kRunColumns));
    std::vector<RunRecord> claimed;
    for (const Candidate& c : list) {
      if (static_cast<int>(claimed.size()) >= args.max) break;
      if (!c.key.empty() && c.limit > 0) {
        slots->Bind(1, c.flow_id).Bind(2, c.key).Bind(3, ToUnixMillis(args.now));
        ASSIGN_OR_RETURN(bool row, slots->Step());
        int64_t used = row ? slots->Int(0) : 0;
        slots->Reset();
        if (used >= c.limit) {
          // Steps aside so that runs of other keys behind it are reached; a run of its key that
          // gives its slot back wakes it sooner (WakeNextHeldRun).
          held->Bind(1, c.id).Bind(2, ToUnixMillis(args.now + kConcurrencyRecheck));
          RETURN_IF_ERROR(held->Run());
          continue;
        }
      }
      std::vector<std::string> slot_keys;
      if (!c.extra_slots.empty()) {
        ASSIGN_OR_RETURN(bool free, ExtraSlotsFree(c.flow_id, c.extra_slots, args.now, slot_keys));
        if (!free) {
          held->Bind(1, c.id).Bind(2, ToUnixMillis(args.now + kConcurrencyRecheck));
          RETURN_IF_ERROR(held->Run());
          continue;
        }
      }
      lease->Bind(1, c.id).Bind(2, args.owner).Bind(3, ToUnixMillis(args.now + args.lease));
      ASSIGN_OR_RETURN(bool row, lease->Step());
      if (!row) {
        lease->Reset();
        continue;
      }
      auto run = ReadRun(*lease);
      lease->Reset();
      if (!run.ok()) return run.status();
      ASSIGN_OR_RETURN(run->status, ParseRunStatus(c.status));
      RETURN_IF_ERROR(HoldSlots(c.flow_id, c.id, slot_keys));
      claimed.push_back(std::move(*run));
    }
    return claimed;
  }

 private:
  // Whether every extra slot of a run (`slots`, JSON [[key, limit], ...]) has a free place at
  // `now`; fills `keys` with their keys.
  StatusOr<bool> ExtraSlotsFree(const std::string& flow_id, const std::string& slots, TimePoint now,
                                std::vector<std::string>& keys) {
    Json list = Json::parse(slots, nullptr, /*allow_exceptions=*/false);
    if (!list.is_array()) return DataLossError("the store holds malformed concurrency slots");
    ASSIGN_OR_RETURN(
        sqlite::Statement * used,
        db_->Prepare("SELECT count(*) FROM run_slots AS s JOIN runs AS r ON r.id = s.run_id "
                     "WHERE s.flow_id = ?1 AND s.slot_key = ?2 AND r.lease_owner IS NOT NULL "
                     "AND r.lease_until >= ?3"));
    for (const Json& slot : list) {
      if (!slot.is_array() || slot.size() != 2 || !slot[0].is_string() ||
          !slot[1].is_number_integer()) {
        return DataLossError("the store holds malformed concurrency slots");
      }
      used->Bind(1, flow_id).Bind(2, slot[0].get<std::string>()).Bind(3, ToUnixMillis(now));
      ASSIGN_OR_RETURN(bool row, used->Step());
      const int64_t count = row ? used->Int(0) : 0;
      used->Reset();
      if (count >= slot[1].get<int64_t>()) return false;
      keys.push_back(slot[0].get<std::string>());
    }
    return true;
  }

  // Records that a run just leased holds its extra slots (released with its lease, ReleaseSlots).
  Status HoldSlots(const std::string& flow_id, const std::string& run_id,
                   const std::vector<std::string>& keys) {
    if (keys.empty()) return OkStatus();
    ASSIGN_OR_RETURN(sqlite::Statement * hold,
                     db_->Prepare("INSERT OR IGNORE INTO run_slots (flow_id, slot_key, run_id) "
                                  "VALUES (?1, ?2, ?3)"));
    for (const std::string& key : keys) {
      hold->Bind(1, flow_id).Bind(2, key).Bind(3, run_id);
      RETURN_IF_ERROR(hold->Run());
    }
    return OkStatus();
  }

  Status ReleaseSlots(const std::string& run_id) {
    ASSIGN_OR_RETURN(sqlite::Statement * release,
                     db_->Prepare("DELETE FROM run_slots WHERE run_id = ?1"));
    release->Bind(1, run_id);
    return release->Run();
  }

  Status Apply(InsertEventOp& op, BatchResult& result, TimePoint now) {
    EventRecord& event = op.event;
    if (!event.client_id.empty()) {
      ASSIGN_OR_RETURN(sqlite::Statement * seen,
                       db_->Prepare("SELECT event_id FROM event_dedupe WHERE client_id = ?1 AND "
                                    "expires_at > ?2"));
      seen->Bind(1, event.client_id).Bind(2, ToUnixMillis(now));
      ASSIGN_OR_RETURN(bool row, seen->Step());
      if (row) {
        std::string first = seen->Text(0);
        seen->Reset();
        if (op.duplicate_aborts_batch) {
          result.duplicate_of = first;
          return AlreadyExistsError("event id " + event.client_id + " was already received");
        }
        return OkStatus();
      }
      seen->Reset();
    }
    // Whether pending waits may want the event: decided here, in the transaction, so that a wait
    // registered by a commit after this one scans for the event instead (ScanWaits).
    ASSIGN_OR_RETURN(sqlite::Statement * waited,
                     db_->Prepare("SELECT EXISTS (SELECT 1 FROM waits WHERE event_name = ?1)"));
    waited->Bind(1, event.name);
    ASSIGN_OR_RETURN(bool row, waited->Step());
    const bool wanted = row && waited->Int(0) != 0;
    waited->Reset();
    // (Not INSERT ... RETURNING: SQLite gathers RETURNING rows in a temporary table, which cost
    // more than this lookup.)
    ASSIGN_OR_RETURN(sqlite::Statement * insert,
                     db_->Prepare("INSERT OR IGNORE INTO events (id, name, data, ts, client_id, "
                                  "unmatched) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
    insert->Bind(1, event.id).Bind(2, event.name).Bind(3, Column(0, event.data, false));
    insert->Bind(4, ToUnixMillis(event.ts));
    BindTextOrNull(*insert, 5, event.client_id);
    insert->Bind(6, static_cast<int64_t>(wanted ? 1 : 0));
    RETURN_IF_ERROR(insert->Run());
    if (db_->Changes() == 0) return OkStatus();  // the same deterministic id: already stored
    event.seq = sqlite3_last_insert_rowid(db_->handle());
    result.inserted_events.push_back(event.id);
    if (wanted) result.events_to_match.push_back(event);
    if (!event.client_id.empty()) {
      ASSIGN_OR_RETURN(sqlite::Statement * dedupe,
                       db_->Prepare("INSERT OR REPLACE INTO event_dedupe (client_id, event_id, "
                                    "expires_at) VALUES (?1, ?2, ?3)"));
      dedupe->Bind(1, event.client_id).Bind(2, event.id);
      dedupe->Bind(3, ToUnixMillis(now + op.dedupe_window));
      RETURN_IF_ERROR(dedupe->Run());
    }
    return OkStatus();
  }

  Status Apply(CreateRunOp& op, BatchResult& result, TimePoint now) {
    RunRecord& run = op.run;
    if (!run.idempotency_key.empty()) {
      ASSIGN_OR_RETURN(sqlite::Statement * seen,
                       db_->Prepare("SELECT 1 FROM idempotency WHERE flow_id = ?1 AND key = ?2 "
                                    "AND expires_at > ?3"));
      seen->Bind(1, run.flow_id).Bind(2, run.idempotency_key).Bind(3, ToUnixMillis(now));
      ASSIGN_OR_RETURN(bool row, seen->Step());
      seen->Reset();
      if (row) {
        result.skipped_runs.push_back(run.id);
        return OkStatus();
      }
    }
    if (op.HasFlowControl()) {
      ASSIGN_OR_RETURN(bool proceed, ApplyFlowControl(op, result, now));
      if (!proceed) return OkStatus();
    }
    ASSIGN_OR_RETURN(
        sqlite::Statement * insert,
        db_->Prepare(
            "INSERT OR IGNORE INTO runs (id, flow_id, revision, status, event, "
            "trigger_event_id, created_at, updated_at, due_at, deadline, parent_run_id, "
            "parent_step_key, concurrency_key, concurrency_limit, idempotency_key, "
            "lease_owner, lease_until, output, error, ended_at, event_mark, events, "
            "skip_reason, singleton_key, extra_slots, lease_token) VALUES (?1, ?2, ?3, ?4, ?5, "
            "?6, ?7, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, (SELECT "
            "coalesce(max(seq), 0) FROM events), ?20, ?21, ?22, ?23, CASE WHEN ?15 IS NULL THEN "
            "0 ELSE ?24 END)"));
    insert->Bind(1, run.id).Bind(2, run.flow_id).Bind(3, run.revision);
    insert->Bind(4, RunStatusName(run.status)).Bind(5, Column(0, run.event, false));
    BindTextOrNull(*insert, 6, run.trigger_event_id);
    insert->Bind(7, ToUnixMillis(run.created_at));
    insert->Bind(8, OptionalMillis(run.due_at)).Bind(9, OptionalMillis(run.deadline));
    BindTextOrNull(*insert, 10, run.parent_run_id);
    BindTextOrNull(*insert, 11, run.parent_step_key);
    BindTextOrNull(*insert, 12, run.concurrency_key);
    insert->Bind(13, static_cast<int64_t>(run.concurrency_limit));
    BindTextOrNull(*insert, 14, run.idempotency_key);
    BindTextOrNull(*insert, 15, run.lease_owner);
    insert->Bind(16, OptionalMillis(run.lease_until));
    BindTextOrNull(*insert, 17, Column(1, run.output, true));
    BindTextOrNull(*insert, 18, Column(2, run.error, true));
    insert->Bind(19, OptionalMillis(run.ended_at));
    BindTextOrNull(*insert, 20, Column(3, run.events, true));
    BindTextOrNull(*insert, 21, run.skip_reason);
    BindTextOrNull(*insert, 22, run.ended_at ? std::string_view() : run.singleton_key);
    std::string slots;
    if (!op.extra_slots.empty()) {
      Json list = Json::array();
      for (const ConcurrencySlot& slot : op.extra_slots) list.push_back({slot.key, slot.limit});
      slots = list.dump();
    }
    BindTextOrNull(*insert, 23, slots);
    insert->Bind(24, kFirstLeaseToken);
    RETURN_IF_ERROR(insert->Run());
    if (db_->Changes() == 0) {
      result.skipped_runs.push_back(run.id);
      return OkStatus();
    }
    if (op.gather && !run.ended_at) RETURN_IF_ERROR(OpenGather(op, now));
    if (!run.idempotency_key.empty()) {
      ASSIGN_OR_RETURN(sqlite::Statement * key,
                       db_->Prepare("INSERT OR REPLACE INTO idempotency (flow_id, key, run_id, "
                                    "expires_at) VALUES (?1, ?2, ?3, ?4)"));
      key->Bind(1, run.flow_id).Bind(2, run.idempotency_key).Bind(3, run.id);
      key->Bind(4, ToUnixMillis(now + op.idempotency_window));
      RETURN_IF_ERROR(key->Run());
    }
    for (const WaitRecord& wait : op.waits) {
      RegisterWaitOp register_op{wait};
      columns_ = nullptr;  // the run's columns are not the wait's
      RETURN_IF_ERROR(Apply(register_op, result, now));
    }
    result.created_runs.push_back(run.id);
    return OkStatus();
  }

  // Steps 1 to 5 of flow control (store.h). Returns false when no run is to be inserted (it
  // exists, or the event joined an open gather); otherwise adjusts `op.run` (skipped, delayed).
  StatusOr<bool> ApplyFlowControl(CreateRunOp& op, BatchResult& result, TimePoint now) {
    RunRecord& run = op.run;
    // A run planned again for the same cause has the same id (deterministic_id.h), so looking it up
    // finds a replay before it spends a token or joins a gather.
    ASSIGN_OR_RETURN(sqlite::Statement * exists, db_->Prepare("SELECT 1 FROM runs WHERE id = ?1"));
    exists->Bind(1, run.id);
    ASSIGN_OR_RETURN(bool found, exists->Step());
    exists->Reset();
    if (found) {
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
      ASSIGN_OR_RETURN(rate_tat, LoadTat(run.flow_id, "rate_limit", op.rate_limit->key, now));
      if (auto allowed_at = RateLimitRefusal(*op.rate_limit, rate_tat, ToUnixMillis(now))) {
        RETURN_IF_ERROR(Skip(op, result, now, "rate_limit", RateLimitSkipMessage(*allowed_at)));
        return true;
      }
    }
    if (op.singleton) {
      ASSIGN_OR_RETURN(
          sqlite::Statement * running,
          db_->Prepare("SELECT id FROM runs WHERE flow_id = ?1 AND singleton_key = ?2 AND "
                       "ended_at IS NULL"));
      running->Bind(1, run.flow_id).Bind(2, op.singleton->key);
      std::vector<std::string> ids;
      for (;;) {
        ASSIGN_OR_RETURN(bool row, running->Step());
        if (!row) break;
        ids.push_back(running->Text(0));
      }
      running->Reset();
      run.singleton_key = op.singleton->key;
      if (!ids.empty() && op.singleton->mode == SingletonRule::Mode::kSkip) {
        RETURN_IF_ERROR(Skip(op, result, now, "singleton", SingletonSkipMessage(ids.front())));
        return true;
      }
      for (const std::string& id : ids) {
        RETURN_IF_ERROR(Wake(id, now, /*cancel=*/true));
        result.cancelled_runs.push_back(id);
      }
    }
    if (op.rate_limit) {
      RETURN_IF_ERROR(StoreTat(run.flow_id, "rate_limit", op.rate_limit->key,
                               rate_tat + DurationMillis(op.rate_limit->interval)));
    }
    if (op.throttle) {
      ASSIGN_OR_RETURN(int64_t tat, LoadTat(run.flow_id, "throttle", op.throttle->key, now));
      const int64_t start = ThrottleStart(*op.throttle, tat, ToUnixMillis(now));
      RETURN_IF_ERROR(StoreTat(run.flow_id, "throttle", op.throttle->key,
                               tat + DurationMillis(op.throttle->interval)));
      DelayToThrottleStart(op, start, ToUnixMillis(now), result);
    }
    return true;
  }

  // Makes `op.run` a finished, skipped run (SkipRun) and tells an invoked run's parent.
  Status Skip(CreateRunOp& op, BatchResult& result, TimePoint now, const std::string& reason,
              const std::string& message) {
    std::optional<JournalEntry> parent_failed = SkipRun(op, result, now, reason, message);
    // The run's JSON columns serialized before this point no longer hold (its error is set).
    columns_ = nullptr;
    if (!parent_failed) return OkStatus();
    const std::string parent = parent_failed->run_id;
    AppendJournalOp failed{std::move(*parent_failed)};
    RETURN_IF_ERROR(Apply(failed, result, now));
    return Wake(parent, now, /*cancel=*/false);
  }

  // The stored theoretical arrival time of (flow, kind, key), or `now` when none or past.
  StatusOr<int64_t> LoadTat(const std::string& flow_id, std::string_view kind,
                            const std::string& key, TimePoint now) {
    ASSIGN_OR_RETURN(sqlite::Statement * select,
                     db_->Prepare("SELECT tat FROM rate_state WHERE flow_id = ?1 AND kind = ?2 "
                                  "AND key = ?3"));
    select->Bind(1, flow_id).Bind(2, kind).Bind(3, key);
    ASSIGN_OR_RETURN(bool row, select->Step());
    const int64_t stored = row ? select->Int(0) : 0;
    select->Reset();
    return std::max<int64_t>(stored, ToUnixMillis(now));
  }

  Status StoreTat(const std::string& flow_id, std::string_view kind, const std::string& key,
                  int64_t tat) {
    ASSIGN_OR_RETURN(sqlite::Statement * upsert,
                     db_->Prepare("INSERT OR REPLACE INTO rate_state (flow_id, kind, key, tat) "
                                  "VALUES (?1, ?2, ?3, ?4)"));
    upsert->Bind(1, flow_id).Bind(2, kind).Bind(3, key).Bind(4, tat);
    return upsert->Run();
  }

  // Step 2 of flow control: joins the event of `op` to the open gather of its key, if any.
  StatusOr<bool> JoinGather(CreateRunOp& op, BatchResult& result, TimePoint now) {
    const GatherSpec& gather = *op.gather;
    const RunRecord& run = op.run;
    ASSIGN_OR_RETURN(
        sqlite::Statement * open,
        db_->Prepare("SELECT g.run_id, g.first_at, g.size FROM gathers AS g JOIN runs AS r ON "
                     "r.id = g.run_id WHERE g.flow_id = ?1 AND g.kind = ?2 AND g.key = ?3 AND "
                     "r.status = 'queued' AND r.lease_owner IS NULL AND r.due_at > ?4"));
    open->Bind(1, run.flow_id).Bind(2, GatherKindName(gather)).Bind(3, gather.key);
    open->Bind(4, ToUnixMillis(now));
    ASSIGN_OR_RETURN(bool row, open->Step());
    if (!row) {
      open->Reset();
      return false;
    }
    const std::string target = open->Text(0);
    const int64_t first_at = open->Int(1);
    const int64_t size = open->Int(2) + 1;
    open->Reset();
    if (gather.kind == GatherSpec::Kind::kDebounce) {
      ASSIGN_OR_RETURN(sqlite::Statement * update,
                       db_->Prepare("UPDATE runs SET event = ?2, trigger_event_id = ?3, due_at = "
                                    "?4, updated_at = ?5 WHERE id = ?1"));
      update->Bind(1, target).Bind(2, Column(0, run.event, false));
      BindTextOrNull(*update, 3, run.trigger_event_id);
      update->Bind(4, DebounceDue(gather, first_at, ToUnixMillis(now))).Bind(5, ToUnixMillis(now));
      RETURN_IF_ERROR(update->Run());
    } else {
      const bool full = size >= gather.max_size;
      ASSIGN_OR_RETURN(
          sqlite::Statement * update,
          db_->Prepare("UPDATE runs SET events = json_insert(coalesce(events, '[]'), '$[#]', "
                       "json(?2)), due_at = CASE WHEN ?3 THEN ?4 ELSE due_at END, updated_at = "
                       "?4 WHERE id = ?1"));
      update->Bind(1, target).Bind(2, Column(0, run.event, false));
      update->Bind(3, static_cast<int64_t>(full)).Bind(4, ToUnixMillis(now));
      RETURN_IF_ERROR(update->Run());
      if (full) {
        ASSIGN_OR_RETURN(sqlite::Statement * close,
                         db_->Prepare("DELETE FROM gathers WHERE flow_id = ?1 AND kind = ?2 AND "
                                      "key = ?3"));
        close->Bind(1, run.flow_id).Bind(2, GatherKindName(gather)).Bind(3, gather.key);
        RETURN_IF_ERROR(close->Run());
        result.merged_runs.emplace_back(run.id, target);
        return true;
      }
    }
    ASSIGN_OR_RETURN(sqlite::Statement * grow,
                     db_->Prepare("UPDATE gathers SET size = ?4 WHERE flow_id = ?1 AND kind = ?2 "
                                  "AND key = ?3"));
    grow->Bind(1, run.flow_id).Bind(2, GatherKindName(gather)).Bind(3, gather.key).Bind(4, size);
    RETURN_IF_ERROR(grow->Run());
    result.merged_runs.emplace_back(run.id, target);
    return true;
  }

  // Opens the gather of a run just created (unless a batch of one is already full).
  Status OpenGather(const CreateRunOp& op, TimePoint now) {
    const GatherSpec& gather = *op.gather;
    if (gather.kind == GatherSpec::Kind::kBatch && gather.max_size <= 1) return OkStatus();
    ASSIGN_OR_RETURN(sqlite::Statement * insert,
                     db_->Prepare("INSERT OR REPLACE INTO gathers (flow_id, kind, key, run_id, "
                                  "first_at, size) VALUES (?1, ?2, ?3, ?4, ?5, 1)"));
    insert->Bind(1, op.run.flow_id).Bind(2, GatherKindName(gather)).Bind(3, gather.key);
    insert->Bind(4, op.run.id).Bind(5, ToUnixMillis(now));
    return insert->Run();
  }

  Status Apply(UpdateRunOp& op, BatchResult&, TimePoint now) {
    ASSIGN_OR_RETURN(
        sqlite::Statement * update,
        db_->Prepare(
            "UPDATE runs SET status = ?2, "
            "due_at = CASE WHEN ?6 IS NOT NULL THEN NULL "
            "  WHEN wakeup = 1 AND due_at IS NOT NULL AND (?3 IS NULL OR due_at < ?3) THEN due_at "
            "  ELSE ?3 END, "
            "output = ?4, error = ?5, ended_at = ?6, updated_at = ?7, "
            "event_mark = (SELECT coalesce(max(seq), 0) FROM events), "
            "lease_owner = CASE WHEN ?8 THEN NULL ELSE lease_owner END, "
            "lease_until = CASE WHEN ?8 THEN NULL ELSE coalesce(?9, lease_until) END "
            "WHERE id = ?1"));
    update->Bind(1, op.run_id).Bind(2, RunStatusName(op.status)).Bind(3, OptionalMillis(op.due_at));
    BindTextOrNull(*update, 4, Column(0, op.output, true));
    BindTextOrNull(*update, 5, Column(1, op.error, true));
    update->Bind(6, OptionalMillis(op.ended_at)).Bind(7, ToUnixMillis(now));
    update->Bind(8, static_cast<int64_t>(op.release_lease ? 1 : 0));
    update->Bind(9, OptionalMillis(op.lease_until));
    RETURN_IF_ERROR(update->Run());
    if (op.release_lease || op.ended_at) {
      RETURN_IF_ERROR(ReleaseSlots(op.run_id));
      return WakeNextHeldRun(op.run_id, now);
    }
    return OkStatus();
  }

  // `run_id` gave back its concurrency slot (if it has a limit): the oldest run of its key that
  // Claim set aside falls due now. Only a run set aside (wakeup = 1 with a due time still ahead):
  // waking the releasing run itself, or another run of the key that sleeps until a retry or a
  // timer, would make it due at once, and two such runs would wake each other forever.
  Status WakeNextHeldRun(const std::string& run_id, TimePoint now) {
    ASSIGN_OR_RETURN(
        sqlite::Statement * wake,
        db_->Prepare("UPDATE runs SET due_at = ?2 WHERE id = (SELECT held.id FROM runs AS r "
                     "JOIN runs AS held ON held.flow_id = r.flow_id AND "
                     "held.concurrency_key = r.concurrency_key WHERE r.id = ?1 AND "
                     "r.concurrency_limit > 0 AND held.concurrency_limit > 0 AND "
                     "held.id <> r.id AND held.wakeup = 1 AND held.lease_owner IS NULL AND "
                     "held.due_at > ?2 AND held.status IN "
                     "('queued', 'running') ORDER BY held.due_at LIMIT 1)"));
    wake->Bind(1, run_id).Bind(2, ToUnixMillis(now));
    return wake->Run();
  }

  Status Apply(AppendJournalOp& op, BatchResult&, TimePoint now) {
    ASSIGN_OR_RETURN(sqlite::Statement * insert,
                     db_->Prepare("INSERT OR IGNORE INTO journal (run_id, step_key, kind, n, seq, "
                                  "data, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    const JournalEntry& e = op.entry;
    const int64_t seq = ++journal_seq_;
    insert->Bind(1, e.run_id).Bind(2, e.step_key).Bind(3, JournalKindName(e.kind));
    // A completion's key ends in 0, so a second one for the same step is ignored.
    insert->Bind(4, e.kind == JournalKind::kCompleted ? int64_t{0} : seq).Bind(5, seq);
    insert->Bind(6, Column(0, e.data, false)).Bind(7, ToUnixMillis(e.at));
    return insert->Run();
  }

  Status Apply(RegisterWaitOp& op, BatchResult&, TimePoint now) {
    const WaitRecord& w = op.wait;
    ASSIGN_OR_RETURN(
        sqlite::Statement * insert,
        db_->Prepare("INSERT OR IGNORE INTO waits (id, run_id, kind, flow_id, revision, step_key, "
                     "step_id, event_name, match_path, match_key, since_seq, lookback_from, "
                     "timeout_at, created_at, context) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                     "?9, ?10, CASE WHEN ?11 = -2 THEN (SELECT coalesce(max(seq), 0) FROM events) "
                     "WHEN ?11 < 0 THEN (SELECT coalesce(event_mark, 0) FROM runs WHERE id = ?2) "
                     "ELSE ?11 END, ?12, ?13, ?14, ?15)"));
    insert->Bind(1, w.id).Bind(2, w.run_id);
    insert->Bind(3, std::string_view(w.kind == WaitRecord::Kind::kCancel ? "cancel" : "step"));
    insert->Bind(4, w.flow_id).Bind(5, w.revision).Bind(6, w.step_key).Bind(7, w.step_id);
    insert->Bind(8, w.event_name).Bind(9, w.match_path).Bind(10, w.match_key);
    insert->Bind(11, w.since_seq).Bind(12, OptionalMillis(w.lookback_from));
    insert->Bind(13, OptionalMillis(w.timeout_at)).Bind(14, ToUnixMillis(w.created_at));
    insert->Bind(15, Column(0, w.context, false));
    RETURN_IF_ERROR(insert->Run());
    if (!w.match_path.empty()) {
      ASSIGN_OR_RETURN(sqlite::Statement * path,
                       db_->Prepare("INSERT OR IGNORE INTO wait_paths (event_name, match_path) "
                                    "VALUES (?1, ?2)"));
      path->Bind(1, w.event_name).Bind(2, w.match_path);
      RETURN_IF_ERROR(path->Run());
    }
    return OkStatus();
  }

  Status Wake(const std::string& run_id, TimePoint now, bool cancel) {
    ASSIGN_OR_RETURN(
        sqlite::Statement * wake,
        db_->Prepare("UPDATE runs SET wakeup = 1, cancel_requested = max(cancel_requested, ?3), "
                     "event_mark = (SELECT coalesce(max(seq), 0) FROM events), "
                     "due_at = CASE WHEN due_at IS NULL OR due_at > ?2 THEN ?2 ELSE due_at END "
                     "WHERE id = ?1 AND ended_at IS NULL"));
    wake->Bind(1, run_id).Bind(2, ToUnixMillis(now)).Bind(3, static_cast<int64_t>(cancel));
    return wake->Run();
  }

  Status Apply(ResolveWaitOp& op, BatchResult& result, TimePoint now) {
    ASSIGN_OR_RETURN(sqlite::Statement * select,
                     db_->Prepare("SELECT run_id, kind, step_key FROM waits WHERE id = ?1"));
    select->Bind(1, op.wait_id);
    ASSIGN_OR_RETURN(bool row, select->Step());
    if (!row) {
      select->Reset();
      return OkStatus();
    }
    std::string run_id = select->Text(0);
    bool cancel = select->Text(1) == "cancel";
    std::string step_key = select->Text(2);
    select->Reset();
    ASSIGN_OR_RETURN(sqlite::Statement * remove, db_->Prepare("DELETE FROM waits WHERE id = ?1"));
    remove->Bind(1, op.wait_id);
    RETURN_IF_ERROR(remove->Run());
    if (!cancel) {
      columns_ = nullptr;
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
    ASSIGN_OR_RETURN(sqlite::Statement * lease,
                     db_->Prepare(std::string("UPDATE runs SET lease_owner = ?2, lease_until = ?3, "
                                              "due_at = ?3, lease_token = lease_token + 1, "
                                              "wakeup = 0 WHERE id = ?1 AND ended_at "
                                              "IS NULL AND concurrency_limit = 0 AND (lease_owner "
                                              "IS NULL OR lease_until < ?4) RETURNING ") +
                                  kRunColumns));
    lease->Bind(1, run_id).Bind(2, op.lease_owner).Bind(3, ToUnixMillis(*op.lease_until));
    lease->Bind(4, ToUnixMillis(now));
    ASSIGN_OR_RETURN(std::optional<RunRecord> leased, FirstRow<RunRecord>(*lease, ReadRun));
    if (leased) result.leased_runs.push_back(std::move(*leased));
    return OkStatus();
  }

  Status Apply(DeleteWaitsOp& op, BatchResult&, TimePoint) {
    ASSIGN_OR_RETURN(sqlite::Statement * remove,
                     db_->Prepare("DELETE FROM waits WHERE run_id = ?1"));
    remove->Bind(1, op.run_id);
    return remove->Run();
  }

  Status Apply(MarkMatchedOp& op, BatchResult&, TimePoint) {
    ASSIGN_OR_RETURN(sqlite::Statement * events,
                     db_->Prepare("UPDATE events SET unmatched = 0 WHERE id = ?1"));
    for (const std::string& id : op.event_ids) {
      events->Bind(1, id);
      RETURN_IF_ERROR(events->Run());
    }
    ASSIGN_OR_RETURN(sqlite::Statement * waits,
                     db_->Prepare("UPDATE waits SET unscanned = 0 WHERE id = ?1"));
    for (const std::string& id : op.wait_ids) {
      waits->Bind(1, id);
      RETURN_IF_ERROR(waits->Run());
    }
    return OkStatus();
  }

  Status Apply(WakeRunOp& op, BatchResult&, TimePoint now) { return Wake(op.run_id, now, false); }
  Status Apply(RequestCancelOp& op, BatchResult&, TimePoint now) {
    return Wake(op.run_id, now, true);
  }

  Status Apply(PutFlowRevisionOp& op, BatchResult&, TimePoint) {
    ASSIGN_OR_RETURN(sqlite::Statement * insert,
                     db_->Prepare("INSERT OR IGNORE INTO flow_revisions (flow_id, revision, "
                                  "document, created_at) VALUES (?1, ?2, ?3, ?4)"));
    const FlowRevisionRecord& r = op.revision;
    insert->Bind(1, r.flow_id).Bind(2, r.revision).Bind(3, r.document.dump());
    insert->Bind(4, ToUnixMillis(r.created_at));
    return insert->Run();
  }

  Status Apply(ClaimCronTickOp& op, BatchResult& result, TimePoint) {
    ASSIGN_OR_RETURN(sqlite::Statement * insert,
                     db_->Prepare("INSERT OR IGNORE INTO cron_ticks (flow_id, tick) VALUES (?1, "
                                  "?2)"));
    insert->Bind(1, op.flow_id).Bind(2, ToUnixMillis(op.tick));
    RETURN_IF_ERROR(insert->Run());
    result.cron_tick_claimed = db_->Changes() > 0;
    return OkStatus();
  }

  Status Apply(ScheduleEventOp& op, BatchResult&, TimePoint) {
    ASSIGN_OR_RETURN(sqlite::Statement * insert,
                     db_->Prepare("INSERT OR IGNORE INTO scheduled_events (id, name, data, "
                                  "client_id, due_at) VALUES (?1, ?2, ?3, ?4, ?5)"));
    const EventRecord& e = op.event;
    insert->Bind(1, e.id).Bind(2, e.name).Bind(3, e.data.dump());
    BindTextOrNull(*insert, 4, e.client_id);
    insert->Bind(5, ToUnixMillis(op.due_at));
    return insert->Run();
  }

  Status Apply(ReleaseScheduledEventOp& op, BatchResult&, TimePoint) {
    ASSIGN_OR_RETURN(sqlite::Statement * remove,
                     db_->Prepare("DELETE FROM scheduled_events WHERE id = ?1"));
    remove->Bind(1, op.event_id);
    return remove->Run();
  }

  Status Apply(ReleaseLeasesOp& op, BatchResult& result, TimePoint now) {
    ASSIGN_OR_RETURN(sqlite::Statement * slots,
                     db_->Prepare("DELETE FROM run_slots WHERE run_id IN (SELECT id FROM runs "
                                  "WHERE due_at IS NOT NULL AND lease_owner = ?1)"));
    slots->Bind(1, op.owner);
    RETURN_IF_ERROR(slots->Run());
    ASSIGN_OR_RETURN(sqlite::Statement * release,
                     db_->Prepare("UPDATE runs SET lease_owner = NULL, lease_until = NULL, "
                                  "due_at = CASE WHEN due_at IS NULL OR due_at > ?2 THEN ?2 ELSE "
                                  "due_at END WHERE due_at IS NOT NULL AND lease_owner = ?1"));
    release->Bind(1, op.owner).Bind(2, ToUnixMillis(now));
    RETURN_IF_ERROR(release->Run());
    result.released_leases += static_cast<int>(db_->Changes());
    return OkStatus();
  }

  Status Apply(HeartbeatOp& op, BatchResult&, TimePoint now) {
    ASSIGN_OR_RETURN(sqlite::Statement * beat,
                     db_->Prepare("INSERT INTO nodes (id, started_at, heartbeat_at) VALUES (?1, "
                                  "?2, ?3) ON CONFLICT (id) DO UPDATE SET started_at = "
                                  "excluded.started_at, heartbeat_at = excluded.heartbeat_at"));
    beat->Bind(1, op.node_id).Bind(2, ToUnixMillis(op.started_at)).Bind(3, ToUnixMillis(now));
    return beat->Run();
  }

  Status Apply(TakeOverDeadNodesOp& op, BatchResult& result, TimePoint now) {
    ASSIGN_OR_RETURN(sqlite::Statement * dead,
                     db_->Prepare("DELETE FROM nodes WHERE heartbeat_at < ?1 AND id <> ?2 "
                                  "RETURNING id"));
    dead->Bind(1, ToUnixMillis(op.dead_before)).Bind(2, op.self);
    std::vector<std::string> ids;
    for (;;) {
      ASSIGN_OR_RETURN(bool row, dead->Step());
      if (!row) break;
      ids.push_back(dead->Text(0));
    }
    dead->Reset();
    for (const std::string& id : ids) {
      ReleaseLeasesOp release{id};
      RETURN_IF_ERROR(Apply(release, result, now));
      result.dead_nodes.push_back(id);
    }
    return OkStatus();
  }

  Status Apply(PruneFinishedRunsOp& op, BatchResult& result, TimePoint now) {
    ASSIGN_OR_RETURN(
        sqlite::Statement * select,
        db_->Prepare("SELECT id, trigger_event_id FROM runs WHERE ended_at IS NOT NULL AND "
                     "ended_at < ?1 AND status IN ('completed', 'failed', 'cancelled', "
                     "'skipped') "
                     "ORDER BY ended_at LIMIT ?2"));
    select->Bind(1, ToUnixMillis(op.ended_before)).Bind(2, static_cast<int64_t>(op.limit));
    std::vector<std::pair<std::string, std::string>> runs;
    for (;;) {
      ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      runs.emplace_back(select->Text(0), select->Text(1));
    }
    select->Reset();
    ASSIGN_OR_RETURN(sqlite::Statement * journal,
                     db_->Prepare("DELETE FROM journal WHERE run_id = ?1"));
    ASSIGN_OR_RETURN(sqlite::Statement * waits,
                     db_->Prepare("DELETE FROM waits WHERE run_id = ?1"));
    ASSIGN_OR_RETURN(sqlite::Statement * run, db_->Prepare("DELETE FROM runs WHERE id = ?1"));
    ASSIGN_OR_RETURN(sqlite::Statement * gathers,
                     db_->Prepare("DELETE FROM gathers WHERE run_id = ?1"));
    for (const auto& [id, trigger] : runs) {
      journal->Bind(1, id);
      RETURN_IF_ERROR(journal->Run());
      gathers->Bind(1, id);
      RETURN_IF_ERROR(gathers->Run());
      waits->Bind(1, id);
      RETURN_IF_ERROR(waits->Run());
      run->Bind(1, id);
      RETURN_IF_ERROR(run->Run());
    }
    // After the runs are gone, a trigger event goes too unless another run (of another flow)
    // still refers to it or its client id may still be deduplicated.
    ASSIGN_OR_RETURN(sqlite::Statement * event,
                     db_->Prepare("DELETE FROM events WHERE id = ?1 AND ts < ?2 AND NOT EXISTS "
                                  "(SELECT 1 FROM runs WHERE trigger_event_id = ?1)"));
    for (const auto& [id, trigger] : runs) {
      if (trigger.empty()) continue;
      event->Bind(1, trigger).Bind(2, ToUnixMillis(op.keep_events_since));
      RETURN_IF_ERROR(event->Run());
    }
    result.pruned_runs += static_cast<int>(runs.size());
    // GCRA state whose tat has passed is the same as none.
    ASSIGN_OR_RETURN(sqlite::Statement * rates,
                     db_->Prepare("DELETE FROM rate_state WHERE (flow_id, kind, key) IN (SELECT "
                                  "flow_id, kind, key FROM rate_state WHERE tat < ?1 LIMIT ?2)"));
    rates->Bind(1, ToUnixMillis(now)).Bind(2, static_cast<int64_t>(op.limit));
    RETURN_IF_ERROR(rates->Run());
    return OkStatus();
  }

  Status Apply(RequireLeaseOp& op, BatchResult&, TimePoint) {
    ASSIGN_OR_RETURN(sqlite::Statement * select,
                     db_->Prepare("SELECT lease_owner, lease_token FROM runs WHERE id = ?1"));
    select->Bind(1, op.run_id);
    ASSIGN_OR_RETURN(bool row, select->Step());
    std::string owner = row ? select->Text(0) : "";
    int64_t token = row ? select->Int(1) : 0;
    select->Reset();
    return CheckLease(op, owner, token);
  }

  // The `index`th JSON column of the op being applied: serialized already, or now.
  std::string_view Column(size_t index, const Json& value, bool nullable) {
    if (columns_ && index < columns_->size()) return (*columns_)[index];
    scratch_[index] = nullable ? NullableJson(value) : value.dump();
    return scratch_[index];
  }

  std::unique_ptr<sqlite::Connection> db_;
  const SqliteStore& store_;
  const OpColumns* columns_ = nullptr;  // of the op being applied, when serialized already
  // The last journal seq handed out, and the last one committed to `counters`. Seqs of a rolled
  // back transaction are not reused, so the journal's order may have gaps, never repeats.
  int64_t journal_seq_ = 0;
  int64_t saved_journal_seq_ = 0;
  std::array<std::string, 4> scratch_;
  std::atomic<int64_t> transactions_{0};
};

SqliteStore::SqliteStore(SqliteStoreOptions options) : options_(std::move(options)) {}

SqliteStore::~SqliteStore() {
  queue_.reset();
  checkpointer_.reset();  // before the writer, whose commit hook points at it
  writer_.reset();
  while (readers_.Take()) {
  }
  if (opened_ && temp_dir_.empty() && !latch_->tripped()) {
    if (Status marked = WriteCleanShutdownMarker(options_.path); !marked.ok()) {
      LogWarn("could not record the clean shutdown; the next start checks the store",
              {{"error", marked.ToString()}});
    }
  }
  if (!temp_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(temp_dir_, ignored);
  }
}

TimePoint SqliteStore::Now() const {
  if (options_.clock) return options_.clock->Now();
  return SystemClock().Now();
}

StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(SqliteStoreOptions options) {
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(options)));
  RETURN_IF_ERROR(store->Initialize());
  return store;
}

Status SqliteStore::Initialize() {
  if (options_.path == ":memory:" || options_.path.empty()) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "flowrun-store-XXXXXX").string();
    if (!mkdtemp(pattern.data())) return UnavailableError("cannot create a temporary directory");
    temp_dir_ = pattern;
    options_.path = temp_dir_ + "/flowrun.db";
  }
  const std::string& path = options_.path;
  latch_ = std::make_shared<DataLossLatch>(path);
  const bool existed = std::filesystem::exists(path);
  const bool clean = TakeCleanShutdownMarker(path);
  ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Connection> db,
                   OpenStoreConnection(path, /*create=*/true, options_.busy_timeout_ms));
  if (existed && !clean && options_.check_after_unclean_shutdown) {
    // Before anything is written: a damaged file must not be written into.
    checked_at_open_ = true;
    ASSIGN_OR_RETURN(std::vector<std::string> problems,
                     CheckIntegrity(*db, IntegrityCheck::kQuick, /*max_problems=*/5));
    if (!problems.empty()) {
      std::string list;
      for (const std::string& p : problems) list += (list.empty() ? "" : "; ") + p;
      return DataLossError("opening store " + path +
                           ": the last shutdown was not clean and PRAGMA quick_check found "
                           "damage: " +
                           list +
                           ". Nothing was written; restore the last backup "
                           "(see the restore procedure in docs/operations.md)");
    }
  }
  db->set_error_observer(latch_.get());
  // Reading the header first turns a foreign or damaged file into a clear error before any write.
  Status status = db->Exec("PRAGMA journal_mode=WAL");
  if (status.ok()) {
    status = db->Exec(options_.sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  }
  // A group of a thousand runs dirties more pages than a 1 MB cache holds. With cache_spill off
  // they stay in memory until the commit instead of spilling to the WAL mid-transaction, and the
  // cache shrinks back to 1 MB afterwards: a large fixed cache would cost its size in RSS for
  // pages the OS file cache keeps anyway (2 MB measured no faster, and 1 MB more RSS in W1).
  if (status.ok()) {
    status = db->Exec(
        "PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-1024; "
        "PRAGMA cache_spill=OFF");
  }
  if (status.ok()) status = Migrate(*db, options_.pending_migrations);
  if (!status.ok()) return status.WithContext("opening store " + path);
  writer_ = std::make_unique<Writer>(std::move(db), *this);
  // SQLite's automatic checkpoint would run inside the commit that crosses 1,000 pages of log.
  auto checkpointer = WalCheckpointer::Open(path, /*threshold_pages=*/1000);
  if (!checkpointer.ok()) return checkpointer.status().WithContext("opening store " + path);
  checkpointer_ = std::move(*checkpointer);
  checkpointer_->Attach(writer_->db().handle());
  queue_ = std::make_unique<GroupCommitQueue<WriteRequest, WriteResult>>(
      [this](std::vector<WriteRequest*>& group) { return ApplyGroup(group); }, options_.max_group);
  opened_ = true;
  return OkStatus();
}

std::vector<SqliteStore::WriteResult> SqliteStore::ApplyGroup(std::vector<WriteRequest*>& group) {
  // Most batches succeed, and those that fail (a duplicate event, a lost lease) fail on a read
  // before writing anything, so the group first runs without a SAVEPOINT per batch. Only when a
  // batch fails after it has written is the group rolled back and run again with savepoints.
  std::optional<std::vector<WriteResult>> results = ApplyGroupOnce(group, /*savepoints=*/false);
  if (results) return std::move(*results);
  return std::move(*ApplyGroupOnce(group, /*savepoints=*/true));
}

std::optional<std::vector<SqliteStore::WriteResult>> SqliteStore::ApplyGroupOnce(
    std::vector<WriteRequest*>& group, bool savepoints) {
  std::vector<WriteResult> results(group.size());
  sqlite::Connection& db = writer_->db();
  TimePoint now = Now();
  auto fail_all = [&](const Status& status) {
    for (WriteResult& r : results) {
      r = WriteResult{};
      r.status = status;
    }
    return std::move(results);
  };
  // A damaged file is read-only: nothing more is written into it.
  if (Status damaged = latch_->Check(); !damaged.ok()) return fail_all(damaged);
  Status begin = db.Exec("BEGIN IMMEDIATE");
  if (begin.ok()) {
    begin = writer_->LoadCounters();
    if (!begin.ok()) (void)db.Exec("ROLLBACK");
  }
  if (!begin.ok()) return fail_all(begin.WithContext("starting a store transaction"));
  for (size_t i = 0; i < group.size(); ++i) {
    WriteRequest& request = *group[i];
    WriteResult& result = results[i];
    if (request.prune_events) {
      auto pruned = writer_->DeleteEvents(*request.prune_events);
      if (!pruned.ok()) {
        (void)db.Exec("ROLLBACK");
        return fail_all(pruned.status());
      }
      result.pruned_events = *pruned;
      continue;
    }
    if (request.claim) {
      auto claimed = writer_->Claim(*request.claim);
      if (!claimed.ok()) {
        (void)db.Exec("ROLLBACK");
        return fail_all(claimed.status());
      }
      result.claimed = std::move(*claimed);
      continue;
    }
    result.batches.resize(request.batches.size());
    for (size_t b = 0; b < request.batches.size(); ++b) {
      BatchResult& batch_result = result.batches[b];
      const int64_t changes_before = sqlite3_total_changes64(db.handle());
      Status status = savepoints ? db.Exec("SAVEPOINT batch") : OkStatus();
      if (status.ok()) {
        static const std::vector<OpColumns> kNone;
        status = writer_->ApplyBatch(request.batches[b],
                                     b < request.columns.size() ? request.columns[b] : kNone,
                                     batch_result, now);
      }
      if (status.ok() && savepoints) status = db.Exec("RELEASE batch");
      if (status.ok()) continue;
      if (sqlite3_get_autocommit(db.handle())) {
        // SQLite rolled the whole transaction back (an I/O error, a full disk).
        return fail_all(status);
      }
      if (!savepoints && sqlite3_total_changes64(db.handle()) != changes_before) {
        (void)db.Exec("ROLLBACK");
        return std::nullopt;
      }
      std::string duplicate = batch_result.duplicate_of;
      batch_result = BatchResult{};
      batch_result.duplicate_of = duplicate;
      batch_result.status = status;
      if (savepoints) {
        Status rollback = db.Exec("ROLLBACK TO batch; RELEASE batch");
        if (!rollback.ok()) {
          (void)db.Exec("ROLLBACK");
          return fail_all(rollback);
        }
      }
    }
  }
  Status commit = writer_->SaveCounters();
  if (commit.ok()) commit = db.Exec("COMMIT");
  if (!commit.ok()) {
    (void)db.Exec("ROLLBACK");
    return fail_all(commit.WithContext("committing"));
  }
  writer_->CountersCommitted();
  writer_->CountTransaction();
  return results;
}

StatusOr<std::vector<BatchResult>> SqliteStore::CommitMany(std::vector<WriteBatch> batches) {
  if (batches.empty()) return std::vector<BatchResult>();
  WriteRequest request{std::move(batches), std::nullopt, {}};
  request.columns.resize(request.batches.size());
  for (size_t b = 0; b < request.batches.size(); ++b) {
    request.columns[b].reserve(request.batches[b].ops.size());
    for (const WriteOp& op : request.batches[b].ops) {
      request.columns[b].push_back(SerializeColumns(op));
    }
  }
  WriteResult result = queue_->Submit(std::move(request));
  if (!result.status.ok()) return result.status;
  return std::move(result.batches);
}

StatusOr<BatchResult> Store::Commit(WriteBatch batch) {
  std::vector<WriteBatch> batches;
  batches.push_back(std::move(batch));
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, CommitMany(std::move(batches)));
  return std::move(results.front());
}

Status SqliteStore::ReleaseLeases(std::string_view owner) {
  WriteBatch batch;
  batch.Add(ReleaseLeasesOp{std::string(owner)});
  ASSIGN_OR_RETURN(BatchResult result, Commit(std::move(batch)));
  return result.status;
}

StatusOr<int> SqliteStore::PruneFinishedRuns(TimePoint ended_before, int limit) {
  return PruneInBatches(*this, ended_before, limit, options_.prune_batch, Now());
}

int64_t SqliteStore::TEST_transactions() const { return writer_->transactions(); }

StatusOr<std::unique_ptr<sqlite::Connection>> SqliteStore::AcquireReader() {
  if (std::unique_ptr<sqlite::Connection> db = readers_.Take()) return db;
  auto db = OpenStoreConnection(options_.path, /*create=*/false, options_.busy_timeout_ms);
  if (!db.ok()) return latch_->Observe(db.status());
  (*db)->set_error_observer(latch_.get());
  return db;
}

void SqliteStore::ReturnReader(std::unique_ptr<sqlite::Connection> db) {
  readers_.Keep(std::move(db));
}

}  // namespace flowrun::store

namespace flowrun::store {

// A reader connection borrowed from the pool for one call.
class SqliteStore::ReaderLease {
 public:
  explicit ReaderLease(SqliteStore& store) : store_(store) {}
  ReaderLease(const ReaderLease&) = delete;
  ReaderLease& operator=(const ReaderLease&) = delete;
  ~ReaderLease() {
    if (db_) store_.ReturnReader(std::move(db_));
  }
  [[nodiscard]] StatusOr<sqlite::Statement*> Prepare(const std::string& sql) {
    if (!db_) {
      ASSIGN_OR_RETURN(db_, store_.AcquireReader());
    }
    return db_->Prepare(sql);
  }

 private:
  SqliteStore& store_;
  std::unique_ptr<sqlite::Connection> db_;
};

StatusOr<std::vector<RunRecord>> SqliteStore::ClaimRuns(std::string_view owner, TimePoint now,
                                                        int max, Duration lease) {
  {
    // Most calls find nothing due (workers look whenever there may be work). Asking a reader
    // first keeps those out of the writer's queue, where they would delay real commits.
    ReaderLease reader(*this);
    ASSIGN_OR_RETURN(sqlite::Statement * due,
                     reader.Prepare("SELECT 1 FROM runs WHERE due_at <= ?1 AND (lease_owner IS "
                                    "NULL OR lease_until < ?1) LIMIT 1"));
    due->Bind(1, ToUnixMillis(now));
    ASSIGN_OR_RETURN(bool any, due->Step());
    due->Reset();
    if (!any) return std::vector<RunRecord>();
  }
  WriteResult result =
      queue_->Submit(WriteRequest{{}, ClaimArgs{std::string(owner), now, max, lease}});
  if (!result.status.ok()) return result.status;
  return std::move(result.claimed);
}

StatusOr<int> SqliteStore::PruneEvents(TimePoint stored_before, int limit) {
  const int batch_size = std::max(1, options_.prune_batch);
  int pruned = 0;
  int64_t after_seq = 0;  // candidates are looked for past the last batch's
  while (pruned < limit) {
    PruneEventsArgs args{.seqs = {}, .stored_before = stored_before};
    {
      ReaderLease reader(*this);
      ASSIGN_OR_RETURN(
          sqlite::Statement * find,
          reader.Prepare("SELECT seq FROM events WHERE seq > ?1 AND ts < ?2 AND unmatched = 0 AND "
                         "NOT EXISTS (SELECT 1 FROM runs WHERE trigger_event_id = events.id) "
                         "ORDER BY seq LIMIT ?3"));
      find->Bind(1, after_seq)
          .Bind(2, ToUnixMillis(stored_before))
          .Bind(3, static_cast<int64_t>(std::min(batch_size, limit - pruned)));
      for (;;) {
        ASSIGN_OR_RETURN(bool row, find->Step());
        if (!row) break;
        args.seqs.push_back(find->Int(0));
      }
      find->Reset();
    }
    if (args.seqs.empty()) break;
    after_seq = args.seqs.back();
    const size_t found = args.seqs.size();
    WriteRequest request{{}, std::nullopt, {}};
    request.prune_events = std::move(args);
    WriteResult result = queue_->Submit(std::move(request));
    if (!result.status.ok()) return result.status;
    pruned += result.pruned_events;
    if (static_cast<int>(found) < batch_size) break;
  }
  return pruned;
}

StatusOr<std::optional<RunRecord>> SqliteStore::GetRun(std::string_view id) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(sqlite::Statement * s, reader.Prepare(std::string("SELECT ") + kRunColumns +
                                                         " FROM runs WHERE id = ?1"));
  s->Bind(1, id);
  return FirstRow<RunRecord>(*s, ReadRun);
}

StatusOr<std::vector<NodeRecord>> SqliteStore::ListNodes() {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(
      sqlite::Statement * s,
      reader.Prepare(
          "SELECT n.id, n.started_at, n.heartbeat_at, (SELECT count(*) "
          "FROM runs WHERE lease_owner = n.id AND ended_at IS NULL) FROM nodes AS n ORDER BY "
          "n.id"));
  std::vector<NodeRecord> nodes;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) break;
    nodes.push_back({.id = s->Text(0),
                     .started_at = FromUnixMillis(s->Int(1)),
                     .heartbeat_at = FromUnixMillis(s->Int(2)),
                     .leases = s->Int(3)});
  }
  s->Reset();
  return nodes;
}

StatusOr<std::vector<RunRecord>> SqliteStore::ListRuns(const RunFilter& filter) {
  ReaderLease reader(*this);
  std::string sql = std::string("SELECT ") + kRunColumns +
                    " FROM runs WHERE (?1 = '' OR flow_id = ?1) AND (?2 = '' OR status = ?2) AND "
                    "(?3 = '' OR parent_run_id = ?3) AND (?4 = '' OR rowid < (SELECT rowid FROM "
                    "runs WHERE id = ?4)) AND (?6 IS NULL OR created_at >= ?6) AND (?7 IS NULL OR "
                    "created_at < ?7) ORDER BY rowid DESC LIMIT ?5";
  ASSIGN_OR_RETURN(sqlite::Statement * s, reader.Prepare(sql));
  s->Bind(1, filter.flow_id);
  s->Bind(2, filter.status ? RunStatusName(*filter.status) : std::string_view());
  s->Bind(3, filter.parent_run_id).Bind(4, filter.before_id);
  s->Bind(5, static_cast<int64_t>(filter.limit));
  s->Bind(6, OptionalMillis(filter.created_since)).Bind(7, OptionalMillis(filter.created_until));
  return CollectRows<RunRecord>(*s, ReadRun);
}

StatusOr<int64_t> SqliteStore::CountRuns(RunStatus status) {
  ReaderLease reader(*this);
  // Served from the runs_status index.
  ASSIGN_OR_RETURN(sqlite::Statement * s,
                   reader.Prepare("SELECT count(*) FROM runs WHERE status = ?1"));
  s->Bind(1, RunStatusName(status));
  ASSIGN_OR_RETURN(bool row, s->Step());
  int64_t count = row ? s->Int(0) : 0;
  s->Reset();
  return count;
}

StatusOr<std::vector<JournalEntry>> SqliteStore::LoadJournal(std::string_view run_id) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(sqlite::Statement * s,
                   reader.Prepare("SELECT seq, run_id, step_key, kind, data, at FROM journal "
                                  "WHERE run_id = ?1 ORDER BY seq"));
  s->Bind(1, run_id);
  return CollectRows<JournalEntry>(*s, [](const sqlite::Statement& row) -> StatusOr<JournalEntry> {
    JournalEntry e;
    e.seq = row.Int(0);
    e.run_id = row.Text(1);
    e.step_key = row.Text(2);
    std::string kind = row.Text(3);
    e.kind = kind == "completed" ? JournalKind::kCompleted
             : kind == "attempt" ? JournalKind::kAttempt
             : kind == "nondet"  ? JournalKind::kNondet
                                 : JournalKind::kStarted;
    ASSIGN_OR_RETURN(e.data, ParseJsonColumn(row, 4));
    e.at = FromUnixMillis(row.Int(5));
    return e;
  });
}

StatusOr<std::optional<TimePoint>> SqliteStore::NextDueTime() {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(
      sqlite::Statement * s,
      reader.Prepare("SELECT min((SELECT due_at FROM runs WHERE due_at IS NOT NULL AND "
                     "lease_owner IS NULL ORDER BY due_at LIMIT 1), (SELECT min(due_at) FROM "
                     "scheduled_events)), coalesce((SELECT due_at FROM runs WHERE due_at IS NOT "
                     "NULL AND lease_owner IS NULL ORDER BY due_at LIMIT 1), (SELECT "
                     "min(due_at) FROM scheduled_events))"));
  ASSIGN_OR_RETURN(bool row, s->Step());
  std::optional<TimePoint> due;
  // min() of two values is NULL when either is; the coalesce covers one side being empty.
  if (row && !s->IsNull(0)) {
    due = FromUnixMillis(s->Int(0));
  } else if (row && !s->IsNull(1)) {
    due = FromUnixMillis(s->Int(1));
  }
  s->Reset();
  return due;
}

StatusOr<std::vector<EventRecord>> SqliteStore::DueScheduledEvents(TimePoint now, int limit) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(sqlite::Statement * s,
                   reader.Prepare("SELECT id, name, data, client_id FROM scheduled_events WHERE "
                                  "due_at <= ?1 ORDER BY due_at, id LIMIT ?2"));
  s->Bind(1, ToUnixMillis(now)).Bind(2, static_cast<int64_t>(limit));
  return CollectRows<EventRecord>(*s, [](const sqlite::Statement& row) -> StatusOr<EventRecord> {
    EventRecord event;
    event.id = row.Text(0);
    event.name = row.Text(1);
    ASSIGN_OR_RETURN(event.data, ParseJsonColumn(row, 2));
    event.client_id = row.Text(3);
    return event;
  });
}

StatusOr<std::optional<EventRecord>> SqliteStore::GetEvent(std::string_view id) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(sqlite::Statement * s, reader.Prepare(std::string("SELECT ") + kEventColumns +
                                                         " FROM events WHERE id = ?1"));
  s->Bind(1, id);
  return FirstRow<EventRecord>(*s, ReadEvent);
}

StatusOr<std::vector<EventRecord>> SqliteStore::ListEvents(const EventFilter& filter) {
  ReaderLease reader(*this);
  const std::string order = filter.newest_first ? " ORDER BY seq DESC" : " ORDER BY seq";
  sqlite::Statement* s = nullptr;
  if (filter.name.empty()) {
    ASSIGN_OR_RETURN(s, reader.Prepare(std::string("SELECT ") + kEventColumns +
                                       " FROM events WHERE seq > ?1" + order + " LIMIT ?2"));
    s->Bind(1, filter.after_seq).Bind(2, static_cast<int64_t>(filter.limit));
  } else if (filter.stored_since) {
    ASSIGN_OR_RETURN(s, reader.Prepare(std::string("SELECT ") + kEventColumns +
                                       " FROM events WHERE name = ?1 AND seq > ?5 AND "
                                       "(seq > ?2 OR ts >= ?3)" +
                                       order + " LIMIT ?4"));
    s->Bind(1, filter.name).Bind(2, filter.after_seq).Bind(3, ToUnixMillis(*filter.stored_since));
    s->Bind(4, static_cast<int64_t>(filter.limit)).Bind(5, filter.page_after_seq);
  } else {
    ASSIGN_OR_RETURN(
        s, reader.Prepare(std::string("SELECT ") + kEventColumns +
                          " FROM events WHERE name = ?1 AND seq > ?2" + order + " LIMIT ?3"));
    s->Bind(1, filter.name).Bind(2, filter.after_seq).Bind(3, static_cast<int64_t>(filter.limit));
  }
  return CollectRows<EventRecord>(*s, ReadEvent);
}

StatusOr<std::vector<EventRecord>> SqliteStore::UnmatchedEvents(int limit) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(sqlite::Statement * s,
                   reader.Prepare(std::string("SELECT ") + kEventColumns +
                                  " FROM events WHERE unmatched = 1 ORDER BY seq LIMIT ?1"));
  s->Bind(1, static_cast<int64_t>(limit));
  return CollectRows<EventRecord>(*s, ReadEvent);
}

StatusOr<bool> SqliteStore::HasWaits(std::string_view event_name) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(sqlite::Statement * s,
                   reader.Prepare("SELECT 1 FROM waits WHERE event_name = ?1 LIMIT 1"));
  s->Bind(1, event_name);
  ASSIGN_OR_RETURN(bool any, s->Step());
  s->Reset();
  return any;
}

StatusOr<std::vector<std::string>> SqliteStore::WaitPaths(std::string_view event_name) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(sqlite::Statement * s,
                   reader.Prepare("SELECT match_path FROM wait_paths WHERE event_name = ?1"));
  s->Bind(1, event_name);
  return CollectRows<std::string>(
      *s, [](const sqlite::Statement& row) -> StatusOr<std::string> { return row.Text(0); });
}

StatusOr<std::vector<WaitRecord>> SqliteStore::FindIndexedWaits(std::string_view event_name,
                                                                std::string_view match_path,
                                                                std::string_view match_key,
                                                                std::string_view after_id,
                                                                int limit) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(sqlite::Statement * s,
                   reader.Prepare(std::string("SELECT ") + kWaitColumns +
                                  " FROM waits WHERE event_name = ?1 AND match_path = ?2 AND "
                                  "match_key = ?3 AND id > ?4 ORDER BY id LIMIT ?5"));
  s->Bind(1, event_name).Bind(2, match_path).Bind(3, match_key).Bind(4, after_id);
  s->Bind(5, static_cast<int64_t>(limit));
  return CollectRows<WaitRecord>(*s, ReadWait);
}

StatusOr<std::vector<WaitRecord>> SqliteStore::ScanWaits(std::string_view event_name,
                                                         std::string_view after_id, int limit) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(sqlite::Statement * s,
                   reader.Prepare(std::string("SELECT ") + kWaitColumns +
                                  " FROM waits WHERE event_name = ?1 AND match_path = '' "
                                  "AND id > ?2 ORDER BY id LIMIT ?3"));
  s->Bind(1, event_name).Bind(2, after_id).Bind(3, static_cast<int64_t>(limit));
  return CollectRows<WaitRecord>(*s, ReadWait);
}

StatusOr<std::vector<WaitRecord>> SqliteStore::WaitsOfRun(std::string_view run_id) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(sqlite::Statement * s, reader.Prepare(std::string("SELECT ") + kWaitColumns +
                                                         " FROM waits WHERE run_id = ?1"));
  s->Bind(1, run_id);
  return CollectRows<WaitRecord>(*s, ReadWait);
}

StatusOr<std::vector<WaitRecord>> SqliteStore::UnscannedWaits(int limit) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(sqlite::Statement * s,
                   reader.Prepare(std::string("SELECT ") + kWaitColumns +
                                  " FROM waits WHERE unscanned = 1 ORDER BY created_at LIMIT ?1"));
  s->Bind(1, static_cast<int64_t>(limit));
  return CollectRows<WaitRecord>(*s, ReadWait);
}

StatusOr<std::optional<FlowRevisionRecord>> SqliteStore::GetFlowRevision(
    std::string_view flow_id, std::string_view revision) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(sqlite::Statement * s,
                   reader.Prepare("SELECT flow_id, revision, document, created_at FROM "
                                  "flow_revisions WHERE flow_id = ?1 AND revision = ?2"));
  s->Bind(1, flow_id).Bind(2, revision);
  auto read = [](const sqlite::Statement& row) -> StatusOr<FlowRevisionRecord> {
    FlowRevisionRecord r;
    r.flow_id = row.Text(0);
    r.revision = row.Text(1);
    ASSIGN_OR_RETURN(r.document, ParseJsonColumn(row, 2));
    r.created_at = FromUnixMillis(row.Int(3));
    return r;
  };
  return FirstRow<FlowRevisionRecord>(*s, read);
}

StatusOr<std::vector<FlowRevisionRecord>> SqliteStore::ListFlowRevisions(std::string_view flow_id) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(sqlite::Statement * s,
                   reader.Prepare("SELECT flow_id, revision, document, created_at FROM "
                                  "flow_revisions WHERE flow_id = ?1 ORDER BY created_at"));
  s->Bind(1, flow_id);
  return CollectRows<FlowRevisionRecord>(
      *s, [](const sqlite::Statement& row) -> StatusOr<FlowRevisionRecord> {
        FlowRevisionRecord r;
        r.flow_id = row.Text(0);
        r.revision = row.Text(1);
        ASSIGN_OR_RETURN(r.document, ParseJsonColumn(row, 2));
        r.created_at = FromUnixMillis(row.Int(3));
        return r;
      });
}

StatusOr<std::vector<std::pair<std::string, std::string>>> SqliteStore::ActiveRevisions() {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(sqlite::Statement * s,
                   reader.Prepare("SELECT DISTINCT flow_id, revision FROM runs WHERE ended_at IS "
                                  "NULL ORDER BY flow_id, revision"));
  return CollectRows<std::pair<std::string, std::string>>(
      *s, [](const sqlite::Statement& row) -> StatusOr<std::pair<std::string, std::string>> {
        return std::make_pair(row.Text(0), row.Text(1));
      });
}

StatusOr<std::optional<TimePoint>> SqliteStore::LastCronTick(std::string_view flow_id) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(sqlite::Statement * s,
                   reader.Prepare("SELECT max(tick) FROM cron_ticks WHERE flow_id = ?1"));
  s->Bind(1, flow_id);
  ASSIGN_OR_RETURN(bool row, s->Step());
  std::optional<TimePoint> tick;
  if (row && !s->IsNull(0)) tick = FromUnixMillis(s->Int(0));
  s->Reset();
  return tick;
}

}  // namespace flowrun::store

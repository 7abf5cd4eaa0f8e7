#include "store/sqlite_outbox.h"

#include "common/json.h"
#include "common/thread_annotations.h"

namespace flowrun::store {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS email_outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT NOT NULL UNIQUE,
  run_id TEXT NOT NULL,
  step_key TEXT NOT NULL,
  sender TEXT NOT NULL,
  recipients TEXT NOT NULL,
  subject TEXT NOT NULL,
  mime TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
)sql";

}  // namespace

StatusOr<int> SqliteOutbox::Prune(TimePoint created_before, int limit) {
  if (latch_) RETURN_IF_ERROR(latch_->Check());
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(sqlite::Statement * prune,
                   db_->Prepare("DELETE FROM email_outbox WHERE seq IN (SELECT seq FROM "
                                "email_outbox WHERE created_at < ?1 ORDER BY seq LIMIT ?2)"));
  prune->Bind(1, static_cast<int64_t>(ToUnixMillis(created_before)))
      .Bind(2, static_cast<int64_t>(limit));
  RETURN_IF_ERROR(prune->Run());
  return static_cast<int>(db_->Changes());
}

StatusOr<std::unique_ptr<SqliteOutbox>> SqliteOutbox::Open(const std::string& path,
                                                           int busy_timeout_ms,
                                                           std::shared_ptr<DataLossLatch> latch) {
  if (latch) RETURN_IF_ERROR(latch->Check());
  ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Connection> db,
                   OpenStoreConnection(path, /*create=*/true, busy_timeout_ms));
  if (latch) db->set_error_observer(latch.get());
  if (path != ":memory:") {
    // The store has put the file in WAL mode already; asking again is harmless and makes a file
    // opened by the outbox first behave the same.
    RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  }
  RETURN_IF_ERROR(db->Exec(kSchema));
  return std::unique_ptr<SqliteOutbox>(new SqliteOutbox(std::move(db), std::move(latch)));
}

Status SqliteOutbox::Put(const OutboxMessage& message) {
  if (latch_) RETURN_IF_ERROR(latch_->Check());
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(sqlite::Statement * s,
                   db_->Prepare("INSERT OR IGNORE INTO email_outbox (message_id, run_id, "
                                "step_key, sender, recipients, subject, mime, created_at) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
  s->Bind(1, message.message_id)
      .Bind(2, message.run_id)
      .Bind(3, message.step_key)
      .Bind(4, message.from)
      .Bind(5, Json(message.recipients).dump())
      .Bind(6, message.subject)
      .Bind(7, message.mime)
      .Bind(8, static_cast<int64_t>(ToUnixMillis(message.created_at)));
  return s->Run();
}

StatusOr<std::vector<OutboxMessage>> SqliteOutbox::List(size_t limit) const {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(sqlite::Statement * s,
                   db_->Prepare("SELECT message_id, run_id, step_key, sender, recipients, "
                                "subject, mime, created_at FROM email_outbox "
                                "ORDER BY seq DESC LIMIT ?1"));
  s->Bind(1, static_cast<int64_t>(limit));
  std::vector<OutboxMessage> messages;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) break;
    OutboxMessage m;
    m.message_id = s->Text(0);
    m.run_id = s->Text(1);
    m.step_key = s->Text(2);
    m.from = s->Text(3);
    Json recipients = Json::parse(s->Text(4), nullptr, /*allow_exceptions=*/false);
    if (recipients.is_array()) {
      for (const Json& r : recipients) {
        if (r.is_string()) m.recipients.push_back(r.get<std::string>());
      }
    }
    m.subject = s->Text(5);
    m.mime = s->Text(6);
    m.created_at = FromUnixMillis(s->Int(7));
    messages.push_back(std::move(m));
  }
  return messages;
}

}  // namespace flowrun::store

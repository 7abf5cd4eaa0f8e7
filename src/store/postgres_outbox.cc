#include "store/postgres_outbox.h"

#include "common/json.h"
#include "common/thread_annotations.h"

namespace flowrun::store {

StatusOr<std::unique_ptr<PostgresOutbox>> PostgresOutbox::Open(const std::string& url) {
  ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> db, PgConnection::Open(url, "outbox"));
  return std::unique_ptr<PostgresOutbox>(new PostgresOutbox(url, std::move(db)));
}

StatusOr<PgConnection*> PostgresOutbox::Connection() const {
  if (!db_ || !db_->healthy()) {
    ASSIGN_OR_RETURN(db_, PgConnection::Open(url_, "outbox"));
  }
  return db_.get();
}

Status PostgresOutbox::Put(const OutboxMessage& message) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(PgConnection * db, Connection());
  return db
      ->Exec(
          "INSERT INTO email_outbox (message_id, run_id, step_key, sender, recipients, "
          "subject, mime, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT "
          "(message_id) DO NOTHING",
          {PgText(message.message_id), PgText(message.run_id), PgText(message.step_key),
           PgText(message.from), Json(message.recipients).dump(), PgText(message.subject),
           PgText(message.mime), PgMillis(message.created_at)})
      .status();
}

StatusOr<std::vector<OutboxMessage>> PostgresOutbox::List(size_t limit) const {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(PgConnection * db, Connection());
  ASSIGN_OR_RETURN(PgResult r, db->Exec("SELECT message_id, run_id, step_key, sender, "
                                        "recipients, subject, mime, created_at FROM "
                                        "email_outbox ORDER BY seq DESC LIMIT $1",
                                        {PgInt(static_cast<int64_t>(limit))}));
  std::vector<OutboxMessage> messages;
  for (int i = 0; i < r.rows(); ++i) {
    OutboxMessage m;
    m.message_id = r.Text(i, 0);
    m.run_id = r.Text(i, 1);
    m.step_key = r.Text(i, 2);
    m.from = r.Text(i, 3);
    Json recipients = Json::parse(r.Text(i, 4), nullptr, /*allow_exceptions=*/false);
    if (recipients.is_array()) {
      for (const Json& to : recipients) {
        if (to.is_string()) m.recipients.push_back(to.get<std::string>());
      }
    }
    m.subject = r.Text(i, 5);
    m.mime = r.Text(i, 6);
    m.created_at = FromUnixMillis(r.Int(i, 7));
    messages.push_back(std::move(m));
  }
  return messages;
}

StatusOr<int> PostgresOutbox::Prune(TimePoint created_before, int limit) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(PgConnection * db, Connection());
  ASSIGN_OR_RETURN(PgResult r, db->Exec("DELETE FROM email_outbox WHERE seq IN (SELECT seq FROM "
                                        "email_outbox WHERE created_at < $1 ORDER BY seq LIMIT "
                                        "$2)",
                                        {PgMillis(created_before), PgInt(limit)}));
  return static_cast<int>(r.affected());
}

}  // namespace flowrun::store

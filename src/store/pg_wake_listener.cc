#include "store/pg_wake_listener.h"

#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>

#include "actions/db/postgres_error.h"
#include "common/log.h"
#include "common/thread_annotations.h"

namespace flowrun::store {

StatusOr<std::unique_ptr<PgConnection>> PgWakeListener::Connect(const std::string& url) {
  ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> db, PgConnection::Open(url, "wake listener"));
  RETURN_IF_ERROR(db->ExecScript("LISTEN flowrun_wake"));
  return db;
}

StatusOr<std::unique_ptr<PgWakeListener>> PgWakeListener::Open(const std::string& url,
                                                               int ignore_pid) {
  ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> db, Connect(url));
  return std::unique_ptr<PgWakeListener>(new PgWakeListener(url, ignore_pid, std::move(db)));
}

PgWakeListener::PgWakeListener(std::string url, int ignore_pid, std::unique_ptr<PgConnection> db)
    : url_(std::move(url)), ignore_pid_(ignore_pid), db_(std::move(db)) {
  if (pipe(stop_pipe_) != 0) stop_pipe_[0] = stop_pipe_[1] = -1;
  thread_ = std::thread([this] { Loop(); });
}

PgWakeListener::~PgWakeListener() {
  if (stop_pipe_[1] >= 0) {
    char byte = 0;
    (void)!write(stop_pipe_[1], &byte, 1);
  }
  if (thread_.joinable()) thread_.join();
  for (int fd : stop_pipe_) {
    if (fd >= 0) close(fd);
  }
}

void PgWakeListener::Subscribe(std::function<void()> on_wake) {
  MutexLock lock(mu_);
  on_wake_ = std::move(on_wake);
}

void PgWakeListener::Deliver() {
  MutexLock lock(mu_);
  if (on_wake_) on_wake_();
}

void PgWakeListener::Loop() {
  auto pause = std::chrono::milliseconds(50);
  for (;;) {
    if (!db_) {
      pollfd stop{stop_pipe_[0], POLLIN, 0};
      if (poll(&stop, 1, static_cast<int>(pause.count())) > 0) return;
      auto db = Connect(url_);
      if (!db.ok()) {
        pause = std::min<std::chrono::milliseconds>(pause * 2, std::chrono::seconds(1));
        continue;
      }
      db_ = std::move(*db);
      pause = std::chrono::milliseconds(50);
      Deliver();  // whatever was sent while disconnected
    }
    PGconn* conn = db_->handle();
    pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents) return;
    if (PQconsumeInput(conn) == 0) {
      LogWarn("the wake-up listener lost its connection; reconnecting",
              {{"error", TrimPostgresMessage(PQerrorMessage(conn))}});
      db_.reset();
      continue;
    }
    bool wake = false;
    while (PGnotify* note = PQnotifies(conn)) {
      if (note->be_pid != ignore_pid_) {
        wake = true;
        received_.fetch_add(1);
      }
      PQfreemem(note);
    }
    if (wake) Deliver();
  }
}

}  // namespace flowrun::store

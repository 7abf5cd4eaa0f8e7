// PgWakeListener: the WakeListener (store_factory.h) of the PostgreSQL store. On a connection of
// its own it runs LISTEN flowrun_wake and a thread that waits (poll) on the connection's socket and
// on a pipe that stops it; each notification from another node's writer calls the subscriber.
// Notifications from `ignore_pid` (this node's own writer) are skipped: the node knows its own
// work. When the connection breaks it reconnects, with a pause that grows to 1 s, and calls the
// subscriber once after reconnecting (notifications sent meanwhile were lost).
//
// Thread-safety: Subscribe may be called from any thread, once.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/thread_annotations.h"
#include "store/pg_connection.h"
#include "store/store_factory.h"

namespace flowrun::store {

class PgWakeListener final : public WakeListener {
 public:
  // Connects and starts listening (so that nothing sent after Open returns is missed).
  // kUnavailable when the server cannot be reached.
  [[nodiscard]] static StatusOr<std::unique_ptr<PgWakeListener>> Open(const std::string& url,
                                                                      int ignore_pid);
  ~PgWakeListener() override;
  PgWakeListener(const PgWakeListener&) = delete;
  PgWakeListener& operator=(const PgWakeListener&) = delete;

  void Subscribe(std::function<void()> on_wake) override;

  // Notifications received from other backends so far.
  int64_t TEST_received() const { return received_.load(); }

 private:
  PgWakeListener(std::string url, int ignore_pid, std::unique_ptr<PgConnection> db);
  [[nodiscard]] static StatusOr<std::unique_ptr<PgConnection>> Connect(const std::string& url);
  void Loop();
  void Deliver();

  const std::string url_;
  const int ignore_pid_;
  std::unique_ptr<PgConnection> db_;  // used by the thread only, once started
  int stop_pipe_[2] = {-1, -1};
  Mutex mu_;
  std::function<void()> on_wake_ FLOWRUN_GUARDED_BY(mu_);
  std::atomic<int64_t> received_{0};
  std::thread thread_;
};

}  // namespace flowrun::store

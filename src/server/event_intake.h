// EventIntake: event intake without a thread per request. Ingest requests hand their checked
// events to Submit and return at once; a few intake threads take everything queued so far, store
// it through one Runtime::IngestEvents call (one durable commit for the whole group, with the
// store's own group commit merging the intake threads' calls), and call each request's `done`
// with its own events' ids. So 1,000 concurrent senders of one event each cost a handful of
// commits, not 1,000, and no I/O thread waits on the disk.
//
// A group shares its outcome: when the store fails, every request of the group gets the error
// (the events were checked before they were queued, so one request's bad event cannot fail the
// others).
//
// Thread-safety: Submit may be called from any thread; `done` runs on an intake thread. Stop and
// the destructor must not race Submit.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "server/runtime.h"

namespace flowrun {

class EventIntake {
 public:
  using Done = std::function<void(StatusOr<std::vector<IngestedEvent>> ingested)>;

  // `threads` intake threads, each storing at most `max_group_events` events per commit (a larger
  // request still goes whole). REQUIRES: `runtime` outlives the intake; threads >= 1.
  EventIntake(Runtime& runtime, int threads, size_t max_group_events);
  EventIntake(const EventIntake&) = delete;
  EventIntake& operator=(const EventIntake&) = delete;
  // Stop.
  ~EventIntake();

  // Queues `events` (REQUIRES: non-empty, checked by ParseEventPayload); `done` gets their ids
  // in order once they are durable, or the error. After Stop, `done` gets kUnavailable at once.
  void Submit(std::vector<Json> events, Done done);
  // Stores what is queued, then joins the threads. Idempotent.
  void Stop();

 private:
  struct Pending {
    std::vector<Json> events;
    Done done;
  };

  void Run();
  void Store(std::vector<Pending>& group, size_t event_count);

  Runtime& runtime_;
  const size_t max_group_events_;
  Mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_ FLOWRUN_GUARDED_BY(mu_);
  bool stopping_ FLOWRUN_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace flowrun

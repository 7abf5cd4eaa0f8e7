#include "server/event_intake.h"

namespace flowrun {

EventIntake::EventIntake(Runtime& runtime, int threads, size_t max_group_events)
    : runtime_(runtime), max_group_events_(max_group_events) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

EventIntake::~EventIntake() { Stop(); }

void EventIntake::Submit(std::vector<Json> events, Done done) {
  {
    MutexLock lock(mu_);
    if (!stopping_) {
      queue_.push_back(Pending{std::move(events), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(UnavailableError("flowrun is shutting down"));
}

void EventIntake::Stop() {
  {
    MutexLock lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

void EventIntake::Run() {
  while (true) {
    std::vector<Pending> group;
    size_t event_count = 0;
    {
      MutexLock lock(mu_);
      lock.Wait(cv_, [this]() FLOWRUN_REQUIRES(mu_) { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to store
      while (!queue_.empty() &&
             (group.empty() || event_count + queue_.front().events.size() <= max_group_events_)) {
        event_count += queue_.front().events.size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      // Let another intake thread build the next group while this one commits.
      if (!queue_.empty()) cv_.notify_one();
    }
    Store(group, event_count);
  }
}

void EventIntake::Store(std::vector<Pending>& group, size_t event_count) {
  std::vector<Json> events;
  if (group.size() == 1) {
    events = std::move(group.front().events);
  } else {
    events.reserve(event_count);
    for (Pending& pending : group) {
      for (Json& event : pending.events) events.push_back(std::move(event));
    }
  }
  StatusOr<std::vector<IngestedEvent>> ingested = runtime_.IngestEvents(events);
  if (!ingested.ok()) {
    for (Pending& pending : group) pending.done(ingested.status());
    return;
  }
  size_t next = 0;
  for (size_t i = 0; i < group.size(); ++i) {
    size_t count = group.size() == 1 ? ingested->size() : group[i].events.size();
    std::vector<IngestedEvent> own(std::make_move_iterator(ingested->begin() + next),
                                   std::make_move_iterator(ingested->begin() + next + count));
    next += count;
    group[i].done(std::move(own));
  }
}

}  // namespace flowrun

// CronScheduler: fires the cron triggers of every current flow.
//
// For each cron trigger of each current flow (ProgramCatalog::AllCurrent), the scheduler keeps a
// cursor: the last tick it has dealt with. FireDue computes the ticks in (cursor, now] with
// CronSchedule::NextAfter, in the trigger's time zone, and fires them through
// Engine::FireCronTick, which claims (flow, tick) in the store: a tick fires once, even across
// restarts and several nodes.
//
// Catch-up. A tick no older than `grace` is on time and always fires. Older ticks were missed
// (the service was down, or the clock jumped):
//   none    missed ticks are skipped;
//   latest  only the latest missed tick fires (the default), so an outage never floods;
//   all     every missed tick fires, oldest first, at most `max_catchup` (the most recent ones).
// A trigger seen for the first time at start-up resumes from Engine::LastCronTick of its flow,
// so the ticks missed while the service was down are caught up by that policy; a trigger first
// seen later (a new or edited flow) starts at the current time and fires no past tick.
//
// The scheduler starts no threads: the runtime's timer thread calls FireDue and sleeps until
// the time it returns. Tests drive it on a simulated clock.
//
// Thread-safety: FireDue may be called from many threads; `mu_` serializes it and guards the
// cursors.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "engine/engine.h"
#include "engine/program_catalog.h"

namespace flowrun {

struct CronSchedulerOptions {
  // How late a tick may fire and still count as on time. Default: 1 minute.
  Duration grace = std::chrono::minutes(1);
  // The most missed ticks one trigger fires under `catchup: all`. Default: 100.
  int max_catchup = 100;
};

// One tick the scheduler fired.
struct FiredTick {
  std::string flow_id;
  TimePoint tick;
  std::string run_id;  // empty when another process (or an earlier life) had claimed the tick
};

class CronScheduler {
 public:
  // REQUIRES: every reference outlives the scheduler.
  CronScheduler(Engine& engine, const ProgramCatalog& catalog, const Clock& clock,
                CronSchedulerOptions options = {});
  CronScheduler(const CronScheduler&) = delete;
  CronScheduler& operator=(const CronScheduler&) = delete;

  struct Result {
    std::vector<FiredTick> fired;
    std::optional<TimePoint> next;  // the earliest future tick over all triggers; unset if none
    // The first failure (a store error): the other triggers were still served, and the failed
    // tick is tried again on the next call.
    Status error;
  };
  // Fires every tick due at the clock's current time.
  Result FireDue();

 private:
  struct Cursor {
    TimePoint last;  // ticks after this are still to be dealt with
  };
  // Fires the ticks of one trigger that are due and moves its cursor (cursors_[key]) past the
  // ticks dealt with.
  [[nodiscard]] StatusOr<std::vector<FiredTick>> FireTrigger(const Program& program,
                                                             const CronTrigger& trigger,
                                                             const std::string& key, TimePoint now)
      FLOWRUN_REQUIRES(mu_);

  Engine& engine_;
  const ProgramCatalog& catalog_;
  const Clock& clock_;
  const CronSchedulerOptions options_;

  Mutex mu_;
  // The first FireDue resumes from LastCronTick.
  bool started_ FLOWRUN_GUARDED_BY(mu_) = false;
  // By "flow id|zone|canonical schedule".
  std::map<std::string, Cursor> cursors_ FLOWRUN_GUARDED_BY(mu_);
};

}  // namespace flowrun

#include "server/cron_scheduler.h"

#include <set>

#include "common/log.h"

namespace flowrun {
namespace {

// How many ticks one trigger's backlog is enumerated over before the scheduler gives up on
// the older ones (a minutely schedule after a year of downtime has ~525,000).
constexpr int kMaxEnumeratedTicks = 1'000'000;

std::string TriggerKey(const Program& program, const CronTrigger& trigger) {
  return program.flow_id + "|" + trigger.schedule.timezone() + "|" + trigger.schedule.ToString();
}

}  // namespace

CronScheduler::CronScheduler(Engine& engine, const ProgramCatalog& catalog, const Clock& clock,
                             CronSchedulerOptions options)
    : engine_(engine), catalog_(catalog), clock_(clock), options_(options) {}

CronScheduler::Result CronScheduler::FireDue() {
  MutexLock lock(mu_);
  const TimePoint now = clock_.Now();
  Result result;
  std::set<std::string> live;
  bool resumed_all = true;
  for (const std::shared_ptr<const Program>& program : catalog_.AllCurrent()) {
    for (const CronTrigger& trigger : program->cron_triggers) {
      const std::string key = TriggerKey(*program, trigger);
      live.insert(key);
      if (cursors_.find(key) == cursors_.end()) {
        TimePoint start = now;
        if (!started_) {
          // At start-up, resume where the previous process left off, so the catch-up policy
          // decides about the ticks missed while it was down.
          auto last = engine_.LastCronTick(program->flow_id);
          if (!last.ok()) {
            if (result.error.ok()) result.error = last.status();
            resumed_all = false;
            continue;
          }
          if (last->has_value() && **last < now) start = **last;
        }
        cursors_[key] = Cursor{start};
      }
      auto fired = FireTrigger(*program, trigger, key, now);
      if (!fired.ok()) {
        if (result.error.ok()) result.error = fired.status();
      } else {
        result.fired.insert(result.fired.end(), fired->begin(), fired->end());
      }
      std::optional<TimePoint> next = trigger.schedule.NextAfter(std::max(cursors_[key].last, now));
      if (next && (!result.next || *next < *result.next)) result.next = next;
    }
  }
  // Forget triggers that no current flow has any more (an edited schedule, a retired flow).
  for (auto it = cursors_.begin(); it != cursors_.end();) {
    it = live.count(it->first) > 0 ? std::next(it) : cursors_.erase(it);
  }
  if (resumed_all) started_ = true;
  return result;
}

StatusOr<std::vector<FiredTick>> CronScheduler::FireTrigger(const Program& program,
                                                            const CronTrigger& trigger,
                                                            const std::string& key, TimePoint now) {
  Cursor& cursor = cursors_[key];
  // The ticks in (cursor, now], keeping only as many as the policy can fire.
  const size_t keep =
      trigger.catchup == CronTrigger::Catchup::kAll ? std::max(1, options_.max_catchup) : 1;
  std::deque<TimePoint> due;
  TimePoint t = cursor.last;
  int enumerated = 0;
  for (; enumerated < kMaxEnumeratedTicks; ++enumerated) {
    std::optional<TimePoint> next = trigger.schedule.NextAfter(t);
    if (!next || *next > now) break;
    due.push_back(*next);
    if (due.size() > keep) due.pop_front();
    t = *next;
  }
  if (due.empty()) return std::vector<FiredTick>{};

  const TimePoint latest = due.back();
  const bool on_time = now - latest <= options_.grace;
  if (trigger.catchup == CronTrigger::Catchup::kNone && !on_time) due.clear();
  if (trigger.catchup != CronTrigger::Catchup::kAll && !due.empty()) due = {latest};
  if (due.size() > 1 || (!due.empty() && !on_time)) {
    LogInfo("cron catching up on missed ticks", {{"flow", program.flow_id},
                                                 {"firing", due.size()},
                                                 {"since", FormatTimestamp(cursor.last)}});
  }

  std::vector<FiredTick> fired;
  for (TimePoint tick : due) {
    auto run = engine_.FireCronTick(program.flow_id, tick);
    if (!run.ok()) {
      return run.status().WithContext("cron tick " + FormatTimestamp(tick) + " of flow " +
                                      program.flow_id);
    }
    fired.push_back(FiredTick{program.flow_id, tick, run->value_or("")});
    cursor.last = tick;
  }
  // Every tick up to the latest due one has been dealt with (fired, or skipped by the policy).
  cursor.last = std::max(cursor.last, latest);
  return fired;
}

}  // namespace flowrun

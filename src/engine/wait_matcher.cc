#include "engine/wait_matcher.h"

#include <algorithm>

#include "common/deterministic_id.h"
#include "common/json_path.h"

namespace flowrun {

using store::EventRecord;
using store::WaitRecord;

WaitMatcher::WaitMatcher(store::Store& store, RevisionCache& revisions, const Clock& clock,
                         int scan_limit)
    : store_(store), revisions_(revisions), clock_(clock), scan_limit_(scan_limit) {}

StatusOr<std::vector<WaitRecord>> WaitMatcher::MatchingWaits(const EventRecord& event) {
  std::vector<WaitRecord> matching;
  // Pages through the waits `fetch(after_id)` returns, scan_limit_ at a time, keeping those
  // `event` matches.
  auto match_all = [&](const auto& fetch) -> Status {
    std::string after_id;
    while (true) {
      ASSIGN_OR_RETURN(std::vector<WaitRecord> page, fetch(after_id));
      if (page.empty()) return OkStatus();
      const bool last_page = static_cast<int>(page.size()) < scan_limit_;
      after_id = page.back().id;  // before the waits move out
      for (WaitRecord& wait : page) {
        ASSIGN_OR_RETURN(bool matches, WaitMatches(wait, event));
        if (matches) matching.push_back(std::move(wait));
      }
      if (last_page) return OkStatus();
    }
  };
  ASSIGN_OR_RETURN(std::vector<std::string> paths, store_.WaitPaths(event.name));
  const Json candidate = event.ToJson();
  for (const std::string& path : paths) {
    std::string key = CanonicalKey(ExtractPath(candidate, SplitJsonPath(path)));
    RETURN_IF_ERROR(match_all([&](const std::string& after_id) {
      return store_.FindIndexedWaits(event.name, path, key, after_id, scan_limit_);
    }));
  }
  RETURN_IF_ERROR(match_all([&](const std::string& after_id) {
    return store_.ScanWaits(event.name, after_id, scan_limit_);
  }));
  return matching;
}

StatusOr<std::optional<WaitMatcher::Resolution>> WaitMatcher::ResolveEvents(
    const std::vector<EventRecord>& events, MarkMatched mark) {
  if (events.empty()) return std::optional<Resolution>();
  Resolution resolution;
  store::MarkMatchedOp marked;
  for (const EventRecord& event : events) {
    marked.event_ids.push_back(event.id);
    ASSIGN_OR_RETURN(std::vector<WaitRecord> matching, MatchingWaits(event));
    for (const WaitRecord& wait : matching) {
      resolution.batch.Add(store::ResolveWaitOp{wait.id, event.ToJson()});
      if (wait.kind == WaitRecord::Kind::kCancel) resolution.cancelled.insert(wait.run_id);
    }
  }
  if (resolution.batch.empty() && mark == MarkMatched::kWithNextCommit) {
    // Nothing to resolve (IngestEvents resolved what these events matched before committing
    // them): the marks need not hold anyone up.
    marked.event_ids = DeferMarks(std::move(marked.event_ids));
    if (marked.event_ids.empty()) return std::optional<Resolution>();
  }
  resolution.batch.Add(std::move(marked));
  return std::optional<Resolution>(std::move(resolution));
}

StatusOr<std::optional<WaitMatcher::Resolution>> WaitMatcher::ResolveNewWaits(
    const std::vector<WaitRecord>& waits) {
  if (waits.empty()) return std::optional<Resolution>();
  Resolution resolution;
  store::MarkMatchedOp marked;
  for (const WaitRecord& registered : waits) {
    // The stored row carries since_seq as the store resolved it.
    ASSIGN_OR_RETURN(std::vector<WaitRecord> rows, store_.WaitsOfRun(registered.run_id));
    auto row = std::find_if(rows.begin(), rows.end(),
                            [&](const WaitRecord& w) { return w.id == registered.id; });
    if (row == rows.end()) continue;  // already resolved
    const WaitRecord& wait = *row;
    marked.wait_ids.push_back(wait.id);
    ASSIGN_OR_RETURN(std::optional<EventRecord> event, EarliestMatchingEvent(wait));
    if (event) {
      resolution.batch.Add(store::ResolveWaitOp{wait.id, event->ToJson()});
      if (wait.kind == WaitRecord::Kind::kCancel) resolution.cancelled.insert(wait.run_id);
    }
  }
  resolution.batch.Add(std::move(marked));
  return std::optional<Resolution>(std::move(resolution));
}

StatusOr<std::optional<EventRecord>> WaitMatcher::EarliestMatchingEvent(const WaitRecord& wait) {
  store::EventFilter filter;
  filter.name = wait.event_name;
  filter.after_seq = wait.since_seq;
  filter.stored_since = wait.lookback_from;
  filter.limit = scan_limit_;
  while (true) {
    ASSIGN_OR_RETURN(std::vector<EventRecord> events, store_.ListEvents(filter));
    for (EventRecord& event : events) {
      ASSIGN_OR_RETURN(bool matches, WaitMatches(wait, event));
      if (matches) return std::optional<EventRecord>(std::move(event));
    }
    if (events.empty() || static_cast<int>(events.size()) < scan_limit_) {
      return std::optional<EventRecord>();
    }
    // A lookback window (seq > since_seq, or stored since) pages by page_after_seq; without one
    // the window is seq > since_seq, and after_seq itself pages.
    if (filter.stored_since) {
      filter.page_after_seq = events.back().seq;
    } else {
      filter.after_seq = events.back().seq;
    }
  }
}

StatusOr<bool> WaitMatcher::WaitMatches(const WaitRecord& wait, const EventRecord& event) {
  if (event.name != wait.event_name) return false;
  const Json& trigger = wait.context.contains("event") ? wait.context["event"] : Json();
  if (trigger.is_object() && trigger.value("id", "") == event.id) return false;
  bool in_window =
      event.seq > wait.since_seq || (wait.lookback_from && event.ts >= *wait.lookback_from);
  if (!in_window) return false;
  Json candidate = event.ToJson();
  if (!wait.match_path.empty()) {
    return CanonicalKey(ExtractPath(candidate, SplitJsonPath(wait.match_path))) == wait.match_key;
  }
  std::shared_ptr<const Program> program = revisions_.Find(wait.flow_id, wait.revision);
  if (!program) return false;
  std::optional<const expr::Expression*> condition = ConditionOf(wait, program);
  if (!condition) return false;
  if (!*condition) return true;
  Json scope = wait.context;
  scope["async"] = std::move(candidate);
  expr::EvalContext context;
  context.scope = &scope;
  TimePoint now = clock_.Now();
  context.now = [now] { return now; };
  context.uuid = [] { return RandomUuid(); };
  auto matches = (*condition)->EvaluateCondition(context);
  if (!matches.ok()) return false;  // a condition that cannot be evaluated matches nothing
  return *matches;
}

std::optional<const expr::Expression*> WaitMatcher::ConditionOf(
    const WaitRecord& wait, const std::shared_ptr<const Program>& program) {
  if (wait.kind == WaitRecord::Kind::kCancel) {
    size_t index = std::stoul(wait.step_id.empty() ? "0" : wait.step_id);
    if (index >= program->cancel_on.size()) return std::nullopt;
    const CancelOn& cancel = program->cancel_on[index];
    return cancel.condition ? &*cancel.condition : nullptr;
  }
  const CompiledStep* step = FindStep(program, wait.step_id);
  if (!step) return std::nullopt;
  return step->wait_condition ? &*step->wait_condition : nullptr;
}

const CompiledStep* WaitMatcher::FindStep(const std::shared_ptr<const Program>& program,
                                          const std::string& step_id) {
  MutexLock lock(index_mu_);
  auto it = step_index_.find(program.get());
  if (it == step_index_.end()) {
    StepIndex index{program, {}};
    auto add = [&](const CompiledStep& step) { index.steps[step.id] = &step; };
    ForEachStep(program->steps, add);
    ForEachStep(program->on_failure, add);
    it = step_index_.emplace(program.get(), std::move(index)).first;
  }
  auto step = it->second.steps.find(step_id);
  return step == it->second.steps.end() ? nullptr : step->second;
}

std::vector<std::string> WaitMatcher::DeferMarks(std::vector<std::string> ids) {
  MutexLock lock(marks_mu_);
  for (std::string& id : ids) deferred_marks_.push_back(std::move(id));
  if (deferred_marks_.size() < kMaxDeferredMarks) return {};
  std::vector<std::string> all = std::move(deferred_marks_);
  deferred_marks_.clear();
  return all;
}

std::vector<std::string> WaitMatcher::TakeDeferredMarks() {
  std::vector<std::string> marks;
  MutexLock lock(marks_mu_);
  marks.swap(deferred_marks_);
  return marks;
}

void WaitMatcher::RestoreDeferredMarks(std::vector<std::string> event_ids) {
  MutexLock lock(marks_mu_);
  for (std::string& id : event_ids) deferred_marks_.push_back(std::move(id));
}

}  // namespace flowrun

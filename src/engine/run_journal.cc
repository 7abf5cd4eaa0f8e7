#include "engine/run_journal.h"

namespace flowrun {

using store::JournalKind;

RunJournal::RunJournal(const std::vector<store::JournalEntry>& entries) {
  for (const store::JournalEntry& e : entries) {
    switch (e.kind) {
      case JournalKind::kCompleted:
        completed_.emplace(e.step_key, e.data);
        break;
      case JournalKind::kAttempt:
        attempts_[e.step_key].push_back(e.data);
        break;
      case JournalKind::kStarted:
        started_[e.step_key] = e.data;
        break;
      case JournalKind::kNondet:
        nondet_[e.step_key].push_back(e.data);
        break;
    }
  }
}

void RunJournal::Record(const std::string& key, JournalKind kind, const Json& data) {
  switch (kind) {
    case JournalKind::kCompleted: {
      // The walker reads a completion's status, outcome, output, error and flags but never its
      // input: its own copy leaves that out.
      auto [slot, fresh] = completed_.try_emplace(key);
      if (!fresh) break;  // the first completion of a key wins (run_journal.h)
      Json& known = slot->second;
      if (data.is_object() && data.contains("input")) {
        known = Json::object();
        for (auto it = data.begin(); it != data.end(); ++it) {
          if (it.key() != "input") known[it.key()] = it.value();
        }
      } else {
        known = data;
      }
      break;
    }
    case JournalKind::kAttempt:
      attempts_[key].push_back(data);
      break;
    case JournalKind::kStarted:
      started_[key] = data;
      break;
    case JournalKind::kNondet:
      nondet_[key].push_back(data);
      break;
  }
}

const Json* RunJournal::completed(const std::string& key) const {
  auto it = completed_.find(key);
  return it == completed_.end() ? nullptr : &it->second;
}

const Json* RunJournal::started(const std::string& key) const {
  auto it = started_.find(key);
  return it == started_.end() ? nullptr : &it->second;
}

size_t RunJournal::attempt_count(const std::string& key) const {
  auto it = attempts_.find(key);
  return it == attempts_.end() ? 0 : it->second.size();
}

std::optional<Json> RunJournal::NextNondet(const std::string& key, const char* field) {
  size_t& cursor = nondet_cursor_[key];
  const std::vector<Json>& values = nondet_[key];
  while (cursor < values.size()) {
    const Json& recorded = values[cursor++];
    if (recorded.contains(field)) return recorded[field];
  }
  return std::nullopt;
}

void RunJournal::RecordNondet(const std::string& key, Json record) {
  std::vector<Json>& values = nondet_[key];
  values.push_back(std::move(record));
  nondet_cursor_[key] = values.size();
}

}  // namespace flowrun

#include "cli/flow_test_expectations.h"

#include <algorithm>
#include <set>
#include <sstream>

namespace flowrun::cli {
namespace {

constexpr size_t kMaxShownLines = 60;

std::string Pretty(const Json& value) {
  std::string text = value.dump(2);
  size_t lines = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && ++lines == kMaxShownLines) return text.substr(0, i) + "\n…";
  }
  return text;
}

// Reports at the value of `pointer` in the test file.
class Checker {
 public:
  Checker(const FlowTestFile& file, const TestCase& tc, std::vector<TestFailure>& failures)
      : file_(file), base_(tc.pointer + "/expect"), failures_(failures) {}

  void Fail(const std::string& pointer, std::string message, const Json* expected = nullptr,
            const Json* actual = nullptr) {
    TestFailure f;
    f.pos = file_.Position(base_ + pointer);
    f.message = std::move(message);
    if (expected) f.expected = Pretty(*expected);
    if (actual) f.actual = Pretty(*actual);
    failures_.push_back(std::move(f));
  }

  void Compare(const std::string& pointer, const std::string& what, const Json& expected,
               const Json& actual, bool patterns) {
    if (!JsonMatches(expected, actual, patterns)) Fail(pointer, what, &expected, &actual);
  }

 private:
  const FlowTestFile& file_;
  const std::string base_;
  std::vector<TestFailure>& failures_;
};

std::string StepIdOf(const std::string& step_key) { return step_key.substr(0, step_key.find('[')); }

// The completion of step `id` (its first iteration in a foreach), or null.
const store::JournalEntry* Completion(const std::vector<store::JournalEntry>& journal,
                                      const std::string& id) {
  const store::JournalEntry* first = nullptr;
  for (const auto& entry : journal) {
    if (entry.kind != store::JournalKind::kCompleted) continue;
    if (entry.step_key == id) return &entry;
    if (!first && StepIdOf(entry.step_key) == id) first = &entry;
  }
  return first;
}

std::string ErrorText(const Json& error) {
  if (error.is_null()) return "";
  if (error.is_object() && error.contains("message") && error["message"].is_string()) {
    return error["message"].get<std::string>();
  }
  return error.is_string() ? error.get<std::string>() : error.dump();
}

void CheckSteps(Checker& check, const Json& steps, const Program& program,
                const ObservedCase& observed) {
  std::set<std::string> ids;
  ForEachStep(program.steps, [&](const CompiledStep& s) { ids.insert(s.id); });
  ForEachStep(program.on_failure, [&](const CompiledStep& s) { ids.insert(s.id); });
  for (const auto& [id, expected] : steps.items()) {
    const std::string pointer = JsonPointerAppend("/steps", id);
    if (!ids.count(id)) {
      check.Fail(pointer, "flow " + program.flow_id + " has no step \"" + id + "\"");
      continue;
    }
    const store::JournalEntry* entry = Completion(observed.journal, id);
    const std::string status = entry ? entry->data.value("status", "completed") : "not_run";
    if (expected.contains("status") && expected["status"] != status) {
      Json actual = status;
      check.Fail(pointer + "/status", "step " + id + " is " + status, &expected["status"], &actual);
    }
    if (expected.contains("output")) {
      Json actual = entry ? entry->data.value("output", Json()) : Json();
      check.Compare(pointer + "/output", "step " + id + " has another output", expected["output"],
                    actual, false);
    }
    if (expected.contains("attempts")) {
      Json actual = entry ? entry->data.value("attempts", 0) : 0;
      check.Compare(pointer + "/attempts", "step " + id + " took another number of attempts",
                    expected["attempts"], actual, false);
    }
    if (expected.contains("error")) {
      std::string text = entry ? ErrorText(entry->data.value("error", Json())) : "";
      if (text.find(expected["error"].get<std::string>()) == std::string::npos) {
        Json actual = text;
        check.Fail(pointer + "/error", "step " + id + "'s error does not contain the text",
                   &expected["error"], &actual);
      }
    }
  }
}

void CheckList(Checker& check, const std::string& pointer, const std::string& what,
               const Json& expected, const std::vector<Json>& actual_items) {
  Json actual = Json::array();
  for (const Json& item : actual_items) actual.push_back(item);
  if (expected.size() != actual.size()) {
    check.Fail(pointer,
               "expected " + std::to_string(expected.size()) + " " + what + ", got " +
                   std::to_string(actual.size()),
               &expected, &actual);
    return;
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    if (!JsonMatches(expected[i], actual[i], true)) {
      check.Fail(JsonPointerAppend(pointer, i),
                 what + " #" + std::to_string(i + 1) + " does not match", &expected[i], &actual[i]);
    }
  }
}

}  // namespace

bool JsonMatches(const Json& expected, const Json& actual, bool patterns) {
  if (expected.is_object()) {
    if (!actual.is_object()) return false;
    for (const auto& [key, value] : expected.items()) {
      auto it = actual.find(key);
      if (!JsonMatches(value, it == actual.end() ? Json() : *it, patterns)) return false;
    }
    return true;
  }
  if (expected.is_array()) {
    if (!actual.is_array() || actual.size() != expected.size()) return false;
    for (size_t i = 0; i < expected.size(); ++i) {
      if (!JsonMatches(expected[i], actual[i], patterns)) return false;
    }
    return true;
  }
  if (expected.is_string() && patterns) {
    if (actual.is_array() && actual.size() == 1) return JsonMatches(expected, actual[0], true);
    return actual.is_string() &&
           GlobMatches(expected.get<std::string>(), actual.get<std::string>());
  }
  if (expected.is_number() && actual.is_number()) {
    return expected.get<double>() == actual.get<double>();
  }
  return expected == actual;
}

std::string LineDiff(const std::string& expected, const std::string& actual) {
  auto split = [](const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  };
  std::vector<std::string> a = split(expected), b = split(actual);
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<int>> lcs(n + 1, std::vector<int>(m + 1, 0));
  for (size_t i = n; i-- > 0;) {
    for (size_t j = m; j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  std::string out;
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      out += "  " + a[i++] + "\n";
      ++j;
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out += "- " + a[i++] + "\n";
    } else {
      out += "+ " + b[j++] + "\n";
    }
  }
  return out;
}

void CheckExpectations(const FlowTestFile& file, const TestCase& tc, const Program& program,
                       const ObservedCase& observed, std::vector<TestFailure>& failures) {
  Checker check(file, tc, failures);
  const Json& expect = tc.expect;
  const std::string status(store::RunStatusName(observed.run.status));
  if (expect.contains("status") && expect["status"] != status) {
    Json actual = status;
    std::string message = "the run is " + status;
    if (!observed.run.error.is_null()) message += ": " + ErrorText(observed.run.error);
    check.Fail("/status", message, &expect["status"], &actual);
  }
  if (expect.contains("output")) {
    check.Compare("/output", "the run's output differs", expect["output"], observed.run.output,
                  false);
  }
  if (expect.contains("error")) {
    std::string text = ErrorText(observed.run.error);
    if (text.find(expect["error"].get<std::string>()) == std::string::npos) {
      Json actual = text;
      check.Fail("/error", "the run's error does not contain the text", &expect["error"], &actual);
    }
  }
  if (expect.contains("steps")) CheckSteps(check, expect["steps"], program, observed);
  if (expect.contains("http")) {
    std::vector<Json> requests;
    for (Json r : observed.requests) {
      r.erase("step");
      requests.push_back(std::move(r));
    }
    CheckList(check, "/http", "requests", expect["http"], requests);
  }
  if (expect.contains("emails")) {
    std::vector<Json> emails;
    for (Json e : observed.emails) {
      e.erase("step");
      emails.push_back(std::move(e));
    }
    CheckList(check, "/emails", "emails", expect["emails"], emails);
  }
  if (expect.contains("logs")) {
    std::vector<Json> logs(observed.logs.begin(), observed.logs.end());
    CheckList(check, "/logs", "log lines", expect["logs"], logs);
  }
  if (expect.contains("db")) {
    const Json& queries = expect["db"];
    for (size_t i = 0; i < queries.size(); ++i) {
      const Json& q = queries[i];
      const std::string pointer = JsonPointerAppend("/db", i);
      auto rows = observed.query(q.value("database", ""), q["query"].get<std::string>());
      if (!rows.ok()) {
        check.Fail(pointer + "/query", "the query failed: " + rows.status().message());
        continue;
      }
      // Rows may be written as lists of values or as objects of column -> value.
      Json actual = Json::array();
      const bool as_objects = !q["rows"].empty() && q["rows"][0].is_object();
      for (const Json& values : rows->rows) {
        if (!as_objects) {
          actual.push_back(values);
          continue;
        }
        Json row = Json::object();
        for (size_t c = 0; c < rows->columns.size() && c < values.size(); ++c) {
          row[rows->columns[c]] = values[c];
        }
        actual.push_back(std::move(row));
      }
      check.Compare(pointer + "/rows", "the query returned other rows", q["rows"], actual, false);
    }
  }
}

}  // namespace flowrun::cli

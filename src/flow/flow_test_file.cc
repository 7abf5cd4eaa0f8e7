#include "flow/flow_test_file.h"

#include <algorithm>

#include "flow/schema_validator.h"

namespace flowrun {
namespace {

class Reader {
 public:
  explicit Reader(FlowTestFile& file) : file_(file) {}

  void Error(const std::string& pointer, std::string message, std::string hint = "") {
    file_.diagnostics.push_back({file_.path, file_.Position(pointer), Severity::kError,
                                 std::move(message), "test-file", std::move(hint)});
  }

  std::optional<Duration> ReadDuration(const Json& value, const std::string& pointer) {
    auto d = ParseDuration(value.get<std::string>());
    if (!d.ok()) {
      Error(pointer,
            "invalid duration \"" + value.get<std::string>() + "\": " + d.status().message());
      return std::nullopt;
    }
    return *d;
  }

  std::optional<TimePoint> ReadTime(const Json& value, const std::string& pointer) {
    auto t = ParseTimestamp(value.get<std::string>());
    if (!t.ok()) {
      Error(pointer, "invalid time \"" + value.get<std::string>() + "\": expected RFC 3339",
            "for example 2025-01-06T09:00:00Z");
      return std::nullopt;
    }
    return *t;
  }

  std::map<std::string, std::string> ReadStrings(const Json& object) {
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : object.items()) out[k] = v.get<std::string>();
    return out;
  }

  std::map<std::string, TestDatabase> ReadDatabases(const Json& object) {
    std::map<std::string, TestDatabase> out;
    for (const auto& [name, d] : object.items()) {
      out[name] = {d.value("sql", ""), d.value("seed", "")};
    }
    return out;
  }

  void ReadMocks(const Json& mocks, const std::string& pointer, TestCase& into) {
    if (mocks.contains("http")) {
      const Json& list = mocks["http"];
      for (size_t i = 0; i < list.size(); ++i) {
        const Json& m = list[i];
        HttpMock mock;
        mock.pointer = JsonPointerAppend(JsonPointerAppend(pointer, "http"), i);
        mock.method = m.value("method", "");
        std::transform(mock.method.begin(), mock.method.end(), mock.method.begin(), ::toupper);
        mock.url = m["url"].get<std::string>();
        if (m.contains("times")) mock.times = m["times"].get<int>();
        if (m.contains("respond")) {
          const Json& r = m["respond"];
          mock.status = r.value("status", 200);
          if (r.contains("json")) mock.json = r["json"];
          if (r.contains("body")) mock.body = r["body"].get<std::string>();
          if (r.contains("headers")) mock.headers = ReadStrings(r["headers"]);
          if (r.contains("error")) mock.error = r["error"].get<std::string>();
          if (r.contains("delay")) {
            auto d = ReadDuration(r["delay"], mock.pointer + "/respond/delay");
            if (d) mock.delay = *d;
          }
          if (r.contains("json") && r.contains("body")) {
            Error(mock.pointer + "/respond", "give json or body, not both");
          }
        }
        into.http.push_back(std::move(mock));
      }
    }
    if (mocks.contains("db")) {
      const Json& list = mocks["db"];
      for (size_t i = 0; i < list.size(); ++i) {
        const Json& m = list[i];
        DbMock mock;
        mock.pointer = JsonPointerAppend(JsonPointerAppend(pointer, "db"), i);
        mock.database = m.value("database", "");
        mock.sql = m["sql"].get<std::string>();
        if (m.contains("rows")) mock.rows = m["rows"];
        mock.changes = m.value("changes", 0LL);
        if (m.contains("error")) mock.error = m["error"].get<std::string>();
        if (m.contains("times")) mock.times = m["times"].get<int>();
        into.db.push_back(std::move(mock));
      }
    }
    if (mocks.contains("invoke")) {
      for (const auto& [flow, m] : mocks["invoke"].items()) {
        InvokeMock mock;
        mock.output = m.value("output", Json());
        if (m.contains("error")) mock.error = m["error"].get<std::string>();
        into.invoke.emplace(flow, std::move(mock));
      }
    }
  }

  void Read() {
    const Json& doc = file_.document->document;
    file_.flow = doc["flow"].get<std::string>();
    TimePoint start = *ParseTimestamp(kDefaultTestStart);
    if (doc.contains("start")) start = ReadTime(doc["start"], "/start").value_or(start);
    auto secrets = doc.contains("secrets") ? ReadStrings(doc["secrets"])
                                           : std::map<std::string, std::string>{};
    auto databases = doc.contains("databases") ? ReadDatabases(doc["databases"])
                                               : std::map<std::string, TestDatabase>{};
    TestCase shared;
    if (doc.contains("mocks")) ReadMocks(doc["mocks"], "/mocks", shared);

    const Json& cases = doc["cases"];
    std::map<std::string, std::string> names;
    for (size_t i = 0; i < cases.size(); ++i) {
      const Json& c = cases[i];
      TestCase tc;
      tc.pointer = JsonPointerAppend("/cases", i);
      tc.name = c["name"].get<std::string>();
      if (auto [it, added] = names.emplace(tc.name, tc.pointer); !added) {
        Error(tc.pointer + "/name", "two cases are named \"" + tc.name + "\"",
              "case names must be unique so that reports tell them apart");
      }
      if (c.contains("event")) tc.event = c["event"];
      tc.start = start;
      if (c.contains("start"))
        tc.start = ReadTime(c["start"], tc.pointer + "/start").value_or(start);
      if (c.contains("until")) tc.until = ReadDuration(c["until"], tc.pointer + "/until");
      tc.secrets = secrets;
      if (c.contains("secrets")) {
        for (auto& [k, v] : ReadStrings(c["secrets"])) tc.secrets[k] = v;
      }
      tc.databases = databases;
      if (c.contains("databases")) {
        for (auto& [k, v] : ReadDatabases(c["databases"])) tc.databases[k] = v;
      }
      if (c.contains("mocks")) ReadMocks(c["mocks"], tc.pointer + "/mocks", tc);
      tc.http.insert(tc.http.end(), shared.http.begin(), shared.http.end());
      tc.db.insert(tc.db.end(), shared.db.begin(), shared.db.end());
      for (const auto& [flow, mock] : shared.invoke) tc.invoke.emplace(flow, mock);
      if (c.contains("events")) {
        const Json& list = c["events"];
        for (size_t k = 0; k < list.size(); ++k) {
          TimedEvent e;
          e.pointer = JsonPointerAppend(tc.pointer + "/events", k);
          e.event = list[k]["event"];
          if (list[k].contains("after")) {
            e.after = ReadDuration(list[k]["after"], e.pointer + "/after").value_or(Duration{0});
          }
          tc.events.push_back(std::move(e));
        }
        std::stable_sort(
            tc.events.begin(), tc.events.end(),
            [](const TimedEvent& a, const TimedEvent& b) { return a.after < b.after; });
      }
      if (c.contains("expect")) tc.expect = c["expect"];
      file_.cases.push_back(std::move(tc));
    }
  }

 private:
  FlowTestFile& file_;
};

}  // namespace

SourcePos FlowTestFile::Position(const std::string& pointer) const {
  if (!document) return {1, 1};
  SourcePos pos = document->positions.ValuePosition(pointer);
  return pos.known() ? pos : SourcePos{1, 1};
}

FlowTestFile ParseFlowTestFile(std::unique_ptr<LoadedDocument> document) {
  FlowTestFile file;
  file.path = document->source.path();
  file.diagnostics = document->diagnostics;
  file.document = std::move(document);
  if (!file.ok()) return file;
  const Json& doc = file.document->document;
  for (const SchemaViolation& v : SchemaValidator::ForTests().Validate(doc)) {
    SourcePos pos = v.points_at_key ? file.document->positions.KeyPosition(v.pointer)
                                    : file.document->positions.ValuePosition(v.pointer);
    if (!pos.known()) pos = {1, 1};
    file.diagnostics.push_back({file.path, pos, Severity::kError, v.message, v.rule, v.hint});
  }
  if (!file.ok()) return file;
  try {
    Reader(file).Read();
  } catch (const Json::exception& e) {
    // The schema admits only what the reader expects; this is a defect, reported located.
    file.diagnostics.push_back({file.path,
                                {1, 1},
                                Severity::kError,
                                std::string("test file could not be read: ") + e.what(),
                                "test-file",
                                ""});
  }
  return file;
}

FlowTestFile LoadFlowTestFile(const std::string& path) {
  return ParseFlowTestFile(std::make_unique<LoadedDocument>(LoadYamlFile(path)));
}

bool GlobMatches(std::string_view pattern, std::string_view text) {
  // Greedy matching with one backtrack point: O(pattern * text) at worst.
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace flowrun

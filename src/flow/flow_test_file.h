// FlowTestFile: a `flowrun test` file (*.test.yaml) read into typed cases. The key names are the
// contract of docs/testing-flows.md and schemas/test.schema.json; every problem is a
// located Diagnostic (`file:line:col`), never an exception.
//
// A file names one flow and lists cases. Each case has a trigger event (none for a cron flow),
// secrets, scratch databases, mocks (http, db, invoked child flows), events sent later in virtual
// time, and expectations. The expectations stay JSON, with the pointer they were read from, so the
// runner can report each failure at its own line.
//
// Thread-safety: pure functions of their inputs.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/duration.h"
#include "common/json.h"
#include "common/timestamp.h"
#include "flow/diagnostic.h"
#include "flow/yaml_loader.h"

namespace flowrun {

// The virtual time a case starts at unless the file or the case says otherwise (a Monday).
inline constexpr char kDefaultTestStart[] = "2025-01-06T09:00:00Z";

struct HttpMock {
  std::string method;  // upper case; empty: any
  std::string url;     // pattern: `*` matches any run of characters
  int status = 200;
  Json json;                        // the body as JSON; null: none (unless `body`)
  std::optional<std::string> body;  // a text body
  std::map<std::string, std::string> headers;
  Duration delay{0};                 // virtual time the answer takes
  std::optional<std::string> error;  // a connection error instead of an answer
  std::optional<int> times;          // nullopt: answers every matching call
  std::string pointer;               // where it is in the file
};

struct DbMock {
  std::string database;  // empty: any
  std::string sql;       // pattern over the statement with whitespace collapsed
  Json rows = Json::array();
  long long changes = 0;
  std::optional<std::string> error;
  std::optional<int> times;
  std::string pointer;
};

struct InvokeMock {
  Json output;                       // the child's output
  std::optional<std::string> error;  // the child fails with this message instead
};

struct TestDatabase {
  std::string sql_file;  // as written, relative to the test file; may be empty
  std::string seed;      // inline SQL run after the file; may be empty
};

struct TimedEvent {
  Duration after{0};
  Json event;  // {name, data?, id?}
  std::string pointer;
};

struct TestCase {
  std::string name;
  std::string pointer;  // "/cases/3"
  std::optional<Json> event;
  TimePoint start;
  std::optional<Duration> until;
  std::map<std::string, std::string> secrets;     // the file's, then the case's
  std::map<std::string, TestDatabase> databases;  // the file's, replaced by name by the case's
  std::vector<HttpMock> http;                     // the case's, then the file's
  std::vector<DbMock> db;                         // the case's, then the file's
  std::map<std::string, InvokeMock> invoke;       // by child flow id; the case's win
  std::vector<TimedEvent> events;                 // sorted by `after`
  Json expect = Json::object();                   // as written, at pointer + "/expect"
};

struct FlowTestFile {
  std::string path;
  std::string flow;  // the flow id under test
  std::vector<TestCase> cases;
  std::unique_ptr<LoadedDocument> document;  // for positions; stable address
  std::vector<Diagnostic> diagnostics;       // load, schema and value errors

  bool ok() const { return !HasErrors(diagnostics); }
  // The position of a pointer's value (or key) in the file.
  SourcePos Position(const std::string& pointer) const;
};

// Reads a test file from a loaded YAML document.
FlowTestFile ParseFlowTestFile(std::unique_ptr<LoadedDocument> document);
// Loads and parses a test file.
FlowTestFile LoadFlowTestFile(const std::string& path);

// True when `text` matches `pattern`, where `*` matches any run of characters (none included)
// and every other character matches itself. Linear in practice; bounded for hostile patterns.
bool GlobMatches(std::string_view pattern, std::string_view text);

}  // namespace flowrun

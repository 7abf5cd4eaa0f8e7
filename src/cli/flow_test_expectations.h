// The expectations of a `flowrun test` case, checked against what the case's run did. Maps match
// as subsets (a key the expectation leaves out may hold anything), lists match item by item and
// must have the same length, and in `http` and `emails` expectations strings are patterns where
// `*` matches any run of characters. Each failure is located at the expectation that failed and
// shows the expected value against the actual one.
//
// Thread-safety: pure functions.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cli/flow_test_runner.h"
#include "flow/program.h"
#include "store/store.h"

namespace flowrun::cli {

// The result of a query on a scratch database: column names, and each row as a list of values.
struct QueryRows {
  std::vector<std::string> columns;
  std::vector<Json> rows;
};

// What a case's run did.
struct ObservedCase {
  store::RunRecord run;
  std::vector<store::JournalEntry> journal;  // of the run under test
  std::vector<Json> requests;
  std::vector<Json> emails;
  std::vector<std::string> logs;
  // Runs a query on a scratch database (empty name: the default one).
  std::function<StatusOr<QueryRows>(const std::string& database, const std::string& sql)> query;
};

// Appends a failure for every expectation of `tc` that `observed` does not meet.
void CheckExpectations(const FlowTestFile& file, const TestCase& tc, const Program& program,
                       const ObservedCase& observed, std::vector<TestFailure>& failures);

// True when `actual` meets `expected` (subset maps, same-length lists); with `patterns`, strings of
// `expected` are `*` patterns.
bool JsonMatches(const Json& expected, const Json& actual, bool patterns);

// A line diff of two texts: "- " lines only in `expected`, "+ " lines only in `actual`, "  " both.
std::string LineDiff(const std::string& expected, const std::string& actual);

}  // namespace flowrun::cli

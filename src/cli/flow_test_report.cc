#include "cli/flow_test_report.h"

#include <cstdio>
#include <set>

#include "cli/flow_test_expectations.h"
#include "flow/diagnostic_printer.h"

namespace flowrun::cli {
namespace {

std::string Location(const std::string& path, SourcePos pos) {
  return path + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
}

std::string Milliseconds(double ms) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f ms", ms);
  return buffer;
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string Indent(const std::string& text, const std::string& prefix) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out += prefix + text.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

std::string FailureDetail(const TestFailure& f) {
  if (f.expected.empty() && f.actual.empty()) return "";
  return "expected (-) against actual (+):\n" + LineDiff(f.expected, f.actual);
}

std::string Summary(const TestTotals& totals) {
  std::string line =
      std::to_string(totals.passed) + " passed, " + std::to_string(totals.failed) + " failed";
  if (totals.invalid_files > 0) {
    line += "\ninvalid test files: " + std::to_string(totals.invalid_files);
  }
  return line;
}

void PrintText(std::ostream& out, const std::vector<FileResult>& results, bool coverage,
               bool color) {
  const char* red = color ? "\033[31m" : "";
  const char* green = color ? "\033[32m" : "";
  const char* reset = color ? "\033[0m" : "";
  for (const FileResult& file : results) {
    out << file.path << (file.flow.empty() ? "" : " (flow " + file.flow + ")") << "\n";
    if (file.invalid()) {
      PrintDiagnostics(out, file.diagnostics, DiagnosticFormat::kText, file.sources, color);
      continue;
    }
    for (const CaseResult& c : file.cases) {
      out << "  " << (c.passed() ? green : red) << (c.passed() ? "ok  " : "FAIL") << reset << "  "
          << c.name << " (" << Milliseconds(c.wall_ms) << ")\n";
      for (const TestFailure& f : c.failures) {
        out << "    " << Location(file.path, f.pos) << ": " << f.message << "\n";
        out << Indent(FailureDetail(f), "      ");
      }
    }
  }
  if (coverage) {
    out << "coverage:\n";
    for (const FileResult& file : results) {
      if (file.invalid()) continue;
      auto missing = NotExecuted(file);
      out << "  " << file.flow << ": " << file.steps.size() - missing.size() << "/"
          << file.steps.size() << " steps executed\n";
      for (const FlowStepInfo& step : missing) {
        out << "    not executed: " << step.id << " (" << Location(file.flow_path, step.pos)
            << ")\n";
      }
    }
  }
  out << Summary(CountResults(results)) << "\n";
}

void PrintJson(std::ostream& out, const std::vector<FileResult>& results) {
  Json files = Json::array();
  for (const FileResult& file : results) {
    Json errors = Json::array();
    for (const Diagnostic& d : file.diagnostics) {
      errors.push_back({{"path", d.path},
                        {"line", d.pos.line},
                        {"column", d.pos.column},
                        {"message", d.message},
                        {"rule", d.rule},
                        {"hint", d.hint}});
    }
    Json cases = Json::array();
    for (const CaseResult& c : file.cases) {
      Json failures = Json::array();
      for (const TestFailure& f : c.failures) {
        failures.push_back({{"path", file.path},
                            {"line", f.pos.line},
                            {"column", f.pos.column},
                            {"message", f.message},
                            {"expected", f.expected},
                            {"actual", f.actual}});
      }
      cases.push_back({{"name", c.name},
                       {"passed", c.passed()},
                       {"line", c.pos.line},
                       {"column", c.pos.column},
                       {"duration_ms", c.wall_ms},
                       {"failures", failures}});
    }
    Json not_executed = Json::array();
    if (!file.invalid()) {
      for (const FlowStepInfo& s : NotExecuted(file)) {
        not_executed.push_back({{"step", s.id}, {"path", file.flow_path}, {"line", s.pos.line}});
      }
    }
    files.push_back({{"path", file.path},
                     {"flow", file.flow},
                     {"errors", errors},
                     {"cases", cases},
                     {"not_executed", not_executed}});
  }
  TestTotals totals = CountResults(results);
  Json report = {{"files", files},
                 {"passed", totals.passed},
                 {"failed", totals.failed},
                 {"invalid", totals.invalid_files}};
  out << report.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
}

void PrintJunit(std::ostream& out, const std::vector<FileResult>& results) {
  TestTotals totals = CountResults(results);
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << "<testsuites name=\"flowrun test\" tests=\"" << totals.passed + totals.failed
      << "\" failures=\"" << totals.failed << "\" errors=\"" << totals.invalid_files << "\">\n";
  for (const FileResult& file : results) {
    int failed = 0;
    double seconds = 0;
    for (const CaseResult& c : file.cases) {
      failed += !c.passed();
      seconds += c.wall_ms / 1000;
    }
    out << "  <testsuite name=\"" << XmlEscape(file.path) << "\" tests=\""
        << (file.invalid() ? 1 : file.cases.size()) << "\" failures=\"" << failed << "\" errors=\""
        << (file.invalid() ? 1 : 0) << "\" time=\"" << seconds << "\">\n";
    if (file.invalid()) {
      std::string message;
      for (const Diagnostic& d : file.diagnostics) {
        message += Location(d.path, d.pos) + ": " + d.message + "\n";
      }
      out << "    <testcase name=\"(test file)\" classname=\"" << XmlEscape(file.path)
          << "\">\n      <error message=\"invalid test file\">" << XmlEscape(message)
          << "</error>\n    </testcase>\n";
    }
    for (const CaseResult& c : file.cases) {
      out << "    <testcase name=\"" << XmlEscape(c.name) << "\" classname=\""
          << XmlEscape(file.flow) << "\" file=\"" << XmlEscape(file.path) << "\" line=\""
          << c.pos.line << "\" time=\"" << c.wall_ms / 1000 << "\"";
      if (c.passed()) {
        out << "/>\n";
        continue;
      }
      out << ">\n";
      for (const TestFailure& f : c.failures) {
        out << "      <failure message=\""
            << XmlEscape(Location(file.path, f.pos) + ": " + f.message) << "\">"
            << XmlEscape(FailureDetail(f)) << "</failure>\n";
      }
      out << "    </testcase>\n";
    }
    out << "  </testsuite>\n";
  }
  out << "</testsuites>\n";
}

void PrintGithub(std::ostream& out, const std::vector<FileResult>& results) {
  for (const FileResult& file : results) {
    if (file.invalid()) {
      PrintDiagnostics(out, file.diagnostics, DiagnosticFormat::kGithub, file.sources, false);
      continue;
    }
    for (const CaseResult& c : file.cases) {
      for (const TestFailure& f : c.failures) {
        std::string message = c.name + ": " + f.message;
        std::string detail = FailureDetail(f);
        if (!detail.empty()) message += "\n" + detail;
        out << "::error file=" << GithubEscape(file.path, true) << ",line=" << f.pos.line
            << ",col=" << f.pos.column << ",title=flowrun test::" << GithubEscape(message, false)
            << "\n";
      }
    }
  }
  out << Summary(CountResults(results)) << "\n";
}

}  // namespace

TestTotals CountResults(const std::vector<FileResult>& results) {
  TestTotals totals;
  for (const FileResult& file : results) {
    if (file.invalid()) ++totals.invalid_files;
    for (const CaseResult& c : file.cases) (c.passed() ? totals.passed : totals.failed)++;
  }
  return totals;
}

std::vector<FlowStepInfo> NotExecuted(const FileResult& result) {
  std::set<std::string> executed;
  for (const CaseResult& c : result.cases)
    executed.insert(c.executed_steps.begin(), c.executed_steps.end());
  std::vector<FlowStepInfo> missing;
  for (const FlowStepInfo& step : result.steps) {
    if (!executed.count(step.id)) missing.push_back(step);
  }
  return missing;
}

void PrintTestReport(std::ostream& out, const std::vector<FileResult>& results,
                     TestReportFormat format, bool coverage, bool color) {
  switch (format) {
    case TestReportFormat::kText:
      PrintText(out, results, coverage, color);
      return;
    case TestReportFormat::kJson:
      PrintJson(out, results);
      return;
    case TestReportFormat::kJunit:
      PrintJunit(out, results);
      return;
    case TestReportFormat::kGithub:
      PrintGithub(out, results);
      return;
  }
}

}  // namespace flowrun::cli

#include "flow/diagnostic_printer.h"

#include "common/json.h"

namespace flowrun {

std::string GithubEscape(std::string_view text, bool property) {
  std::string out;
  for (char c : text) {
    if (c == '%') {
      out += "%25";
    } else if (c == '\r') {
      out += "%0D";
    } else if (c == '\n') {
      out += "%0A";
    } else if (property && c == ':') {
      out += "%3A";
    } else if (property && c == ',') {
      out += "%2C";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

const char* SeverityName(Severity s) { return s == Severity::kError ? "error" : "warning"; }

void PrintText(std::ostream& out, const Diagnostic& d, const SourceText* source, bool color) {
  const char* bold = color ? "\033[1m" : "";
  const char* red = color ? "\033[31m" : "";
  const char* yellow = color ? "\033[33m" : "";
  const char* dim = color ? "\033[90m" : "";
  const char* green = color ? "\033[32m" : "";
  const char* reset = color ? "\033[0m" : "";
  out << bold << d.path;
  if (d.pos.known()) out << ":" << d.pos.line << ":" << d.pos.column;
  out << ":" << reset << " " << (d.severity == Severity::kError ? red : yellow)
      << SeverityName(d.severity) << reset << ": " << d.message << " " << dim << "[" << d.rule
      << "]" << reset << "\n";
  if (source && d.pos.known()) {
    std::string_view line = source->Line(d.pos.line);
    std::string number = std::to_string(d.pos.line);
    std::string gutter(number.size(), ' ');
    out << dim << gutter << " |" << reset << "\n";
    out << dim << number << " |" << reset << " " << line << "\n";
    // Keep tabs in the padding so the caret lines up under the column.
    std::string padding;
    for (int i = 0; i < d.pos.column - 1 && i < static_cast<int>(line.size()); ++i) {
      padding += line[i] == '\t' ? '\t' : ' ';
    }
    out << dim << gutter << " |" << reset << " " << padding << green << "^" << reset << "\n";
  }
  if (!d.hint.empty()) out << "  hint: " << d.hint << "\n";
}

}  // namespace

void PrintDiagnostics(std::ostream& out, const std::vector<Diagnostic>& diagnostics,
                      DiagnosticFormat format,
                      const std::map<std::string, const SourceText*>& sources, bool color) {
  switch (format) {
    case DiagnosticFormat::kJson: {
      Json list = Json::array();
      for (const auto& d : diagnostics) {
        list.push_back({{"path", d.path},
                        {"line", d.pos.line},
                        {"column", d.pos.column},
                        {"severity", SeverityName(d.severity)},
                        {"message", d.message},
                        {"rule", d.rule},
                        {"hint", d.hint}});
      }
      out << list.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
      return;
    }
    case DiagnosticFormat::kGithub:
      for (const auto& d : diagnostics) {
        out << "::" << SeverityName(d.severity) << " file=" << GithubEscape(d.path, true);
        if (d.pos.known()) out << ",line=" << d.pos.line << ",col=" << d.pos.column;
        std::string message = d.message;
        if (!d.hint.empty()) message += " (" + d.hint + ")";
        out << ",title=" << GithubEscape(d.rule, true) << "::" << GithubEscape(message, false)
            << "\n";
      }
      return;
    case DiagnosticFormat::kText:
      for (const auto& d : diagnostics) {
        auto it = sources.find(d.path);
        PrintText(out, d, it == sources.end() ? nullptr : it->second, color);
      }
      return;
  }
}

}  // namespace flowrun

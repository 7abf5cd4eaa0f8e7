#include "interpreter/yaml_syntax_check.h"

#include <yaml.h>

#include <string>

namespace flowrun {
namespace {

// The length of the line break libyaml sees at `i` (CR LF, CR, LF, NEL, LS, PS), or 0.
size_t LibyamlBreakAt(std::string_view text, size_t i) {
  if (text[i] == '\r') return i + 1 < text.size() && text[i + 1] == '\n' ? 2 : 1;
  if (text[i] == '\n') return 1;
  if (text.substr(i, 2) == "\xC2\x85") return 2;
  if (text.substr(i, 3) == "\xE2\x80\xA8" || text.substr(i, 3) == "\xE2\x80\xA9") return 3;
  return 0;
}

// Where libyaml's mark is, in flowrun's terms (SourceText): lines end at LF only and columns count
// bytes. libyaml also ends lines at a lone CR, NEL, LS and PS, and counts columns in characters,
// so its own line and column can point past the text as the rest of flowrun numbers it.
SourcePos ToPos(std::string_view text, const yaml_mark_t& mark) {
  size_t offset = 0;
  for (size_t line = 0; line < mark.line && offset < text.size();) {
    const size_t width = LibyamlBreakAt(text, offset);
    offset += width == 0 ? 1 : width;
    line += width != 0;
  }
  for (size_t column = 0; column < mark.column && offset < text.size(); ++column) {
    ++offset;  // past a UTF-8 lead byte and its continuation bytes
    while (offset < text.size() && (static_cast<unsigned char>(text[offset]) & 0xC0) == 0x80) {
      ++offset;
    }
  }
  return SourceText("", std::string(text)).PositionOf(offset);
}

// A hint for the errors people make by hand, from libyaml's problem and context texts.
std::string HintFor(const std::string& problem, const std::string& context, SourcePos context_pos) {
  const std::string opened_at =
      "line " + std::to_string(context_pos.line) + ", column " + std::to_string(context_pos.column);
  if (context.find("quoted scalar") != std::string::npos) {
    return "the quoted string that opens at " + opened_at +
           " is never closed; add the closing quote";
  }
  if (problem.find("could not find expected ':'") != std::string::npos) {
    return "a line inside a mapping needs `key: value`; quote text that should continue the "
           "previous value, or indent it under its key";
  }
  if (problem.find("mapping values are not allowed") != std::string::npos) {
    return "a plain value cannot contain \": \"; put the value in quotes";
  }
  if (problem.find("did not find expected key") != std::string::npos ||
      problem.find("did not find expected '-' indicator") != std::string::npos) {
    return "check the indentation: items of one mapping or list must start in the same column";
  }
  if (problem.find("tab") != std::string::npos) {
    return "YAML indents with spaces only; replace the tabs";
  }
  if (problem.find("did not find expected ',' or '}'") != std::string::npos ||
      problem.find("did not find expected ',' or ']'") != std::string::npos) {
    return "the flow collection that opens at " + opened_at +
           " is not closed, or a value inside it needs quotes";
  }
  if (problem.find("found undefined alias") != std::string::npos ||
      problem.find("found character that cannot start any token") != std::string::npos) {
    return "characters such as @, `, *, & and % cannot start a plain value; put it in quotes";
  }
  return "";
}

// libyaml follows YAML 1.1, where a plain scalar in a flow collection cannot contain '?': it
// rejects `{url: https://x.example/a?b=c}` and `{subject: Ready?}`, which YAML 1.2 (and
// yaml-cpp) accept. A '?' that is an indicator always follows a space, a line break or a flow
// indicator, so every other '?' is replaced by a plain character of the same length before
// libyaml reads the text; positions do not move.
std::string WithoutPlainQuestionMarks(std::string_view text) {
  std::string out(text);
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i] != '?') continue;
    const char before = text[i - 1];
    if (before != ' ' && before != '\t' && before != '\n' && before != '\r' && before != '[' &&
        before != '{' && before != ',') {
      out[i] = 'q';
    }
  }
  return out;
}

}  // namespace

std::optional<YamlSyntaxError> CheckYamlSyntax(std::string_view text, int max_depth) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    return YamlSyntaxError{{1, 1}, "out of memory while checking YAML syntax", ""};
  }
  const std::string input = WithoutPlainQuestionMarks(text);
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(input.data()),
                               input.size());
  std::optional<YamlSyntaxError> error;
  int depth = 0;
  for (;;) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      const std::string problem = parser.problem ? parser.problem : "invalid YAML";
      const std::string context = parser.context ? parser.context : "";
      std::string message = context.empty() ? problem : problem + " " + context;
      error = YamlSyntaxError{ToPos(input, parser.problem_mark), std::move(message),
                              HintFor(problem, context, ToPos(input, parser.context_mark))};
      break;
    }
    const yaml_event_type_t type = event.type;
    const yaml_mark_t at = event.start_mark;
    yaml_event_delete(&event);
    if (type == YAML_STREAM_END_EVENT) break;
    if (type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT) {
      if (++depth > max_depth) {
        error = YamlSyntaxError{ToPos(input, at),
                                "nesting is deeper than " + std::to_string(max_depth) + " levels",
                                "", "limits"};
        break;
      }
    } else if (type == YAML_MAPPING_END_EVENT || type == YAML_SEQUENCE_END_EVENT) {
      --depth;
    }
  }
  yaml_parser_delete(&parser);
  return error;
}

}  // namespace flowrun

#include "interpreter/yaml_syntax_check.h"

#include <yaml.h>

#include <string>

namespace flowrun {
namespace {

SourcePos ToPos(const yaml_mark_t& mark) {
  return {static_cast<int>(mark.line) + 1, static_cast<int>(mark.column) + 1};
}

// A hint for the errors people make by hand, from libyaml's problem and context texts.
std::string HintFor(const std::string& problem, const std::string& context,
                    const yaml_mark_t& context_mark) {
  const std::string opened_at = "line " + std::to_string(context_mark.line + 1) + ", column " +
                                std::to_string(context_mark.column + 1);
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
      error = YamlSyntaxError{ToPos(parser.problem_mark), std::move(message),
                              HintFor(problem, context, parser.context_mark)};
      break;
    }
    const yaml_event_type_t type = event.type;
    const SourcePos at = ToPos(event.start_mark);
    yaml_event_delete(&event);
    if (type == YAML_STREAM_END_EVENT) break;
    if (type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT) {
      if (++depth > max_depth) {
        error = YamlSyntaxError{
            at, "nesting is deeper than " + std::to_string(max_depth) + " levels", "", "limits"};
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

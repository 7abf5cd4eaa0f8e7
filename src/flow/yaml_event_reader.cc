#include "flow/yaml_event_reader.h"

#include <yaml.h>

#include <algorithm>
#include <string>
#include <vector>

namespace flowrun {
namespace {

// Maps libyaml marks to byte offsets and positions. A mark's index counts characters (a CR LF
// counts two), so in ASCII text it is the byte offset; otherwise a cursor walks the UTF-8 text
// from the last mark it mapped, which is near, since events come in document order.
class MarkMapper {
 public:
  explicit MarkMapper(std::string_view text)
      : text_(text), ascii_(std::all_of(text.begin(), text.end(), [](char c) {
          return static_cast<unsigned char>(c) < 0x80;
        })) {}

  size_t Offset(const yaml_mark_t& mark) {
    if (ascii_) return std::min(mark.index, text_.size());
    while (index_ < mark.index && offset_ < text_.size()) {
      ++offset_;  // past a UTF-8 lead byte and its continuation bytes
      while (offset_ < text_.size() && IsContinuation(text_[offset_])) ++offset_;
      ++index_;
    }
    while (index_ > mark.index && offset_ > 0) {
      --offset_;
      while (offset_ > 0 && IsContinuation(text_[offset_])) --offset_;
      --index_;
    }
    return offset_;
  }

  SourcePos Position(const yaml_mark_t& mark) { return PositionOf(Offset(mark)); }

  SourcePos PositionOf(size_t offset) {
    // Lines are found by a forward scan from the last position, for the same reason.
    if (offset < line_start_) {
      line_ = 1;
      line_start_ = 0;
    }
    for (;;) {
      size_t newline = text_.find('\n', line_start_);
      if (newline == std::string_view::npos || newline >= offset) break;
      line_start_ = newline + 1;
      ++line_;
    }
    return {line_, static_cast<int>(offset - line_start_) + 1};
  }

 private:
  static bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

  std::string_view text_;
  bool ascii_;
  size_t index_ = 0;   // the cursor, in characters
  size_t offset_ = 0;  // the cursor, in bytes
  int line_ = 1;
  size_t line_start_ = 0;
};

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
// rejects `{url: https://x.example/a?b=c}` and `{subject: Ready?}`, which YAML 1.2 accepts. A '?'
// that is an indicator always follows a space, a line break or a flow indicator, so every other
// '?' is replaced by a plain 'q' before libyaml reads the text; positions do not move. Returns the
// offsets replaced, in order (usually none, and then `out` is not written).
std::vector<size_t> ReplacePlainQuestionMarks(std::string_view text, std::string& out) {
  std::vector<size_t> replaced;
  for (size_t i = text.find('?', 1); i != std::string_view::npos; i = text.find('?', i + 1)) {
    const char before = text[i - 1];
    if (before == ' ' || before == '\t' || before == '\n' || before == '\r' || before == '[' ||
        before == '{' || before == ',') {
      continue;
    }
    if (replaced.empty()) out.assign(text);
    out[i] = 'q';
    replaced.push_back(i);
  }
  return replaced;
}

// Reads one scalar as a document of its own: a quoted scalar means the same anywhere.
std::optional<std::string> ReadStandaloneScalar(std::string_view text) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return std::nullopt;
  yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  std::optional<std::string> value;
  for (;;) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) break;
    const yaml_event_type_t type = event.type;
    if (type == YAML_SCALAR_EVENT && !value) {
      value.emplace(reinterpret_cast<const char*>(event.data.scalar.value),
                    event.data.scalar.length);
    }
    yaml_event_delete(&event);
    if (type == YAML_STREAM_END_EVENT) break;
  }
  yaml_parser_delete(&parser);
  return value;
}

// Puts back the '?' characters that ReplacePlainQuestionMarks turned into 'q' inside one scalar,
// whose text is original[begin, end). Every 'q' of a plain, single-quoted or block scalar's value
// comes from a 'q' of its text, in order (folding adds only spaces and line breaks); so does every
// 'q' of a double-quoted one unless an escape such as \x71 made one, which is read again whole.
void RestoreQuestionMarks(std::string_view original, std::string_view replaced_text, size_t begin,
                          size_t end, yaml_scalar_style_t style, std::string& value) {
  if (style == YAML_LITERAL_SCALAR_STYLE || style == YAML_FOLDED_SCALAR_STYLE) {
    // The header line (`| # comment?`) is not content.
    size_t newline = original.find_first_of("\r\n", begin);
    begin = std::min(newline == std::string_view::npos ? end : newline, end);
  }
  std::vector<size_t> sources;
  for (size_t i = begin; i < end; ++i) {
    if (replaced_text[i] == 'q') sources.push_back(i);
  }
  std::vector<size_t> targets;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == 'q') targets.push_back(i);
  }
  if (sources.size() == targets.size()) {
    for (size_t k = 0; k < sources.size(); ++k) value[targets[k]] = original[sources[k]];
    return;
  }
  if (style == YAML_DOUBLE_QUOTED_SCALAR_STYLE || style == YAML_SINGLE_QUOTED_SCALAR_STYLE) {
    if (auto reread = ReadStandaloneScalar(original.substr(begin, end - begin))) {
      value = std::move(*reread);
    }
  }
}

YamlEvent::Style StyleOf(yaml_scalar_style_t style) {
  switch (style) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
      return YamlEvent::Style::kSingleQuoted;
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
      return YamlEvent::Style::kDoubleQuoted;
    case YAML_LITERAL_SCALAR_STYLE:
      return YamlEvent::Style::kLiteral;
    case YAML_FOLDED_SCALAR_STYLE:
      return YamlEvent::Style::kFolded;
    default:
      return YamlEvent::Style::kPlain;
  }
}

std::string_view View(const yaml_char_t* text) {
  return text ? std::string_view(reinterpret_cast<const char*>(text)) : std::string_view();
}

}  // namespace

std::optional<YamlSyntaxError> ReadYamlEvents(std::string_view text, int max_depth,
                                              YamlEventHandler& handler) {
  std::string replaced_text;
  const std::vector<size_t> replaced = ReplacePlainQuestionMarks(text, replaced_text);
  const std::string_view input = replaced.empty() ? text : std::string_view(replaced_text);

  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    return YamlSyntaxError{{1, 1}, "out of memory while reading YAML", ""};
  }
  // Flow files are UTF-8; a byte-order mark is then read as one character.
  yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(input.data()),
                               input.size());
  MarkMapper marks(input);
  std::optional<YamlSyntaxError> error;
  std::string restored;  // a scalar's value with its '?' put back
  int depth = 0;
  for (;;) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      const std::string problem = parser.problem ? parser.problem : "invalid YAML";
      const std::string context = parser.context ? parser.context : "";
      std::string message = context.empty() ? problem : problem + " " + context;
      const SourcePos context_pos = marks.Position(parser.context_mark);
      error = YamlSyntaxError{marks.Position(parser.problem_mark), std::move(message),
                              HintFor(problem, context, context_pos)};
      break;
    }
    YamlEvent out;
    bool deliver = true;
    switch (event.type) {
      case YAML_DOCUMENT_START_EVENT:
        out.type = YamlEvent::Type::kDocumentStart;
        break;
      case YAML_SCALAR_EVENT: {
        const auto& scalar = event.data.scalar;
        out.type = YamlEvent::Type::kScalar;
        out.anchor = View(scalar.anchor);
        out.tag = View(scalar.tag);
        out.value = std::string_view(reinterpret_cast<const char*>(scalar.value), scalar.length);
        out.style = StyleOf(scalar.style);
        if (!replaced.empty()) {
          const size_t begin = marks.Offset(event.start_mark);
          const size_t end = marks.Offset(event.end_mark);
          auto first = std::lower_bound(replaced.begin(), replaced.end(), begin);
          if (first != replaced.end() && *first < end) {
            restored.assign(out.value);
            RestoreQuestionMarks(text, input, begin, end, scalar.style, restored);
            out.value = restored;
          }
        }
        break;
      }
      case YAML_ALIAS_EVENT:
        out.type = YamlEvent::Type::kAlias;
        out.anchor = View(event.data.alias.anchor);
        break;
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        const bool sequence = event.type == YAML_SEQUENCE_START_EVENT;
        out.type = sequence ? YamlEvent::Type::kSequenceStart : YamlEvent::Type::kMappingStart;
        out.anchor =
            View(sequence ? event.data.sequence_start.anchor : event.data.mapping_start.anchor);
        out.tag = View(sequence ? event.data.sequence_start.tag : event.data.mapping_start.tag);
        if (++depth > max_depth) {
          error = YamlSyntaxError{marks.Position(event.start_mark),
                                  "nesting is deeper than " + std::to_string(max_depth) + " levels",
                                  "", "limits"};
        }
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        out.type = event.type == YAML_SEQUENCE_END_EVENT ? YamlEvent::Type::kSequenceEnd
                                                         : YamlEvent::Type::kMappingEnd;
        --depth;
        break;
      default:  // stream start and end, document end
        deliver = false;
        break;
    }
    if (deliver && !error) {
      if (out.type != YamlEvent::Type::kSequenceEnd && out.type != YamlEvent::Type::kMappingEnd) {
        out.pos = marks.Position(event.start_mark);
      }
      handler.OnEvent(out);
    }
    const bool stream_end = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
    if (stream_end || error) break;
  }
  yaml_parser_delete(&parser);
  return error;
}

}  // namespace flowrun

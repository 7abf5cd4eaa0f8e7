// YamlEventReader: reads YAML text with libyaml, the reference parser, as a stream of events
// (scalars, aliases, starts and ends of mappings and sequences), each placed in flowrun's terms.
//
// It is the one YAML parse of a flow file: the loader builds the document from these events, and
// the same pass is the syntax check. yaml-cpp 0.7, which flowrun used before, accepts some text
// the YAML spec rejects (an unterminated double-quoted scalar at the end of the file swallows the
// rest of the flow; a trailing bare scalar in a block mapping is dropped); libyaml rejects both,
// and the first syntax error is reported with its position and, for the usual mistakes, a hint.
//
// Positions count lines at LF only and columns in bytes, as SourceText does (libyaml also ends
// lines at a lone CR, NEL, LS and PS and counts columns in characters).
//
// libyaml follows YAML 1.1, where a plain scalar in a flow collection cannot contain '?': it
// rejects `{url: https://x.example/a?b=c}`, which YAML 1.2 accepts. Such a '?' is read as a plain
// character; the scalars that contain one still hold the '?' (see the .cc).
//
// Thread-safety: pure; call from any thread (the handler is called on the caller's thread).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "flow/source.h"

namespace flowrun {

struct YamlSyntaxError {
  SourcePos pos;        // where libyaml found the problem
  std::string message;  // e.g. "found unexpected end of stream while scanning a quoted scalar"
  std::string hint;     // what to do about it; may be empty
  std::string rule = "syntax";  // "syntax", or "limits" when nesting is deeper than allowed
};

struct YamlEvent {
  enum class Type {
    kDocumentStart,
    kScalar,
    kAlias,
    kSequenceStart,
    kSequenceEnd,
    kMappingStart,
    kMappingEnd,
  };
  Type type = Type::kScalar;
  // Where the node begins, with its anchor and tag if it has them. Unknown for the ends.
  SourcePos pos;
  // The node's anchor, or for kAlias the anchor it refers to; empty when there is none.
  std::string_view anchor;
  // The node's resolved tag ("tag:yaml.org,2002:int", "!"); empty when it has none.
  std::string_view tag;
  // kScalar: the content, with escapes and line folding applied.
  std::string_view value;
  // kScalar: how it was written. Only escapes (double-quoted) can make a value that is not UTF-8.
  enum class Style { kPlain, kSingleQuoted, kDoubleQuoted, kLiteral, kFolded };
  Style style = Style::kPlain;
};

// Receives the events of one read. They arrive in document order; a read that ends in a syntax
// error has delivered the events before the error, which the caller then discards.
class YamlEventHandler {
 public:
  virtual ~YamlEventHandler() = default;
  virtual void OnEvent(const YamlEvent& event) = 0;
};

// Reads `text` (any number of documents), calling `handler` for each event. Returns the first
// syntax error, or nullopt when the text is well-formed YAML. Stops at the first mapping or
// sequence nested deeper than `max_depth` (rule "limits"), so hostile input cannot grow the
// parser's stacks.
// REQUIRES: `text` has no NUL bytes (YamlLoader refuses them first).
[[nodiscard]] std::optional<YamlSyntaxError> ReadYamlEvents(std::string_view text, int max_depth,
                                                            YamlEventHandler& handler);

}  // namespace flowrun

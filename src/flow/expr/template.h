// `${{ expr }}` templates inside flow strings.
//
// A string that is exactly one `${{ expr }}` (surrounding spaces allowed) yields the expression's
// value with its type. A string with text around or several templates interpolates: each value is
// rendered as text (strings bare, null as "", other values as compact JSON). A string with no
// `${{` is a literal. `$${{` escapes a literal "${{".
// A `${{` without a closing `}}` (the first one outside a string literal) is a ParseError at the
// `${{`; so is an empty `${{ }}`.
//
// Thread-safety: immutable after Parse; see Expression.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "flow/expr/expression.h"

namespace flowrun::expr {

class Template {
 public:
  // Parses `text`. A ParseError's offset is relative to the start of `text`.
  static std::variant<Template, ParseError> Parse(std::string_view text);

  bool is_literal() const { return parts_.size() <= 1 && expressions_.empty(); }
  // True when the text is exactly one expression, so Render keeps its type.
  bool is_whole_value() const;

  StatusOr<Json> Render(const EvalContext& context) const;

  // The parsed expressions, each with the offset of its source in `text`.
  struct Embedded {
    Expression expression;
    size_t offset;  // byte offset of the expression's first character in `text`
  };
  const std::vector<Embedded>& expressions() const { return expressions_; }

 private:
  Template() = default;
  std::vector<std::string> parts_;     // literal text around the expressions
  std::vector<Embedded> expressions_;  // parts_.size() == expressions_.size() + 1 unless literal
  bool whole_value_ = false;
};

// A JSON value in which every string (not object keys) may hold templates, compiled once.
// Render returns the value with each template rendered. Thread-safety: as Template.
class ValueTemplate {
 public:
  // Compiles every string in `value`. On error returns the ParseError and, through
  // `error_pointer`, the JSON pointer (relative to `value`) of the string that failed.
  struct CompileError {
    ParseError error;
    std::string pointer;
  };
  static std::variant<ValueTemplate, CompileError> Compile(const Json& value);

  bool is_literal() const;
  StatusOr<Json> Render(const EvalContext& context) const;

  // Every embedded expression with the JSON pointer of the string that holds it.
  struct Site {
    std::string pointer;
    const Template::Embedded* embedded;
  };
  std::vector<Site> Sites() const;

  ValueTemplate(ValueTemplate&&) noexcept;
  ValueTemplate& operator=(ValueTemplate&&) noexcept;
  ~ValueTemplate();

 private:
  ValueTemplate();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowrun::expr

// The flowrun expression language: a CEL-like subset, parsed once at load time and evaluated
// many times over JSON values.
//
//   literals   1, 2.5, "s", 's', true, false, null, [1, 2], {"k": v}
//   paths      a.b, a["k"], a[0]; a segment after '.' may contain '-': steps.get-user.output
//   operators  ! -(unary) * / % + - < <= > >= == != in && || ?: ??   (usual CEL precedence)
//   functions  size lower upper trim contains starts_with ends_with matches split join replace
//              substring string int float keys values now timestamp duration format_time uuid
//              called as f(x, y) or method style x.f(y)
//
// Identifiers may contain '-' (not first or last), so write subtraction with spaces: `a - b`.
// The full reference for users is docs/expressions.md.
//
// A missing field is null, not an error. Timestamps and durations are values of their own
// during evaluation (timestamp - duration is a timestamp, timestamp - timestamp a duration); when
// a result leaves the evaluator a timestamp becomes an RFC 3339 string and a duration its text
// form ("1h30m").
//
// Thread-safety: an Expression is immutable after Parse and may be evaluated from many threads
// at once, provided each call has its own EvalContext.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "common/timestamp.h"

namespace flowrun::expr {

class Node;  // The syntax tree; defined in ast.h.

// A parse error: a message for a user and the byte offset in the expression source it points at.
struct ParseError {
  enum class Kind {
    kSyntax,           // malformed source, bad literal, too deep or too long
    kUnknownFunction,  // a call to a function that does not exist (message has "did you mean")
    kWrongArity,       // a known function called with the wrong number of arguments
  };
  std::string message;
  size_t offset = 0;
  Kind kind = Kind::kSyntax;
};

// A variable access with the longest statically known path prefix, for the checker:
// `steps.get-user.output.body["email"]` yields {"steps", "get-user", "output", "body", "email"};
// `event.data[x]` yields {"event", "data"}. `offset` is where the access begins in the source.
struct Reference {
  std::vector<std::string> path;
  size_t offset = 0;
};

// A function call, for the checker (unknown functions and arity are parse errors already; this is
// for callers that want to know, e.g., whether an expression is non-deterministic).
struct Call {
  std::string name;
  size_t arity = 0;
  size_t offset = 0;
};

// What evaluation may consult besides the scope. Non-deterministic functions go through these
// hooks so that the engine can record and replay their values. Default hooks use the system
// clock and a random UUID v4.
struct EvalContext {
  // An object whose members are the root names: event, steps, vars, secrets, run, async, error,
  // and loop variables. REQUIRES: non-null, outlives the call.
  const Json* scope = nullptr;
  std::function<TimePoint()> now = nullptr;     // Default: the system clock.
  std::function<std::string()> uuid = nullptr;  // Default: a random UUID v4.
};

// When an expression has the shape `async.<path> == <expr>` (either side; the other side must
// not mention `async`), the engine indexes waits by it. See Expression::AsAsyncEquality.
struct AsyncEquality {
  std::vector<std::string> async_path;  // the path after `async`, e.g. {"data", "orderId"}
  const Node* other_side = nullptr;     // evaluated in the waiting run's scope
};

class Expression {
 public:
  // Parses `source`. Unknown functions and wrong arity are parse errors. The result owns its tree.
  // Limits: source at most 64 KiB, nesting at most 128 levels; beyond them a ParseError.
  static std::variant<Expression, ParseError> Parse(std::string_view source);

  Expression(Expression&&) noexcept;
  Expression& operator=(Expression&&) noexcept;
  Expression(const Expression&) = delete;
  Expression& operator=(const Expression&) = delete;
  ~Expression();

  // Evaluates against the context. Errors (type errors, division by zero, a bad regex, a value
  // too large) are kInvalidArgument with a message naming the offending part; they are not
  // retryable. Evaluation is bounded: string and list results are capped at 16 MiB.
  StatusOr<Json> Evaluate(const EvalContext& context) const;

  // Evaluates the tree `node` (from AsAsyncEquality) the same way.
  static StatusOr<Json> EvaluateNode(const Node& node, const EvalContext& context);

  // Evaluates and converts to a boolean with CEL-like truthiness: null and false are false;
  // every other non-bool value is an error ("if: expected a boolean").
  StatusOr<bool> EvaluateCondition(const EvalContext& context) const;

  const std::string& source() const { return source_; }
  const std::vector<Reference>& references() const { return references_; }
  const std::vector<Call>& calls() const { return calls_; }

  // True when the expression calls now() or uuid().
  bool is_non_deterministic() const;

  // See AsyncEquality. nullopt when the expression does not have that shape.
  std::optional<AsyncEquality> AsAsyncEquality() const;

 private:
  Expression() = default;
  std::string source_;
  std::unique_ptr<Node> root_;
  std::vector<Reference> references_;
  std::vector<Call> calls_;
};

}  // namespace flowrun::expr

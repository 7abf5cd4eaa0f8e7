// The syntax tree of an expression, built by the parser (expr_parser.h) and walked by the
// evaluator (evaluator.h). Every node records the byte offset in the source it came from, so that
// evaluation errors and checker diagnostics can point at it.
//
// Thread-safety: immutable after parsing; safe to read from many threads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "flow/expr/expression.h"

namespace re2 {
class RE2;
}

namespace flowrun::expr {

struct Function;

enum class NodeKind {
  kLiteral,      // literal
  kList,         // children: the elements
  kMap,          // children: key, value, key, value, ...
  kIdent,        // name: a root name from the scope
  kMember,       // children[0].name
  kIndex,        // children[0][children[1]]
  kCall,         // name(children...); `x.f(y)` is stored as f(x, y)
  kUnary,        // op children[0]
  kBinary,       // children[0] op children[1]
  kConditional,  // children[0] ? children[1] : children[2]
};

enum class Op {
  kNone,
  kNot,
  kNegate,
  kAdd,
  kSubtract,
  kMultiply,
  kDivide,
  kModulo,
  kEqual,
  kNotEqual,
  kLess,
  kLessEqual,
  kGreater,
  kGreaterEqual,
  kIn,
  kAnd,
  kOr,
  kCoalesce,
};

// The operator as written: "+", "&&", "in".
std::string_view OperatorSymbol(Op op);

class Node {
 public:
  Node(NodeKind kind, size_t offset) : kind(kind), offset(offset) {}
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  NodeKind kind;
  size_t offset;  // byte offset in the expression source
  Op op = Op::kNone;
  std::string name;  // kIdent: the root name; kMember: the field; kCall: the function
  Json literal;      // kLiteral
  std::vector<std::unique_ptr<Node>> children;
  int height = 1;  // 1 for a leaf; bounded by kMaxNesting

  // kCall only.
  const Function* function = nullptr;
  // kCall of `matches` whose pattern is a string literal: the pattern compiled at parse time, or
  // the compile error, which evaluation reports.
  std::shared_ptr<const re2::RE2> regex;
  Status regex_error;
};

// The path of a node that is purely a static variable access: an identifier followed by fields
// and string-literal indexes (`async.data["id"]` -> {"async", "data", "id"}). nullopt otherwise.
std::optional<std::vector<std::string>> StaticPath(const Node& node);

// Every variable access in the tree with its longest static path prefix, in source order.
std::vector<Reference> CollectReferences(const Node& root);

// Every function call in the tree, in source order.
std::vector<Call> CollectCalls(const Node& root);

}  // namespace flowrun::expr

// The evaluator: walks a syntax tree (ast.h) over an EvalContext and produces a Value.
//
// Null semantics, to be friendly to missing data: a missing field, an absent map key, an index
// past the end of a list (or negative), and any field or index of null are all null. Reading a
// field of a string, number, bool or list, or indexing with the wrong type, is an error.
//
// Recursion is bounded by the tree height, which the parser limits (kMaxNesting).
//
// Thread-safety: pure function of the tree and the context.
#pragma once

#include "common/status.h"
#include "flow/expr/ast.h"
#include "flow/expr/expr_value.h"
#include "flow/expr/expression.h"

namespace flowrun::expr {

// The value of `node`. Borrowed parts of the result point into `context.scope` or the tree.
StatusOr<Value> EvaluateTree(const Node& node, const EvalContext& context);

}  // namespace flowrun::expr

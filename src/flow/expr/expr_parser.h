// The expression parser: precedence climbing over the lexer's tokens, producing the syntax tree
// (ast.h). Precedence, lowest first:
//
//   ?:   ??   ||   &&   == != < <= > >= in   + -   * / %   unary ! -   member . index [] call ()
//
// Binary operators are left-associative; `?:` is right-associative. Calls are checked against
// the FunctionTable here, so unknown functions and wrong arity are parse errors. A literal
// `matches` pattern is compiled here, once.
//
// Hostile input is bounded: the source length (kMaxSourceBytes), the recursion depth and the
// height of the tree (kMaxNesting) are checked, so neither parsing nor any later walk of the tree
// can exhaust the stack.
//
// Thread-safety: pure function.
#pragma once

#include <memory>
#include <string_view>
#include <variant>

#include "flow/expr/ast.h"
#include "flow/expr/expression.h"

namespace flowrun::expr {

std::variant<std::unique_ptr<Node>, ParseError> ParseTree(std::string_view source);

}  // namespace flowrun::expr

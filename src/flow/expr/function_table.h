// FunctionTable: the functions an expression may call, each with its arity range and
// implementation. The parser consults the table to reject unknown functions (with a "did you
// mean") and wrong arity; the evaluator calls the implementation with evaluated arguments.
//
// Adding a function: write its implementation in function_table.cc and add one row to the table.
//
// Thread-safety: the table is built once on first use and immutable afterwards.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "flow/expr/expr_value.h"
#include "flow/expr/expression.h"

namespace re2 {
class RE2;
}

namespace flowrun::expr {

// What a function sees besides its arguments.
struct CallEnv {
  const EvalContext& context;
  // For `matches` with a literal pattern: the regex compiled at parse time, or its compile error.
  const re2::RE2* regex = nullptr;
  const Status* regex_error = nullptr;
};

using FunctionImpl = StatusOr<Value> (*)(std::vector<Value>& args, const CallEnv& env);

struct Function {
  std::string_view name;
  size_t min_arity;
  size_t max_arity;
  std::string_view signature;  // for messages and docs: "substring(s, start[, end])"
  FunctionImpl impl;
  bool non_deterministic = false;  // now(), uuid(): the engine journals their values
};

class FunctionTable {
 public:
  // The table of built-in functions.
  static const FunctionTable& BuiltIn();

  // nullptr when there is no such function.
  const Function* Find(std::string_view name) const;

  // The closest name by edit distance, or "" when nothing is close.
  std::string Suggest(std::string_view name) const;

  // Sorted by name.
  const std::vector<Function>& functions() const { return functions_; }

  FunctionTable(const FunctionTable&) = delete;
  FunctionTable& operator=(const FunctionTable&) = delete;

 private:
  explicit FunctionTable(std::vector<Function> functions);
  std::vector<Function> functions_;
};

// Compiles a regular expression with the language's bounds (pattern length, RE2 memory).
// Errors are kInvalidArgument naming the problem.
StatusOr<std::shared_ptr<const re2::RE2>> CompileRegex(std::string_view pattern);

}  // namespace flowrun::expr

// The operators of the expression language applied to evaluated values. Short-circuiting
// operators (&&, ||, ??, ?:) are handled by the evaluator, which calls Truth for their operands.
//
//   + - * / %        numbers (int64 with overflow checks, or float); + also concatenates strings
//                    and lists; timestamp ± duration, duration ± duration, timestamp - timestamp;
//                    duration * int, duration / int
//   < <= > >=        numbers, strings (bytewise), timestamps, durations
//   == !=            deep equality (1 == 1.0)
//   in               element in list, key in map, substring in string; anything in null is false
//   ! -              boolean not (null counts as false), numeric or duration negation
//
// Type errors name the operator and the types: `operator "+" cannot add string and number`.
//
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "common/status.h"
#include "flow/expr/ast.h"
#include "flow/expr/expr_value.h"

namespace flowrun::expr {

// REQUIRES: op is kNot or kNegate.
StatusOr<Value> ApplyUnary(Op op, const Value& operand);

// REQUIRES: op is an arithmetic, relational, equality or `in` operator.
StatusOr<Value> ApplyBinary(Op op, const Value& lhs, const Value& rhs);

// The truth of an operand of `what` (an operator such as "&&", or "condition"): null and false
// are false, true is true, anything else is an error.
StatusOr<bool> Truth(const Value& value, std::string_view what);

// Checks that a timestamp is within the years 0001..9999, which every function accepts.
Status CheckTimestampRange(TimePoint t);

}  // namespace flowrun::expr

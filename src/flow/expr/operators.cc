#include "flow/expr/operators.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "flow/expr/limits.h"

namespace flowrun::expr {
namespace {

// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z in Unix milliseconds.
constexpr int64_t kMinTimestampMs = -62135596800000LL;
constexpr int64_t kMaxTimestampMs = 253402300799999LL;

std::string_view Verb(Op op) {
  switch (op) {
    case Op::kAdd:
      return "add";
    case Op::kSubtract:
      return "subtract";
    case Op::kMultiply:
      return "multiply";
    case Op::kDivide:
      return "divide";
    case Op::kModulo:
      return "take the remainder of";
    case Op::kIn:
      return "look for";
    default:
      return "compare";
  }
}

Status TypeError(Op op, const Value& a, const Value& b) {
  std::string joiner = op == Op::kIn ? " in " : " and ";
  return InvalidArgumentError("operator \"" + std::string(OperatorSymbol(op)) + "\" cannot " +
                              std::string(Verb(op)) + " " + std::string(a.TypeName()) + joiner +
                              std::string(b.TypeName()));
}

Status Overflow(Op op) {
  return InvalidArgumentError("integer overflow in operator \"" + std::string(OperatorSymbol(op)) +
                              "\"");
}

StatusOr<Value> FloatResult(Op op, double value) {
  if (!std::isfinite(value)) {
    return InvalidArgumentError("operator \"" + std::string(OperatorSymbol(op)) +
                                "\" produced a number that is not finite");
  }
  return Value(Json(value));
}

StatusOr<Value> TimestampResult(int64_t ms) {
  Status s = CheckTimestampRange(FromUnixMillis(ms));
  if (!s.ok()) return s;
  return Value(FromUnixMillis(ms));
}

StatusOr<Value> Arithmetic(Op op, const Value& a, const Value& b) {
  if (a.is_int() && b.is_int()) {
    int64_t x = a.as_int(), y = b.as_int(), r = 0;
    switch (op) {
      case Op::kAdd:
        if (__builtin_add_overflow(x, y, &r)) return Overflow(op);
        return Value(Json(r));
      case Op::kSubtract:
        if (__builtin_sub_overflow(x, y, &r)) return Overflow(op);
        return Value(Json(r));
      case Op::kMultiply:
        if (__builtin_mul_overflow(x, y, &r)) return Overflow(op);
        return Value(Json(r));
      case Op::kDivide:
        if (y == 0) return InvalidArgumentError("division by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1) return Overflow(op);
        return Value(Json(x / y));
      case Op::kModulo:
        if (y == 0) return InvalidArgumentError("modulo by zero");
        if (y == -1) return Value(Json(int64_t{0}));
        return Value(Json(x % y));
      default:
        break;
    }
  }
  if (a.is_number() && b.is_number()) {
    double x = a.as_double(), y = b.as_double();
    switch (op) {
      case Op::kAdd:
        return FloatResult(op, x + y);
      case Op::kSubtract:
        return FloatResult(op, x - y);
      case Op::kMultiply:
        return FloatResult(op, x * y);
      case Op::kDivide:
        if (y == 0) return InvalidArgumentError("division by zero");
        return FloatResult(op, x / y);
      case Op::kModulo:
        if (y == 0) return InvalidArgumentError("modulo by zero");
        return FloatResult(op, std::fmod(x, y));
      default:
        break;
    }
  }
  if (op == Op::kAdd && a.is_string() && b.is_string()) {
    if (a.as_string().size() + b.as_string().size() > kMaxStringBytes) {
      return InvalidArgumentError("operator \"+\" would make a string longer than 16 MiB");
    }
    return Value(Json(a.as_string() + b.as_string()));
  }
  if (op == Op::kAdd && a.is_list() && b.is_list()) {
    if (a.json().size() + b.json().size() > kMaxListElements) {
      return InvalidArgumentError("operator \"+\" would make a list longer than " +
                                  std::to_string(kMaxListElements) + " elements");
    }
    Json out = a.json();
    for (const Json& e : b.json()) out.push_back(e);
    return Value(std::move(out));
  }
  int64_t r = 0;
  // Time arithmetic, in milliseconds.
  if (a.is_timestamp() && b.is_duration() && (op == Op::kAdd || op == Op::kSubtract)) {
    int64_t t = ToUnixMillis(a.timestamp()), d = b.duration().count();
    bool overflow =
        op == Op::kAdd ? __builtin_add_overflow(t, d, &r) : __builtin_sub_overflow(t, d, &r);
    if (overflow) return InvalidArgumentError("timestamp out of range");
    return TimestampResult(r);
  }
  if (a.is_duration() && b.is_timestamp() && op == Op::kAdd) {
    if (__builtin_add_overflow(a.duration().count(), ToUnixMillis(b.timestamp()), &r)) {
      return InvalidArgumentError("timestamp out of range");
    }
    return TimestampResult(r);
  }
  if (a.is_timestamp() && b.is_timestamp() && op == Op::kSubtract) {
    if (__builtin_sub_overflow(ToUnixMillis(a.timestamp()), ToUnixMillis(b.timestamp()), &r)) {
      return Overflow(op);
    }
    return Value(Duration(r));
  }
  if (a.is_duration() && b.is_duration() && (op == Op::kAdd || op == Op::kSubtract)) {
    int64_t x = a.duration().count(), y = b.duration().count();
    bool overflow =
        op == Op::kAdd ? __builtin_add_overflow(x, y, &r) : __builtin_sub_overflow(x, y, &r);
    if (overflow) return Overflow(op);
    return Value(Duration(r));
  }
  if (op == Op::kMultiply && ((a.is_duration() && b.is_int()) || (a.is_int() && b.is_duration()))) {
    int64_t d = a.is_duration() ? a.duration().count() : b.duration().count();
    int64_t n = a.is_int() ? a.as_int() : b.as_int();
    if (__builtin_mul_overflow(d, n, &r)) return Overflow(op);
    return Value(Duration(r));
  }
  if (op == Op::kDivide && a.is_duration() && b.is_int()) {
    int64_t n = b.as_int();
    if (n == 0) return InvalidArgumentError("division by zero");
    if (a.duration().count() == std::numeric_limits<int64_t>::min() && n == -1) {
      return Overflow(op);
    }
    return Value(Duration(a.duration().count() / n));
  }
  return TypeError(op, a, b);
}

// Three-way comparison: negative, zero or positive.
StatusOr<int> Compare(Op op, const Value& a, const Value& b) {
  auto sign = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  if (a.is_int() && b.is_int()) return sign(a.as_int(), b.as_int());
  if (a.is_number() && b.is_number()) return sign(a.as_double(), b.as_double());
  if (a.is_string() && b.is_string())
    return a.as_string().compare(b.as_string()) < 0 ? -1 : (a.as_string() == b.as_string() ? 0 : 1);
  if (a.is_timestamp() && b.is_timestamp()) return sign(a.timestamp(), b.timestamp());
  if (a.is_duration() && b.is_duration()) return sign(a.duration(), b.duration());
  return TypeError(op, a, b);
}

StatusOr<Value> In(const Value& needle, const Value& haystack) {
  if (haystack.is_null()) return Value(Json(false));
  if (haystack.is_list()) {
    for (const Json& element : haystack.json()) {
      if (ValuesEqual(needle, Value::Borrow(&element))) return Value(Json(true));
    }
    return Value(Json(false));
  }
  if (haystack.is_map() && needle.is_string()) {
    return Value(Json(haystack.json().contains(needle.as_string())));
  }
  if (haystack.is_string() && needle.is_string()) {
    return Value(Json(haystack.as_string().find(needle.as_string()) != std::string::npos));
  }
  return TypeError(Op::kIn, needle, haystack);
}

}  // namespace

Status CheckTimestampRange(TimePoint t) {
  int64_t ms = ToUnixMillis(t);
  if (ms < kMinTimestampMs || ms > kMaxTimestampMs) {
    return InvalidArgumentError("timestamp out of range (years 0001 to 9999)");
  }
  return OkStatus();
}

StatusOr<Value> ApplyUnary(Op op, const Value& operand) {
  if (op == Op::kNot) {
    StatusOr<bool> truth = Truth(operand, "!");
    if (!truth.ok()) return truth.status();
    return Value(Json(!*truth));
  }
  if (operand.is_int()) {
    int64_t x = operand.as_int();
    if (x == std::numeric_limits<int64_t>::min()) return Overflow(op);
    return Value(Json(-x));
  }
  if (operand.is_number()) return Value(Json(-operand.as_double()));
  if (operand.is_duration()) {
    if (operand.duration().count() == std::numeric_limits<int64_t>::min()) return Overflow(op);
    return Value(-operand.duration());
  }
  return InvalidArgumentError("operator \"-\" cannot negate " + std::string(operand.TypeName()));
}

StatusOr<Value> ApplyBinary(Op op, const Value& lhs, const Value& rhs) {
  switch (op) {
    case Op::kAdd:
    case Op::kSubtract:
    case Op::kMultiply:
    case Op::kDivide:
    case Op::kModulo:
      return Arithmetic(op, lhs, rhs);
    case Op::kEqual:
      return Value(Json(ValuesEqual(lhs, rhs)));
    case Op::kNotEqual:
      return Value(Json(!ValuesEqual(lhs, rhs)));
    case Op::kLess:
    case Op::kLessEqual:
    case Op::kGreater:
    case Op::kGreaterEqual: {
      StatusOr<int> c = Compare(op, lhs, rhs);
      if (!c.ok()) return c.status();
      bool result = op == Op::kLess        ? *c < 0
                    : op == Op::kLessEqual ? *c <= 0
                    : op == Op::kGreater   ? *c > 0
                                           : *c >= 0;
      return Value(Json(result));
    }
    case Op::kIn:
      return In(lhs, rhs);
    default:
      return InternalError("operator \"" + std::string(OperatorSymbol(op)) +
                           "\" is not a plain binary operator");
  }
}

StatusOr<bool> Truth(const Value& value, std::string_view what) {
  if (value.is_null()) return false;
  if (value.is_bool()) return value.json().get<bool>();
  return InvalidArgumentError(std::string(what) + " expects a boolean, got " +
                              std::string(value.TypeName()));
}

}  // namespace flowrun::expr

#include "flow/expr/operators.h"

#include <gtest/gtest.h>

#include <limits>

namespace flowrun::expr {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

Value J(Json j) { return Value(std::move(j)); }

Json Ok(Op op, const Value& a, const Value& b) {
  StatusOr<Value> r = ApplyBinary(op, a, b);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r->ToJson() : Json("<error>");
}

std::string Err(Op op, const Value& a, const Value& b) {
  StatusOr<Value> r = ApplyBinary(op, a, b);
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  return r.status().message();
}

TEST(OperatorsTest, IntegerArithmetic) {
  EXPECT_EQ(Ok(Op::kAdd, J(2), J(3)), 5);
  EXPECT_EQ(Ok(Op::kSubtract, J(2), J(3)), -1);
  EXPECT_EQ(Ok(Op::kMultiply, J(4), J(-3)), -12);
  EXPECT_EQ(Ok(Op::kDivide, J(7), J(2)), 3);
  EXPECT_EQ(Ok(Op::kDivide, J(-7), J(2)), -3);
  EXPECT_EQ(Ok(Op::kModulo, J(7), J(3)), 1);
  EXPECT_EQ(Ok(Op::kModulo, J(kMin), J(-1)), 0);
  EXPECT_TRUE(Ok(Op::kAdd, J(2), J(3)).is_number_integer());
}

TEST(OperatorsTest, IntegerOverflowIsAnError) {
  EXPECT_EQ(Err(Op::kAdd, J(kMax), J(1)), "integer overflow in operator \"+\"");
  EXPECT_EQ(Err(Op::kSubtract, J(kMin), J(1)), "integer overflow in operator \"-\"");
  EXPECT_EQ(Err(Op::kMultiply, J(kMax), J(2)), "integer overflow in operator \"*\"");
  EXPECT_EQ(Err(Op::kDivide, J(kMin), J(-1)), "integer overflow in operator \"/\"");
  EXPECT_FALSE(ApplyUnary(Op::kNegate, J(kMin)).ok());
}

TEST(OperatorsTest, DivisionByZero) {
  EXPECT_EQ(Err(Op::kDivide, J(1), J(0)), "division by zero");
  EXPECT_EQ(Err(Op::kDivide, J(1.5), J(0.0)), "division by zero");
  EXPECT_EQ(Err(Op::kModulo, J(1), J(0)), "modulo by zero");
  EXPECT_EQ(Err(Op::kDivide, Value(Duration(10)), J(0)), "division by zero");
}

TEST(OperatorsTest, FloatArithmetic) {
  EXPECT_DOUBLE_EQ(Ok(Op::kAdd, J(1), J(0.5)).get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(Ok(Op::kDivide, J(1.0), J(4)).get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(Ok(Op::kModulo, J(7.5), J(2)).get<double>(), 1.5);
  EXPECT_NE(Err(Op::kMultiply, J(1e308), J(10.0)).find("not finite"), std::string::npos);
  // Unsigned JSON integers above int64 are floats.
  EXPECT_TRUE(Ok(Op::kAdd, J(uint64_t{1} << 63), J(1)).is_number_float());
}

TEST(OperatorsTest, Concatenation) {
  EXPECT_EQ(Ok(Op::kAdd, J("ab"), J("cd")), "abcd");
  EXPECT_EQ(Ok(Op::kAdd, J({1}), J({2, 3})), Json({1, 2, 3}));
}

TEST(OperatorsTest, TypeErrorsNameOperatorAndTypes) {
  EXPECT_EQ(Err(Op::kAdd, J("a"), J(1)), "operator \"+\" cannot add string and number");
  EXPECT_EQ(Err(Op::kAdd, Value(), J(1)), "operator \"+\" cannot add null and number");
  EXPECT_EQ(Err(Op::kSubtract, J("a"), J("b")), "operator \"-\" cannot subtract string and string");
  EXPECT_EQ(Err(Op::kMultiply, J("a"), J(2)), "operator \"*\" cannot multiply string and number");
  EXPECT_EQ(Err(Op::kDivide, J({1}), J(2)), "operator \"/\" cannot divide list and number");
  EXPECT_EQ(Err(Op::kModulo, J(true), J(2)),
            "operator \"%\" cannot take the remainder of bool and number");
  EXPECT_EQ(Err(Op::kLess, J("a"), J(1)), "operator \"<\" cannot compare string and number");
  EXPECT_EQ(Err(Op::kIn, J(1), J("abc")), "operator \"in\" cannot look for number in string");
  EXPECT_EQ(Err(Op::kAdd, J(Json::object()), J(Json::object())),
            "operator \"+\" cannot add map and map");
}

TEST(OperatorsTest, Comparisons) {
  EXPECT_EQ(Ok(Op::kLess, J(1), J(2)), true);
  EXPECT_EQ(Ok(Op::kLess, J(2), J(1.5)), false);
  EXPECT_EQ(Ok(Op::kLessEqual, J(2), J(2.0)), true);
  EXPECT_EQ(Ok(Op::kGreater, J("b"), J("a")), true);
  EXPECT_EQ(Ok(Op::kGreaterEqual, J("a"), J("a")), true);
  EXPECT_EQ(Ok(Op::kLess, Value(FromUnixMillis(1)), Value(FromUnixMillis(2))), true);
  EXPECT_EQ(Ok(Op::kGreater, Value(Duration(2)), Value(Duration(1))), true);
  EXPECT_EQ(Err(Op::kLess, Value(), J(1)), "operator \"<\" cannot compare null and number");
  EXPECT_EQ(Err(Op::kLess, Value(Duration(1)), Value(FromUnixMillis(1))),
            "operator \"<\" cannot compare duration and timestamp");
}

TEST(OperatorsTest, Equality) {
  EXPECT_EQ(Ok(Op::kEqual, J(1), J(1.0)), true);
  EXPECT_EQ(Ok(Op::kEqual, J({{"a", {1, 2}}}), J({{"a", {1, 2}}})), true);
  EXPECT_EQ(Ok(Op::kNotEqual, J("a"), J(1)), true);
  EXPECT_EQ(Ok(Op::kEqual, Value(), Value()), true);
  EXPECT_EQ(Ok(Op::kEqual, Value(), J(false)), false);
}

TEST(OperatorsTest, In) {
  EXPECT_EQ(Ok(Op::kIn, J(2), J({1, 2})), true);
  EXPECT_EQ(Ok(Op::kIn, J(2.0), J({1, 2})), true);
  EXPECT_EQ(Ok(Op::kIn, J(3), J({1, 2})), false);
  EXPECT_EQ(Ok(Op::kIn, J("k"), J({{"k", 1}})), true);
  EXPECT_EQ(Ok(Op::kIn, J("x"), J({{"k", 1}})), false);
  EXPECT_EQ(Ok(Op::kIn, J("ell"), J("hello")), true);
  EXPECT_EQ(Ok(Op::kIn, J("x"), Value()), false);
  EXPECT_EQ(Err(Op::kIn, J(1), J({{"k", 1}})), "operator \"in\" cannot look for number in map");
}

TEST(OperatorsTest, TimeArithmetic) {
  Value t(FromUnixMillis(1'000'000));
  Value d(Duration(1000));
  EXPECT_EQ(ApplyBinary(Op::kAdd, t, d)->timestamp(), FromUnixMillis(1'001'000));
  EXPECT_EQ(ApplyBinary(Op::kAdd, d, t)->timestamp(), FromUnixMillis(1'001'000));
  EXPECT_EQ(ApplyBinary(Op::kSubtract, t, d)->timestamp(), FromUnixMillis(999'000));
  EXPECT_EQ(ApplyBinary(Op::kSubtract, t, Value(FromUnixMillis(0)))->duration(),
            Duration(1'000'000));
  EXPECT_EQ(ApplyBinary(Op::kAdd, d, d)->duration(), Duration(2000));
  EXPECT_EQ(ApplyBinary(Op::kSubtract, d, d)->duration(), Duration(0));
  EXPECT_EQ(ApplyBinary(Op::kMultiply, d, J(3))->duration(), Duration(3000));
  EXPECT_EQ(ApplyBinary(Op::kMultiply, J(3), d)->duration(), Duration(3000));
  EXPECT_EQ(ApplyBinary(Op::kDivide, d, J(4))->duration(), Duration(250));
  EXPECT_EQ(Err(Op::kAdd, t, t), "operator \"+\" cannot add timestamp and timestamp");
  EXPECT_EQ(Err(Op::kSubtract, d, t), "operator \"-\" cannot subtract duration and timestamp");
  EXPECT_EQ(Err(Op::kAdd, t, J(1)), "operator \"+\" cannot add timestamp and number");
  EXPECT_NE(Err(Op::kAdd, Value(FromUnixMillis(253402300799999)), d).find("out of range"),
            std::string::npos);
  EXPECT_FALSE(ApplyBinary(Op::kMultiply, Value(Duration(kMax)), J(2)).ok());
}

TEST(OperatorsTest, Unary) {
  EXPECT_EQ(ApplyUnary(Op::kNot, J(true))->ToJson(), false);
  EXPECT_EQ(ApplyUnary(Op::kNot, Value())->ToJson(), true);
  EXPECT_EQ(ApplyUnary(Op::kNot, J(1)).status().message(), "! expects a boolean, got number");
  EXPECT_EQ(ApplyUnary(Op::kNegate, J(5))->ToJson(), -5);
  EXPECT_EQ(ApplyUnary(Op::kNegate, J(2.5))->ToJson(), -2.5);
  EXPECT_EQ(ApplyUnary(Op::kNegate, Value(Duration(5)))->duration(), Duration(-5));
  EXPECT_EQ(ApplyUnary(Op::kNegate, J("a")).status().message(),
            "operator \"-\" cannot negate string");
}

TEST(OperatorsTest, Truth) {
  EXPECT_FALSE(*Truth(Value(), "x"));
  EXPECT_FALSE(*Truth(J(false), "x"));
  EXPECT_TRUE(*Truth(J(true), "x"));
  EXPECT_EQ(Truth(J("true"), "operator \"&&\"").status().message(),
            "operator \"&&\" expects a boolean, got string");
}

}  // namespace
}  // namespace flowrun::expr

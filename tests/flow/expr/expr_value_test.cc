#include "flow/expr/expr_value.h"

#include <gtest/gtest.h>

namespace flowrun::expr {
namespace {

TEST(ExprValueTest, TypeNames) {
  EXPECT_EQ(Value().TypeName(), "null");
  EXPECT_EQ(Value(Json(true)).TypeName(), "bool");
  EXPECT_EQ(Value(Json(1)).TypeName(), "number");
  EXPECT_EQ(Value(Json(1.5)).TypeName(), "number");
  EXPECT_EQ(Value(Json("s")).TypeName(), "string");
  EXPECT_EQ(Value(Json::array()).TypeName(), "list");
  EXPECT_EQ(Value(Json::object()).TypeName(), "map");
  EXPECT_EQ(Value(FromUnixMillis(0)).TypeName(), "timestamp");
  EXPECT_EQ(Value(Duration(5)).TypeName(), "duration");
}

TEST(ExprValueTest, IntegersIncludeUnsignedThatFit) {
  EXPECT_TRUE(Value(Json(uint64_t{5})).is_int());
  EXPECT_EQ(Value(Json(uint64_t{5})).as_int(), 5);
  Value big(Json(uint64_t{1} << 63));
  EXPECT_FALSE(big.is_int());
  EXPECT_TRUE(big.is_number());
  EXPECT_DOUBLE_EQ(big.as_double(), 9223372036854775808.0);
  EXPECT_FALSE(Value(Json(1.0)).is_int());
}

TEST(ExprValueTest, BorrowedMembersStayBorrowed) {
  Json scope = {{"a", {{"b", 1}}}};
  Value a = Value::Borrow(&scope).Member("a");
  Value b = std::move(a).Member("b");
  EXPECT_EQ(&b.json(), &scope["a"]["b"]);
  EXPECT_TRUE(Value::Borrow(&scope).Member("missing").is_null());
}

TEST(ExprValueTest, OwnedMembersAndElementsMove) {
  Value owned(Json{{"k", "v"}});
  EXPECT_EQ(std::move(owned).Member("k").as_string(), "v");
  Value list(Json{1, 2, 3});
  EXPECT_EQ(std::move(list).Element(2).as_int(), 3);
}

TEST(ExprValueTest, ToJsonConvertsTimeKinds) {
  EXPECT_EQ(Value(FromUnixMillis(1709285400250)).ToJson(), "2024-03-01T09:30:00.250Z");
  EXPECT_EQ(Value(Duration(5400000)).ToJson(), "1h30m");
  Json scope = {{"x", 1}};
  EXPECT_EQ(Value::Borrow(&scope).ToJson(), scope);
}

TEST(ExprValueTest, RenderText) {
  EXPECT_EQ(RenderText(Value()), "");
  EXPECT_EQ(RenderText(Value(Json("s"))), "s");
  EXPECT_EQ(RenderText(Value(Json(2))), "2");
  EXPECT_EQ(RenderText(Value(Json(true))), "true");
  EXPECT_EQ(RenderText(Value(Json{{"a", 1}})), "{\"a\":1}");
  EXPECT_EQ(RenderText(Value(Duration(1000))), "1s");
}

TEST(ExprValueTest, DumpJsonReplacesInvalidUtf8) {
  EXPECT_EQ(DumpJson(Json("a\xff")), "\"a\xef\xbf\xbd\"");
}

TEST(ExprValueTest, Equality) {
  EXPECT_TRUE(ValuesEqual(Value(Json(1)), Value(Json(1.0))));
  EXPECT_TRUE(ValuesEqual(Value(Json(uint64_t{7})), Value(Json(int64_t{7}))));
  EXPECT_TRUE(ValuesEqual(Value(Json{{"a", {1, 2}}}), Value(Json{{"a", {1.0, 2}}})));
  EXPECT_FALSE(ValuesEqual(Value(Json(1)), Value(Json("1"))));
  EXPECT_FALSE(ValuesEqual(Value(), Value(Json(false))));
  EXPECT_TRUE(ValuesEqual(Value(FromUnixMillis(0)), Value(FromUnixMillis(0))));
  EXPECT_TRUE(ValuesEqual(Value(FromUnixMillis(0)), Value(Json("1970-01-01T00:00:00.000Z"))));
  EXPECT_FALSE(ValuesEqual(Value(Duration(0)), Value(FromUnixMillis(0))));
}

}  // namespace
}  // namespace flowrun::expr

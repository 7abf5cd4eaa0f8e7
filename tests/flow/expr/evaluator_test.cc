#include "flow/expr/evaluator.h"

#include <gtest/gtest.h>

#include "flow/expr/expr_parser.h"

namespace flowrun::expr {
namespace {

class EvaluatorTest : public ::testing::Test {
 protected:
  StatusOr<Json> Eval(std::string_view source) {
    auto tree = ParseTree(source);
    if (auto* e = std::get_if<ParseError>(&tree))
      return InvalidArgumentError("parse: " + e->message);
    EvalContext context{.scope = &scope_};
    StatusOr<Value> value = EvaluateTree(*std::get<std::unique_ptr<Node>>(tree), context);
    if (!value.ok()) return value.status();
    return std::move(*value).ToJson();
  }
  Json Ok(std::string_view source) {
    StatusOr<Json> r = Eval(source);
    EXPECT_TRUE(r.ok()) << source << ": " << r.status().message();
    return r.ok() ? *r : Json("<error>");
  }
  std::string Err(std::string_view source) {
    StatusOr<Json> r = Eval(source);
    EXPECT_FALSE(r.ok()) << source << " = " << (r.ok() ? r->dump() : "");
    return r.ok() ? "" : r.status().message();
  }

  Json scope_ = Json::parse(R"({
    "event": {"id": "e1", "name": "purchase/x", "data": {"orderId": 42, "items": [10, 20, 30],
              "user": {"email": "a@b.c", "first-name": "Ada"}, "flag": true, "nothing": null}},
    "steps": {"get-user": {"output": {"body": {"email": "u@x.io"}}, "status": "succeeded"}},
    "vars": {"n": 3, "s": "text", "list": [{"k": 1}, {"k": 2}]},
    "a-b": "dashed root",
    "a": 10, "b": 4
  })");
};

TEST_F(EvaluatorTest, Literals) {
  EXPECT_EQ(Ok("1"), 1);
  EXPECT_EQ(Ok("2.5"), 2.5);
  EXPECT_EQ(Ok("'s'"), "s");
  EXPECT_EQ(Ok("true"), true);
  EXPECT_EQ(Ok("null"), nullptr);
  EXPECT_EQ(Ok("[1, 'a', [null]]"), Json::parse(R"([1, "a", [null]])"));
  EXPECT_EQ(Ok("{'k': 1, \"j\": {'x': [2]}}"), Json::parse(R"({"k": 1, "j": {"x": [2]}})"));
  EXPECT_EQ(Ok("{'k' + '2': vars.n}"), Json::parse(R"({"k2": 3})"));
  EXPECT_EQ(Err("{1: 2}"), "map keys must be strings, got number");
}

TEST_F(EvaluatorTest, Paths) {
  EXPECT_EQ(Ok("event.data.orderId"), 42);
  EXPECT_EQ(Ok("event['data'][\"items\"][1]"), 20);
  EXPECT_EQ(Ok("steps.get-user.output.body.email"), "u@x.io");
  EXPECT_EQ(Ok("event.data.user.first-name"), "Ada");
  EXPECT_EQ(Ok("vars.list[1].k"), 2);
  EXPECT_EQ(Ok("a-b"), "dashed root");
  EXPECT_EQ(Ok("a - b"), 6);
  EXPECT_EQ(Ok("vars.list[vars.n - 2]['k']"), 2);
}

TEST_F(EvaluatorTest, MissingIsNull) {
  EXPECT_EQ(Ok("event.data.missing"), nullptr);
  EXPECT_EQ(Ok("event.data.missing.deeper[0].still"), nullptr);
  EXPECT_EQ(Ok("event.data.nothing.x"), nullptr);
  EXPECT_EQ(Ok("unknown_root"), nullptr);
  EXPECT_EQ(Ok("unknown_root['x'][3]"), nullptr);
  EXPECT_EQ(Ok("steps.never-ran.output"), nullptr);
  EXPECT_EQ(Ok("event.data.items[3]"), nullptr);
  EXPECT_EQ(Ok("event.data.items[-1]"), nullptr);  // negative indexes are null, not from the end
  EXPECT_EQ(Ok("event.data['nope']"), nullptr);
}

TEST_F(EvaluatorTest, WrongAccessIsAnError) {
  EXPECT_EQ(Err("vars.s.length"), "cannot read field \"length\" of a string");
  EXPECT_EQ(Err("event.data.items.first"), "cannot read field \"first\" of a list");
  EXPECT_EQ(Err("event.data.items['0']"), "cannot index a list with a string");
  EXPECT_EQ(Err("event.data[0]"), "cannot index a map with a number");
  EXPECT_EQ(Err("vars.s[0]"), "cannot index a string with a number");
  EXPECT_EQ(Err("event.data.items[1.0]"), "cannot index a list with a number");
}

TEST_F(EvaluatorTest, LogicShortCircuits) {
  EXPECT_EQ(Ok("true && false"), false);
  EXPECT_EQ(Ok("true || (1 / 0 == 1)"), true);
  EXPECT_EQ(Ok("false && (1 / 0 == 1)"), false);
  EXPECT_EQ(Ok("event.data.missing && true"), false);
  EXPECT_EQ(Ok("event.data.missing || event.data.flag"), true);
  EXPECT_EQ(Ok("!event.data.missing"), true);
  EXPECT_EQ(Err("1 && true"), "operator \"&&\" expects a boolean, got number");
  EXPECT_EQ(Err("false || 'x'"), "operator \"||\" expects a boolean, got string");
  EXPECT_EQ(Err("!'x'"), "! expects a boolean, got string");
}

TEST_F(EvaluatorTest, CoalesceAndConditional) {
  EXPECT_EQ(Ok("event.data.missing ?? 'default'"), "default");
  EXPECT_EQ(Ok("event.data.orderId ?? 1 / 0"), 42);
  EXPECT_EQ(Ok("false ?? 1"), false);
  EXPECT_EQ(Ok("event.data.flag ? 'yes' : 1 / 0"), "yes");
  EXPECT_EQ(Ok("event.data.missing ? 1 : 2"), 2);
  EXPECT_EQ(Err("'x' ? 1 : 2"), "the condition of \"?:\" expects a boolean, got string");
}

TEST_F(EvaluatorTest, OperatorsOnScopeValues) {
  EXPECT_EQ(Ok("vars.n * 2 + 1"), 7);
  EXPECT_EQ(Ok("event.data.orderId == 42.0"), true);
  EXPECT_EQ(Ok("'a@b.c' == event.data.user.email"), true);
  EXPECT_EQ(Ok("20 in event.data.items"), true);
  EXPECT_EQ(Ok("'user' in event.data"), true);
  EXPECT_EQ(Ok("event.data.items + [40]"), Json({10, 20, 30, 40}));
  EXPECT_EQ(Err("vars.s + vars.n"), "operator \"+\" cannot add string and number");
  EXPECT_EQ(Ok("steps.discord.output != null"), false);
  EXPECT_EQ(Ok("steps.discord.output == null"), true);
}

TEST_F(EvaluatorTest, CallErrorsNameTheFunction) {
  EXPECT_EQ(Err("lower(vars.n)"), "lower: expects a string, got number");
}

TEST_F(EvaluatorTest, NullScopeIsEmpty) {
  auto tree = ParseTree("event.data");
  EvalContext context;
  StatusOr<Value> v = EvaluateTree(*std::get<std::unique_ptr<Node>>(tree), context);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->is_null());
}

}  // namespace
}  // namespace flowrun::expr

namespace flowrun::expr {
namespace {

TEST(EvaluatorSecretsTest, AMissingSecretIsAnErrorNeverNull) {
  Json scope = {{"secrets", {{"CLERK_KEY", "sk_1"}}}};
  EvalContext context{.scope = &scope};
  auto eval = [&](std::string_view source) {
    auto tree = ParseTree(source);
    return EvaluateTree(*std::get<std::unique_ptr<Node>>(tree), context);
  };
  auto set = eval("secrets.CLERK_KEY");
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(std::move(*set).ToJson(), "sk_1");
  for (const char* source : {"secrets.STRIPE_KEY", "secrets[\"STRIPE_KEY\"]"}) {
    auto missing = eval(source);
    ASSERT_FALSE(missing.ok()) << source;
    EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(missing.status().message().find("STRIPE_KEY"), std::string::npos);
  }
}

}  // namespace
}  // namespace flowrun::expr

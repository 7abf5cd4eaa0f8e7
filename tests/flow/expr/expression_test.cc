#include "flow/expr/expression.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "flow/expr/ast.h"

namespace flowrun::expr {
namespace {

Expression MustParse(std::string_view source) {
  auto parsed = Expression::Parse(source);
  if (auto* e = std::get_if<ParseError>(&parsed)) {
    ADD_FAILURE() << source << ": " << e->message << " at " << e->offset;
    return std::get<Expression>(Expression::Parse("null"));
  }
  return std::move(std::get<Expression>(parsed));
}

class ExpressionTest : public ::testing::Test {
 protected:
  EvalContext Context() {
    return {&scope_, [] { return FromUnixMillis(1709285400000); },  // 2024-03-01T09:30:00Z
            [] { return std::string("uuid-1"); }};
  }
  StatusOr<Json> Eval(std::string_view source) { return MustParse(source).Evaluate(Context()); }
  Json Ok(std::string_view source) {
    StatusOr<Json> r = Eval(source);
    EXPECT_TRUE(r.ok()) << source << ": " << r.status().message();
    return r.ok() ? *r : Json("<error>");
  }

  Json scope_ = Json::parse(R"({
    "event": {"data": {"trial_ends_at": "2024-03-10T00:00:00Z", "orderId": "o-1", "n": 7}},
    "steps": {"get-user": {"output": {"body": {"email": "u@x.io"}}}},
    "async": {"data": {"orderId": "o-1"}}
  })");
};

TEST_F(ExpressionTest, ParseKeepsSource) {
  Expression e = MustParse("1 + 2");
  EXPECT_EQ(e.source(), "1 + 2");
  Expression moved = std::move(e);
  EXPECT_EQ(moved.Evaluate(Context()).value(), 3);
}

TEST_F(ExpressionTest, ParseErrors) {
  auto parsed = Expression::Parse("event.data ==");
  ASSERT_TRUE(std::holds_alternative<ParseError>(parsed));
  EXPECT_EQ(std::get<ParseError>(parsed).offset, 13u);
  parsed = Expression::Parse("sise(x)");
  ASSERT_TRUE(std::holds_alternative<ParseError>(parsed));
  EXPECT_EQ(std::get<ParseError>(parsed).kind, ParseError::Kind::kUnknownFunction);
}

TEST_F(ExpressionTest, TimeArithmetic) {
  EXPECT_EQ(Ok("timestamp(event.data.trial_ends_at) - duration('3d')"), "2024-03-07T00:00:00.000Z");
  EXPECT_EQ(Ok("now() > timestamp(event.data.trial_ends_at)"), false);
  EXPECT_EQ(Ok("now() + duration('1h30m')"), "2024-03-01T11:00:00.000Z");
  EXPECT_EQ(Ok("timestamp(event.data.trial_ends_at) - now()"), "8d14h30m");
  EXPECT_EQ(Ok("duration('1h') + duration('30m') == duration('90m')"), true);
  EXPECT_EQ(Ok("duration('1h') * 3"), "3h");
  EXPECT_EQ(Ok("now() - timestamp('2024-03-01T09:00:00Z') < duration('1h')"), true);
  EXPECT_EQ(Ok("-duration('5m')"), "-5m");
  EXPECT_EQ(Ok("format_time(now() + duration('1d'), '%A')"), "Saturday");
  EXPECT_EQ(Ok("[now(), duration('1s')]"), Json({"2024-03-01T09:30:00.000Z", "1s"}));
}

TEST_F(ExpressionTest, EvaluateCondition) {
  EXPECT_TRUE(*MustParse("event.data.n > 5").EvaluateCondition(Context()));
  EXPECT_FALSE(*MustParse("event.data.missing").EvaluateCondition(Context()));
  EXPECT_FALSE(*MustParse("false").EvaluateCondition(Context()));
  StatusOr<bool> r = MustParse("event.data.n").EvaluateCondition(Context());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "expected a boolean, got number");
  EXPECT_EQ(MustParse("'true'").EvaluateCondition(Context()).status().message(),
            "expected a boolean, got string");
  EXPECT_EQ(MustParse("1 / 0 == 1").EvaluateCondition(Context()).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(ExpressionTest, ReferencesAndCalls) {
  Expression e = MustParse("steps.get-user.output.body[\"email\"] + event.data[x]");
  ASSERT_EQ(e.references().size(), 3u);
  EXPECT_EQ(e.references()[0].path,
            (std::vector<std::string>{"steps", "get-user", "output", "body", "email"}));
  EXPECT_EQ(e.references()[1].path, (std::vector<std::string>{"event", "data"}));
  EXPECT_EQ(e.references()[1].offset, 38u);
  Expression c = MustParse("lower(trim(x))");
  ASSERT_EQ(c.calls().size(), 2u);
  EXPECT_EQ(c.calls()[1].name, "trim");
  EXPECT_EQ(c.calls()[1].offset, 6u);
}

TEST_F(ExpressionTest, NonDeterminism) {
  EXPECT_TRUE(MustParse("now()").is_non_deterministic());
  EXPECT_TRUE(MustParse("'id-' + uuid()").is_non_deterministic());
  EXPECT_FALSE(MustParse("timestamp('2024-01-01')").is_non_deterministic());
  EXPECT_EQ(Ok("uuid()"), "uuid-1");
}

TEST_F(ExpressionTest, AsAsyncEquality) {
  Expression e = MustParse("async.data.orderId == event.data.orderId");
  std::optional<AsyncEquality> eq = e.AsAsyncEquality();
  ASSERT_TRUE(eq.has_value());
  EXPECT_EQ(eq->async_path, (std::vector<std::string>{"data", "orderId"}));
  ASSERT_NE(eq->other_side, nullptr);
  EXPECT_EQ(Expression::EvaluateNode(*eq->other_side, Context()).value(), "o-1");

  Expression flipped = MustParse("lower(event.data.orderId) == async['data'].orderId");
  eq = flipped.AsAsyncEquality();
  ASSERT_TRUE(eq.has_value());
  EXPECT_EQ(eq->async_path, (std::vector<std::string>{"data", "orderId"}));
  EXPECT_EQ(Expression::EvaluateNode(*eq->other_side, Context()).value(), "o-1");

  EXPECT_FALSE(MustParse("async.data.id == async.data.other").AsAsyncEquality());
  EXPECT_FALSE(MustParse("async.data.id != event.id").AsAsyncEquality());
  EXPECT_FALSE(MustParse("async.data[x] == event.id").AsAsyncEquality());
  EXPECT_FALSE(MustParse("async == event").AsAsyncEquality());
  EXPECT_FALSE(MustParse("async.data.id == event.id && true").AsAsyncEquality());
  EXPECT_FALSE(MustParse("event.id == event.id").AsAsyncEquality());
}

TEST_F(ExpressionTest, ResultsAreJson) {
  EXPECT_EQ(Ok("steps.get-user.output"), Json::parse(R"({"body": {"email": "u@x.io"}})"));
  EXPECT_EQ(Ok("{'when': now(), 'list': [duration('2s')]}"),
            Json::parse(R"({"when": "2024-03-01T09:30:00.000Z", "list": ["2s"]})"));
}

TEST_F(ExpressionTest, ConcurrentEvaluation) {
  Expression e = MustParse("size(split(event.data.orderId + '-x', '-'))");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 200; ++k) {
        EvalContext context{.scope = &scope_};
        if (e.Evaluate(context).value() == 3) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 800);
}

// Hostile input: every case must end quickly with an error, never crash or hang.
TEST_F(ExpressionTest, HostileInputs) {
  auto start = std::chrono::steady_clock::now();
  auto expect_parse_error = [](const std::string& source) {
    EXPECT_TRUE(std::holds_alternative<ParseError>(Expression::Parse(source)))
        << source.substr(0, 40);
  };
  auto expect_eval_error = [&](const std::string& source) {
    StatusOr<Json> r = Eval(source);
    EXPECT_FALSE(r.ok()) << source.substr(0, 40);
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
  };
  expect_parse_error(std::string(10000, '(') + "1" + std::string(10000, ')'));
  expect_parse_error(std::string(10000, '[') + std::string(10000, ']'));
  expect_parse_error(std::string(10000, '!') + "true");
  expect_parse_error(std::string(10000, '-') + "1");
  expect_parse_error("'" + std::string(1 << 20, 'a') + "'");  // a 1 MB literal: too long
  expect_parse_error(std::string(60000, '9'));                // an absurd integer
  expect_parse_error("1" + std::string(400, '0') + ".5e99999");
  expect_parse_error("${{");
  expect_eval_error("1 / 0");
  expect_eval_error("1 % 0");
  expect_eval_error("9223372036854775807 + 1");
  expect_eval_error("-9223372036854775808 - 1");
  expect_eval_error("-9223372036854775808 / -1");
  expect_eval_error("3037000500 * 3037000500");
  expect_eval_error("1e308 * 10.0");
  scope_["big"] = std::string(1 << 20, 'x');  // a 1 MB string from the scope
  EXPECT_EQ(Ok("size(big)"), 1 << 20);
  EXPECT_EQ(Ok("matches(big, '(a*)*b')"), false);
  EXPECT_EQ(Ok("matches(big, '(x|xx)+y')"), false);
  expect_eval_error("matches(big, '" + std::string(5000, 'a') + "')");
  expect_eval_error("replace(big, 'x', big)");
  std::string doubling = "big";
  for (int i = 0; i < 6; ++i) doubling = "(" + doubling + " + " + doubling + ")";
  expect_eval_error(doubling);  // 64 MiB
  std::string list_doubling = "split(big, '')";
  for (int i = 0; i < 3; ++i) list_doubling = "(" + list_doubling + " + " + list_doubling + ")";
  expect_eval_error(list_doubling);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

}  // namespace
}  // namespace flowrun::expr

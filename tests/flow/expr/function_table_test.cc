#include "flow/expr/function_table.h"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <chrono>
#include <regex>

#include "flow/expr/expression.h"

namespace flowrun::expr {
namespace {

class FunctionTableTest : public ::testing::Test {
 protected:
  StatusOr<Json> Eval(std::string_view source) {
    auto parsed = Expression::Parse(source);
    if (auto* e = std::get_if<ParseError>(&parsed)) {
      return InvalidArgumentError("parse: " + e->message);
    }
    EvalContext context{&scope_, [] { return FromUnixMillis(1709285400250); },
                        [] { return std::string("00000000-0000-4000-8000-000000000000"); }};
    return std::get<Expression>(parsed).Evaluate(context);
  }
  Json Ok(std::string_view source) {
    StatusOr<Json> r = Eval(source);
    EXPECT_TRUE(r.ok()) << source << ": " << r.status().message();
    return r.ok() ? *r : Json("<error>");
  }
  std::string Err(std::string_view source) {
    StatusOr<Json> r = Eval(source);
    EXPECT_FALSE(r.ok()) << source << " = " << (r.ok() ? r->dump() : "");
    if (r.ok()) return "";
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    return r.status().message();
  }

  Json scope_ = {{"m", {{"b", 2}, {"a", 1}}}, {"s", "Hello"}, {"n", 5}};
};

TEST_F(FunctionTableTest, TableIsSortedAndComplete) {
  const auto& functions = FunctionTable::BuiltIn().functions();
  std::vector<std::string> names;
  for (const Function& f : functions) names.emplace_back(f.name);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const char* name :
       {"size",      "lower",    "upper",       "trim", "contains", "starts_with",
        "ends_with", "matches",  "split",       "join", "replace",  "substring",
        "string",    "int",      "float",       "keys", "values",   "now",
        "timestamp", "duration", "format_time", "uuid"}) {
    EXPECT_NE(FunctionTable::BuiltIn().Find(name), nullptr) << name;
  }
  EXPECT_EQ(FunctionTable::BuiltIn().Find("nope"), nullptr);
  EXPECT_TRUE(FunctionTable::BuiltIn().Find("now")->non_deterministic);
  EXPECT_TRUE(FunctionTable::BuiltIn().Find("uuid")->non_deterministic);
  EXPECT_FALSE(FunctionTable::BuiltIn().Find("size")->non_deterministic);
}

TEST_F(FunctionTableTest, Suggest) {
  EXPECT_EQ(FunctionTable::BuiltIn().Suggest("lenght"), "");
  EXPECT_EQ(FunctionTable::BuiltIn().Suggest("lowr"), "lower");
  EXPECT_EQ(FunctionTable::BuiltIn().Suggest("substr"), "substring");
  EXPECT_EQ(FunctionTable::BuiltIn().Suggest("fromat_time"), "format_time");
  EXPECT_EQ(FunctionTable::BuiltIn().Suggest("zzzzzzzzzz"), "");
}

TEST_F(FunctionTableTest, Size) {
  EXPECT_EQ(Ok("size('héllo')"), 5);
  EXPECT_EQ(Ok("size([1, 2])"), 2);
  EXPECT_EQ(Ok("size(m)"), 2);
  EXPECT_EQ(Ok("size(missing)"), 0);
  EXPECT_EQ(Ok("s.size()"), 5);
  EXPECT_EQ(Err("size(1)"), "size: expects a string, list or map, got number");
}

TEST_F(FunctionTableTest, CaseAndTrim) {
  EXPECT_EQ(Ok("lower('AbC')"), "abc");
  EXPECT_EQ(Ok("upper('AbC')"), "ABC");
  EXPECT_EQ(Ok("upper('é')"), "é");  // ASCII only
  EXPECT_EQ(Ok("trim('  a b \\n\\t')"), "a b");
  EXPECT_EQ(Ok("trim('   ')"), "");
  EXPECT_EQ(Err("lower(1)"), "lower: expects a string, got number");
  EXPECT_EQ(Err("upper(null)"), "upper: expects a string, got null");
  EXPECT_EQ(Err("trim([])"), "trim: expects a string, got list");
}

TEST_F(FunctionTableTest, ContainsStartsEnds) {
  EXPECT_EQ(Ok("contains('hello', 'ell')"), true);
  EXPECT_EQ(Ok("contains('hello', 'xyz')"), false);
  EXPECT_EQ(Ok("contains([1, 2], 2.0)"), true);
  EXPECT_EQ(Ok("contains(m, 'a')"), true);
  EXPECT_EQ(Ok("contains(missing, 'a')"), false);
  EXPECT_EQ(Err("contains(1, 1)"),
            "contains: expects (string, string), (list, value) or (map, string), got (number, "
            "number)");
  EXPECT_EQ(Ok("starts_with('hello', 'he')"), true);
  EXPECT_EQ(Ok("'hello'.ends_with('lo')"), true);
  EXPECT_EQ(Ok("ends_with('hello', 'he')"), false);
  EXPECT_EQ(Err("starts_with(1, 'a')"),
            "starts_with: expects the first argument to be a string, got number");
  EXPECT_EQ(Err("ends_with('a', 1)"), "ends_with: expects the suffix to be a string, got number");
}

TEST_F(FunctionTableTest, Matches) {
  EXPECT_EQ(Ok("matches('order-123', '[0-9]+$')"), true);
  EXPECT_EQ(Ok("matches('order', '^[0-9]+$')"), false);
  EXPECT_EQ(Ok("matches(s, '(?i)^hello$')"), true);
  EXPECT_EQ(Ok("matches('abc', s + '|b')"), true);  // pattern built at run time
  EXPECT_NE(Err("matches('a', '(')").find("matches: invalid regular expression"),
            std::string::npos);
  EXPECT_NE(Err("matches('a', '(' + s)").find("invalid regular expression"), std::string::npos);
  EXPECT_EQ(Err("matches(1, 'a')"), "matches: expects the text to be a string, got number");
  EXPECT_EQ(Err("matches('a', 1)"), "matches: expects the pattern to be a string, got number");
}

TEST_F(FunctionTableTest, PathologicalRegexesAreFastOrRejected) {
  std::string text(1'000'000, 'a');
  scope_["long"] = text;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Ok("matches(long, '(a*)*b')"), false);
  EXPECT_EQ(Ok("matches(long, '(a|aa)+$')"), true);
  EXPECT_EQ(Ok("matches(long, '(x+x+)+y')"), false);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // Too long a pattern, or one that needs too much memory, is an error, not a slow compile.
  scope_["huge"] = std::string(10'000, 'a');
  EXPECT_NE(Err("matches('a', huge)").find("longer than 4096"), std::string::npos);
  EXPECT_NE(Err("matches('a', '((((a{100}){100}){100}){100})')").find("invalid regular expr"),
            std::string::npos);
  std::string big;
  while (big.size() < 4000) big += "(?:[a-z]{1000})";
  scope_["big"] = big;
  EXPECT_NE(Err("matches('a', big)").find("pattern too large"), std::string::npos);
  // A pattern that compiles but would fall back to a slow NFA over a long text is refused.
  std::string medium;
  for (int i = 0; i < 20; ++i) medium += "(?:[a-z]{1000})";
  scope_["medium"] = medium + "X";
  EXPECT_NE(Err("matches(long, medium)").find("too complex"), std::string::npos);
  EXPECT_EQ(Ok("matches('abc', medium)"), false);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(FunctionTableTest, CompileRegex) {
  auto regex = CompileRegex("^a+$");
  ASSERT_TRUE(regex.ok());
  EXPECT_TRUE(RE2::FullMatch("aaa", **regex));
  EXPECT_FALSE(CompileRegex("[").ok());
}

TEST_F(FunctionTableTest, SplitJoinReplace) {
  EXPECT_EQ(Ok("split('a,b,,c', ',')"), Json({"a", "b", "", "c"}));
  EXPECT_EQ(Ok("split('', ',')"), Json({""}));
  EXPECT_EQ(Ok("split('hé', '')"), Json({"h", "é"}));
  EXPECT_EQ(Ok("split('a::b', '::')"), Json({"a", "b"}));
  EXPECT_EQ(Err("split(1, ',')"), "split: expects the text to be a string, got number");
  EXPECT_EQ(Ok("join(['a', 'b'], ', ')"), "a, b");
  EXPECT_EQ(Ok("join(['a', 1, true, null])"), "a1true");
  EXPECT_EQ(Ok("join([])"), "");
  EXPECT_EQ(Err("join('a')"), "join: expects the first argument to be a list, got string");
  EXPECT_EQ(Err("join([[1]])"),
            "join: expects a list of strings, numbers or booleans, found a list");
  EXPECT_EQ(Ok("replace('a-b-c', '-', '+')"), "a+b+c");
  EXPECT_EQ(Ok("replace('aaa', 'a', 'aa')"), "aaaaaa");
  EXPECT_EQ(Ok("replace('abc', 'x', 'y')"), "abc");
  EXPECT_EQ(Err("replace('abc', '', 'y')"), "replace: the text to replace is empty");
  EXPECT_EQ(Err("replace('abc', 1, 'y')"),
            "replace: expects the text to replace to be a string, got number");
}

TEST_F(FunctionTableTest, Substring) {
  EXPECT_EQ(Ok("substring('hello', 1)"), "ello");
  EXPECT_EQ(Ok("substring('hello', 1, 3)"), "el");
  EXPECT_EQ(Ok("substring('héllo', 1, 2)"), "é");
  EXPECT_EQ(Ok("substring('hello', 0, 100)"), "hello");
  EXPECT_EQ(Ok("substring('hello', 10)"), "");
  EXPECT_EQ(Ok("substring('hello', 3, 1)"), "");
  EXPECT_EQ(Err("substring('hello', -1)"), "substring: indexes must not be negative");
  EXPECT_EQ(Err("substring('hello', 'a')"),
            "substring: expects start to be an integer, got string");
  EXPECT_EQ(Err("substring(1, 0)"), "substring: expects the text to be a string, got number");
}

TEST_F(FunctionTableTest, Conversions) {
  EXPECT_EQ(Ok("string(12)"), "12");
  EXPECT_EQ(Ok("string(1.5)"), "1.5");
  EXPECT_EQ(Ok("string(true)"), "true");
  EXPECT_EQ(Ok("string(null)"), "");
  EXPECT_EQ(Ok("string('s')"), "s");
  EXPECT_EQ(Ok("string([1, 'a'])"), "[1,\"a\"]");
  EXPECT_EQ(Ok("string(duration('90m'))"), "1h30m");
  EXPECT_EQ(Ok("int('42')"), 42);
  EXPECT_EQ(Ok("int('-42')"), -42);
  EXPECT_EQ(Ok("int(3.9)"), 3);
  EXPECT_EQ(Ok("int(-3.9)"), -3);
  EXPECT_EQ(Ok("int(7)"), 7);
  EXPECT_EQ(Ok("int(duration('1s'))"), 1000);
  EXPECT_EQ(Ok("int(timestamp('1970-01-01T00:00:01Z'))"), 1000);
  EXPECT_EQ(Err("int('4x')"), "int: \"4x\" is not an integer");
  EXPECT_EQ(Err("int('')"), "int: \"\" is not an integer");
  EXPECT_EQ(Err("int('99999999999999999999')"),
            "int: \"99999999999999999999\" is out of int64 range");
  EXPECT_EQ(Err("int(1e30)"), "int: number out of int64 range");
  EXPECT_EQ(Err("int(true)"), "int: expects a number, string, timestamp or duration, got bool");
  EXPECT_EQ(Ok("float('2.5')"), 2.5);
  EXPECT_EQ(Ok("float(2)"), 2.0);
  EXPECT_TRUE(Ok("float(2)").is_number_float());
  EXPECT_EQ(Err("float('inf')"), "float: \"inf\" is not a finite number");
  EXPECT_EQ(Err("float('x')"), "float: \"x\" is not a finite number");
  EXPECT_EQ(Err("float(null)"), "float: expects a number or string, got null");
}

TEST_F(FunctionTableTest, KeysValues) {
  EXPECT_EQ(Ok("keys(m)"), Json({"a", "b"}));
  EXPECT_EQ(Ok("values(m)"), Json({1, 2}));
  EXPECT_EQ(Ok("keys(missing)"), Json::array());
  EXPECT_EQ(Ok("values(missing)"), Json::array());
  EXPECT_EQ(Err("keys([1])"), "keys: expects a map, got list");
  EXPECT_EQ(Err("values('a')"), "values: expects a map, got string");
}

TEST_F(FunctionTableTest, NowAndUuidUseHooks) {
  EXPECT_EQ(Ok("now()"), "2024-03-01T09:30:00.250Z");
  EXPECT_EQ(Ok("uuid()"), "00000000-0000-4000-8000-000000000000");
}

TEST_F(FunctionTableTest, DefaultHooks) {
  auto parsed = Expression::Parse("[now(), uuid(), uuid()]");
  Json scope = Json::object();
  EvalContext context{.scope = &scope};
  StatusOr<Json> r = std::get<Expression>(parsed).Evaluate(context);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(ParseTimestamp((*r)[0].get<std::string>()).ok());
  std::regex v4("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  EXPECT_TRUE(std::regex_match((*r)[1].get<std::string>(), v4)) << (*r)[1];
  EXPECT_NE((*r)[1], (*r)[2]);
}

TEST_F(FunctionTableTest, TimestampAndDuration) {
  EXPECT_EQ(Ok("timestamp('2024-03-01T09:30:00+01:00')"), "2024-03-01T08:30:00.000Z");
  EXPECT_EQ(Ok("timestamp(0)"), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(Ok("timestamp(timestamp(1000))"), "1970-01-01T00:00:01.000Z");
  EXPECT_NE(Err("timestamp('yesterday')").find("invalid timestamp"), std::string::npos);
  EXPECT_EQ(Err("timestamp(true)"),
            "timestamp: expects an RFC 3339 string or Unix milliseconds, got bool");
  EXPECT_NE(Err("timestamp(9223372036854775807)").find("out of range"), std::string::npos);
  EXPECT_EQ(Ok("duration('1h30m')"), "1h30m");
  EXPECT_EQ(Ok("duration(1500)"), "1s500ms");
  EXPECT_NE(Err("duration('3 days')").find("invalid duration"), std::string::npos);
  EXPECT_EQ(Err("duration(null)"),
            "duration: expects a duration string such as \"1h30m\", got null");
}

TEST_F(FunctionTableTest, FormatTime) {
  EXPECT_EQ(Ok("format_time(timestamp('2024-03-01T09:30:00Z'), '%Y-%m-%d %H:%M')"),
            "2024-03-01 09:30");
  EXPECT_EQ(Ok("format_time('2024-03-01T09:30:00Z', '%H:%M %Z', 'America/Los_Angeles')"),
            "01:30 PST");
  EXPECT_EQ(Ok("format_time(0, '%F')"), "1970-01-01");
  EXPECT_EQ(Ok("format_time(now(), '%d %b %Y', 'Europe/Paris')"), "01 Mar 2024");
  EXPECT_EQ(Err("format_time(now(), '%F', 'Mars/Olympus')"),
            "format_time: unknown time zone \"Mars/Olympus\"");
  EXPECT_EQ(Err("format_time(now(), 1)"),
            "format_time: expects the format to be a string, got number");
  EXPECT_NE(Err("format_time(now(), '" + std::string(300, 'x') + "')").find("longer than 256"),
            std::string::npos);
  EXPECT_EQ(Err("format_time(true, '%F')"),
            "format_time: expects an RFC 3339 string or Unix milliseconds, got bool");
}

TEST_F(FunctionTableTest, ResultSizeIsBounded) {
  scope_["mb"] = std::string(1 << 20, 'x');
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Ok("size(mb + mb)"), 2 << 20);
  EXPECT_NE(Err("replace(mb, 'x', mb)").find("longer than 16 MiB"), std::string::npos);
  EXPECT_NE(Err("join([mb, mb, mb, mb, mb, mb, mb, mb, mb, mb, mb, mb, mb, mb, mb, mb, mb])")
                .find("longer than 16 MiB"),
            std::string::npos);
  EXPECT_NE(Err("split(mb + mb, '')").find("more than"), std::string::npos);
  EXPECT_EQ(Ok("size(split(mb, ''))"), 1 << 20);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

}  // namespace
}  // namespace flowrun::expr

#include "flow/expr/expr_parser.h"

#include <gtest/gtest.h>

#include <chrono>

#include "flow/expr/limits.h"

namespace flowrun::expr {
namespace {

// The tree as an S-expression, to check its shape.
std::string Show(const Node& n) {
  auto kids = [&](std::string head) {
    for (const auto& c : n.children) head += " " + Show(*c);
    return "(" + head + ")";
  };
  switch (n.kind) {
    case NodeKind::kLiteral:
      return n.literal.dump();
    case NodeKind::kList:
      return kids("list");
    case NodeKind::kMap:
      return kids("map");
    case NodeKind::kIdent:
      return n.name;
    case NodeKind::kMember:
      return "(. " + Show(*n.children[0]) + " " + n.name + ")";
    case NodeKind::kIndex:
      return kids("[]");
    case NodeKind::kCall:
      return kids(n.name);
    case NodeKind::kUnary:
    case NodeKind::kBinary:
      return kids(std::string(OperatorSymbol(n.op)));
    case NodeKind::kConditional:
      return kids("?:");
  }
  return "?";
}

std::string Parse(std::string_view source) {
  auto result = ParseTree(source);
  if (auto* e = std::get_if<ParseError>(&result)) return "error: " + e->message;
  return Show(*std::get<std::unique_ptr<Node>>(result));
}

ParseError Error(std::string_view source) {
  auto result = ParseTree(source);
  if (!std::holds_alternative<ParseError>(result)) {
    ADD_FAILURE() << source << " parsed";
    return {};
  }
  return std::get<ParseError>(result);
}

TEST(ExprParserTest, Literals) {
  EXPECT_EQ(Parse("1"), "1");
  EXPECT_EQ(Parse("2.5"), "2.5");
  EXPECT_EQ(Parse("'s'"), "\"s\"");
  EXPECT_EQ(Parse("true"), "true");
  EXPECT_EQ(Parse("null"), "null");
  EXPECT_EQ(Parse("[1, 2,]"), "(list 1 2)");
  EXPECT_EQ(Parse("[]"), "(list)");
  EXPECT_EQ(Parse("{\"k\": 1, 'j': [x]}"), "(map \"k\" 1 \"j\" (list x))");
  EXPECT_EQ(Parse("{}"), "(map)");
  EXPECT_EQ(Parse("-9223372036854775808"), "-9223372036854775808");
  EXPECT_EQ(Parse("-5"), "-5");
}

TEST(ExprParserTest, PrecedenceFollowsCel) {
  EXPECT_EQ(Parse("1 + 2 * 3"), "(+ 1 (* 2 3))");
  EXPECT_EQ(Parse("(1 + 2) * 3"), "(* (+ 1 2) 3)");
  EXPECT_EQ(Parse("a - b - c"), "(- (- a b) c)");
  EXPECT_EQ(Parse("a / b % c"), "(% (/ a b) c)");
  EXPECT_EQ(Parse("a + b < c * d"), "(< (+ a b) (* c d))");
  EXPECT_EQ(Parse("a < b == c"), "(== (< a b) c)");
  EXPECT_EQ(Parse("a in b && c"), "(&& (in a b) c)");
  EXPECT_EQ(Parse("a || b && c"), "(|| a (&& b c))");
  EXPECT_EQ(Parse("a ?? b || c"), "(?? a (|| b c))");
  EXPECT_EQ(Parse("a ?? b ? c : d"), "(?: (?? a b) c d)");
  EXPECT_EQ(Parse("a ? b : c ? d : e"), "(?: a b (?: c d e))");
  EXPECT_EQ(Parse("a ? b ? c : d : e"), "(?: a (?: b c d) e)");
  EXPECT_EQ(Parse("!a && -b < c"), "(&& (! a) (< (- b) c))");
  EXPECT_EQ(Parse("!!a"), "(! (! a))");
  EXPECT_EQ(Parse("-a.b[0]"), "(- ([] (. a b) 0))");
  EXPECT_EQ(Parse("- 1 * 2"), "(* -1 2)");
  EXPECT_EQ(Parse("-1[0]"), "(- ([] 1 0))");
}

TEST(ExprParserTest, PathsAndDashes) {
  EXPECT_EQ(Parse("steps.get-user.output"), "(. (. steps get-user) output)");
  EXPECT_EQ(Parse("a-b"), "a-b");
  EXPECT_EQ(Parse("a - b"), "(- a b)");
  EXPECT_EQ(Parse("a -b"), "(- a b)");
  EXPECT_EQ(Parse("a.b - 1"), "(- (. a b) 1)");
  EXPECT_EQ(Parse("a[\"k\"][0]"), "([] ([] a \"k\") 0)");
  EXPECT_EQ(Parse("a.in"), "(. a in)");
}

TEST(ExprParserTest, CallsAndMethods) {
  EXPECT_EQ(Parse("size(x)"), "(size x)");
  EXPECT_EQ(Parse("substring(s, 1, 2)"), "(substring s 1 2)");
  EXPECT_EQ(Parse("x.lower()"), "(lower x)");
  EXPECT_EQ(Parse("x.y.starts_with('a')"), "(starts_with (. x y) \"a\")");
  EXPECT_EQ(Parse("now()"), "(now)");
}

TEST(ExprParserTest, UnknownFunctionSuggests) {
  ParseError e = Error("1 + lenght(x)");
  EXPECT_EQ(e.offset, 4u);
  EXPECT_EQ(e.kind, ParseError::Kind::kUnknownFunction);
  EXPECT_EQ(e.message, "unknown function \"lenght\"");
  e = Error("upperr(x)");
  EXPECT_EQ(e.message, "unknown function \"upperr\"; did you mean \"upper\"?");
  e = Error("startswith(x, 'a')");
  EXPECT_EQ(e.message, "unknown function \"startswith\"; did you mean \"starts_with\"?");
  e = Error("x.sise()");
  EXPECT_EQ(e.offset, 2u);
  EXPECT_NE(e.message.find("did you mean \"size\""), std::string::npos);
}

TEST(ExprParserTest, WrongArity) {
  ParseError e = Error("substring('abc')");
  EXPECT_EQ(e.kind, ParseError::Kind::kWrongArity);
  EXPECT_EQ(e.offset, 0u);
  EXPECT_EQ(e.message, "function substring(s, start[, end]) takes 2 or 3 arguments, got 1");
  EXPECT_EQ(Error("now(1)").message, "function now() takes 0 arguments, got 1");
  EXPECT_EQ(Error("x + size()").offset, 4u);
  EXPECT_EQ(Error("'a'.lower(1)").message, "function lower(s) takes 1 argument, got 2");
}

TEST(ExprParserTest, SyntaxErrorOffsets) {
  EXPECT_EQ(Error("").message, "expression is empty");
  EXPECT_EQ(Error("   ").offset, 0u);
  EXPECT_EQ(Error("1 +").offset, 3u);
  EXPECT_EQ(Error("1 + )").offset, 4u);
  EXPECT_EQ(Error("(1 + 2").offset, 6u);
  EXPECT_EQ(Error("a b").offset, 2u);
  EXPECT_EQ(Error("a b").message, "unexpected identifier \"b\" after the expression");
  EXPECT_EQ(Error("[1, 2").offset, 5u);
  EXPECT_EQ(Error("{'a' 1}").offset, 5u);
  EXPECT_EQ(Error("a ? b").offset, 5u);
  EXPECT_EQ(Error("a.").offset, 2u);
  EXPECT_EQ(Error("a.(b)").offset, 2u);
  EXPECT_EQ(Error("a[1").offset, 3u);
  EXPECT_EQ(Error("size(1 2)").offset, 7u);
  EXPECT_EQ(Error("9223372036854775808").offset, 0u);
  EXPECT_EQ(Error("1 + 9223372036854775808").offset, 4u);
}

TEST(ExprParserTest, LiteralRegexIsCompiledOnce) {
  auto result = ParseTree("matches(x, '^a+$')");
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<Node>>(result));
  const Node& call = *std::get<std::unique_ptr<Node>>(result);
  EXPECT_NE(call.regex, nullptr);
  // A bad literal pattern is kept as an evaluation error, not a parse error.
  result = ParseTree("matches(x, '(')");
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<Node>>(result));
  const Node& bad = *std::get<std::unique_ptr<Node>>(result);
  EXPECT_EQ(bad.regex, nullptr);
  EXPECT_FALSE(bad.regex_error.ok());
}

TEST(ExprParserTest, NestingIsBounded) {
  auto deep = [](std::string open, std::string close, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += open;
    s += "1";
    for (int i = 0; i < n; ++i) s += close;
    return s;
  };
  EXPECT_EQ(Parse(deep("(", ")", 100)), "1");
  for (auto [open, close] : std::vector<std::pair<std::string, std::string>>{{"(", ")"},
                                                                             {"[", "]"},
                                                                             {"!", ""},
                                                                             {"-", ""},
                                                                             {"size(", ")"},
                                                                             {"x[", "]"},
                                                                             {"{'a':", "}"},
                                                                             {"a ? ", " : b"}}) {
    auto start = std::chrono::steady_clock::now();
    int n = open.size() + close.size() > 6 ? 5000 : 10000;  // stay under the length limit
    ParseError e = Error(deep(open, close, n));
    EXPECT_NE(e.message.find("nested too deeply"), std::string::npos) << open << " " << e.message;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  }
}

TEST(ExprParserTest, LongOperatorChainsAreBounded) {
  std::string chain = "1";
  for (int i = 0; i < 10000; ++i) chain += "+1";
  EXPECT_NE(Error(chain).message.find("nested too deeply"), std::string::npos);
  std::string path = "a";
  for (int i = 0; i < 10000; ++i) path += ".b";
  EXPECT_NE(Error(path).message.find("nested too deeply"), std::string::npos);
  std::string fine = "1";
  for (int i = 0; i < 100; ++i) fine += " + 1";
  EXPECT_EQ(Parse(fine).rfind("error", 0), std::string::npos);
}

TEST(ExprParserTest, SourceLengthIsBounded) {
  std::string huge = "'" + std::string(kMaxSourceBytes, 'a') + "'";
  ParseError e = Error(huge);
  EXPECT_NE(e.message.find("too long"), std::string::npos);
  std::string many(kMaxSourceBytes - 2, '1');
  EXPECT_NE(Error(many).message.find("out of range"), std::string::npos);
  std::string wide = "[";
  while (wide.size() < kMaxSourceBytes - 10) wide += "1,";
  wide += "1]";
  EXPECT_EQ(Parse(wide).rfind("(list 1 1", 0), 0u);
}

}  // namespace
}  // namespace flowrun::expr

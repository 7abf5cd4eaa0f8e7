#include "flow/expr/lexer.h"

#include <gtest/gtest.h>

namespace flowrun::expr {
namespace {

std::vector<Token> Lex(std::string_view source) {
  auto result = Tokenize(source);
  EXPECT_TRUE(std::holds_alternative<std::vector<Token>>(result))
      << source << ": " << std::get<ParseError>(result).message;
  if (!std::holds_alternative<std::vector<Token>>(result)) return {};
  return std::get<std::vector<Token>>(result);
}

std::vector<TokenKind> Kinds(std::string_view source) {
  std::vector<TokenKind> kinds;
  for (const Token& t : Lex(source)) kinds.push_back(t.kind);
  return kinds;
}

ParseError LexError(std::string_view source) {
  auto result = Tokenize(source);
  EXPECT_TRUE(std::holds_alternative<ParseError>(result)) << source;
  if (!std::holds_alternative<ParseError>(result)) return {};
  return std::get<ParseError>(result);
}

TEST(LexerTest, Operators) {
  using K = TokenKind;
  EXPECT_EQ(Kinds("! - * / % + < <= > >= == != && || ? : ?? . , ( ) [ ] { }"),
            (std::vector<K>{K::kBang,
                            K::kMinus,
                            K::kStar,
                            K::kSlash,
                            K::kPercent,
                            K::kPlus,
                            K::kLt,
                            K::kLe,
                            K::kGt,
                            K::kGe,
                            K::kEq,
                            K::kNe,
                            K::kAnd,
                            K::kOr,
                            K::kQuestion,
                            K::kColon,
                            K::kQuestionQuestion,
                            K::kDot,
                            K::kComma,
                            K::kLParen,
                            K::kRParen,
                            K::kLBracket,
                            K::kRBracket,
                            K::kLBrace,
                            K::kRBrace,
                            K::kEnd}));
}

TEST(LexerTest, KeywordsAndIdentifiers) {
  using K = TokenKind;
  EXPECT_EQ(Kinds("true false null in x"),
            (std::vector<K>{K::kTrue, K::kFalse, K::kNull, K::kIn, K::kIdent, K::kEnd}));
  // After '.', keywords are field names.
  std::vector<Token> tokens = Lex("a.in.null");
  ASSERT_EQ(tokens.size(), 6u);
  EXPECT_EQ(tokens[2].kind, K::kIdent);
  EXPECT_EQ(tokens[2].text, "in");
  EXPECT_EQ(tokens[4].kind, K::kIdent);
}

TEST(LexerTest, DashInsideIdentifiers) {
  std::vector<Token> tokens = Lex("steps.get-user.output");
  ASSERT_EQ(tokens.size(), 6u);
  EXPECT_EQ(tokens[2].text, "get-user");
  EXPECT_EQ(tokens[2].offset, 6u);
  // A trailing dash is a minus sign; spaces make a subtraction.
  EXPECT_EQ(Kinds("a- b"), (std::vector<TokenKind>{TokenKind::kIdent, TokenKind::kMinus,
                                                   TokenKind::kIdent, TokenKind::kEnd}));
  EXPECT_EQ(Kinds("a - b").size(), 4u);
  EXPECT_EQ(Lex("a-b")[0].text, "a-b");
}

TEST(LexerTest, SegmentAfterDotMayStartWithDigit) {
  std::vector<Token> tokens = Lex("x.1st-step");
  ASSERT_EQ(tokens.size(), 4u);
  EXPECT_EQ(tokens[2].kind, TokenKind::kIdent);
  EXPECT_EQ(tokens[2].text, "1st-step");
}

TEST(LexerTest, Numbers) {
  std::vector<Token> tokens = Lex("0 42 2.5 1e3 9223372036854775807 9223372036854775808");
  EXPECT_EQ(tokens[0].kind, TokenKind::kInt);
  EXPECT_EQ(tokens[1].uint_value, 42u);
  EXPECT_EQ(tokens[2].kind, TokenKind::kFloat);
  EXPECT_DOUBLE_EQ(tokens[2].float_value, 2.5);
  EXPECT_EQ(tokens[3].kind, TokenKind::kFloat);
  EXPECT_DOUBLE_EQ(tokens[3].float_value, 1000);
  EXPECT_EQ(tokens[4].uint_value, 9223372036854775807u);
  EXPECT_EQ(tokens[5].uint_value, 9223372036854775808u);  // valid only after unary minus
}

TEST(LexerTest, NumberErrors) {
  EXPECT_EQ(LexError("1 + 99999999999999999999").offset, 4u);
  EXPECT_NE(LexError("1e999999").message.find("out of range"), std::string::npos);
  EXPECT_EQ(LexError("12abc").offset, 2u);
}

TEST(LexerTest, Strings) {
  std::vector<Token> tokens = Lex(R"("a\"b" 'c\'d' "\n\t\\\/" "\u00e9\ud83d\ude00")");
  EXPECT_EQ(tokens[0].text, "a\"b");
  EXPECT_EQ(tokens[1].text, "c'd");
  EXPECT_EQ(tokens[2].text, "\n\t\\/");
  EXPECT_EQ(tokens[3].text, "\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(Lex("'say \"hi\"'")[0].text, "say \"hi\"");
}

TEST(LexerTest, StringErrors) {
  EXPECT_EQ(LexError("x == \"abc").offset, 5u);
  EXPECT_EQ(LexError(R"("ab\q")").offset, 3u);
  EXPECT_EQ(LexError(R"("\u12")").offset, 1u);
  EXPECT_EQ(LexError(R"("\ud800")").offset, 1u);
  EXPECT_EQ(LexError(R"("\udc00")").offset, 1u);
  EXPECT_EQ(LexError("'x\\").offset, 0u);
}

TEST(LexerTest, BadCharacters) {
  EXPECT_EQ(LexError("a = b").offset, 2u);
  EXPECT_NE(LexError("a = b").message.find("=="), std::string::npos);
  EXPECT_EQ(LexError("a & b").offset, 2u);
  EXPECT_EQ(LexError("a | b").offset, 2u);
  EXPECT_EQ(LexError("a # b").offset, 2u);
  EXPECT_EQ(LexError("a \x01").offset, 2u);
}

TEST(LexerTest, OffsetsAndLengths) {
  std::vector<Token> tokens = Lex("  ab  <=  'x'");
  EXPECT_EQ(tokens[0].offset, 2u);
  EXPECT_EQ(tokens[0].length, 2u);
  EXPECT_EQ(tokens[1].offset, 6u);
  EXPECT_EQ(tokens[1].length, 2u);
  EXPECT_EQ(tokens[2].offset, 10u);
  EXPECT_EQ(tokens[3].kind, TokenKind::kEnd);
  EXPECT_EQ(tokens[3].offset, 13u);
}

TEST(LexerTest, DescribeToken) {
  std::vector<Token> tokens = Lex("foo + )");
  EXPECT_EQ(DescribeToken(tokens[0]), "identifier \"foo\"");
  EXPECT_EQ(DescribeToken(tokens[1]), "\"+\"");
  EXPECT_EQ(DescribeToken(tokens[3]), "end of input");
}

}  // namespace
}  // namespace flowrun::expr

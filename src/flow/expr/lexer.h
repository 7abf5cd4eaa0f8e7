// Lexer: splits expression source into tokens, each with its byte offset.
//
// Identifiers are [A-Za-z_][A-Za-z0-9_-]* and never end with '-', so `steps.get-user.output`
// is three segments while `a - b` is a subtraction; a segment right after '.' may also begin
// with a digit and may be a keyword (`x.in`, `x.null`). Integer literals are checked for int64
// range; string literals are decoded here (escapes \n \t \r \b \f \" \' \\ \/ \uXXXX).
//
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "flow/expr/expression.h"

namespace flowrun::expr {

enum class TokenKind {
  kEnd,
  kInt,     // int_value; may be 2^63 when written right after a unary '-', see uint_value
  kFloat,   // float_value
  kString,  // text: the decoded string
  kIdent,   // text
  kTrue,
  kFalse,
  kNull,
  kIn,
  kDot,
  kComma,
  kColon,
  kQuestion,
  kQuestionQuestion,
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kLBrace,
  kRBrace,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kPercent,
  kBang,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kAnd,
  kOr,
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  size_t offset = 0;  // byte offset of the token's first character
  size_t length = 0;  // bytes of source the token spans
  std::string text;
  // kInt: the magnitude, at most 2^63 (which is only valid negated: -9223372036854775808).
  uint64_t uint_value = 0;
  double float_value = 0;
};

// How a token is shown in error messages: `"+"`, `identifier "foo"`, `end of input`.
std::string DescribeToken(const Token& token);

// Tokenizes `source`; the last token is kEnd. REQUIRES: source.size() <= kMaxSourceBytes.
std::variant<std::vector<Token>, ParseError> Tokenize(std::string_view source);

}  // namespace flowrun::expr

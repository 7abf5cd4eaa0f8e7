#include "flow/expr/lexer.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace flowrun::expr {
namespace {

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c) || c == '-'; }
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(source) {}

  std::variant<std::vector<Token>, ParseError> Run() {
    std::vector<Token> tokens;
    while (true) {
      SkipSpace();
      bool after_dot = !tokens.empty() && tokens.back().kind == TokenKind::kDot;
      Token token;
      token.offset = pos_;
      if (pos_ >= src_.size()) {
        token.kind = TokenKind::kEnd;
        tokens.push_back(std::move(token));
        return tokens;
      }
      std::optional<ParseError> error = Next(after_dot, token);
      if (error) return *error;
      token.length = pos_ - token.offset;
      tokens.push_back(std::move(token));
    }
  }

 private:
  void SkipSpace() {
    while (pos_ < src_.size() &&
           (src_[pos_] == ' ' || src_[pos_] == '\t' || src_[pos_] == '\n' || src_[pos_] == '\r')) {
      ++pos_;
    }
  }

  ParseError Error(size_t offset, std::string message) { return {std::move(message), offset}; }

  std::optional<ParseError> Next(bool after_dot, Token& token) {
    char c = src_[pos_];
    if (IsIdentStart(c) || (after_dot && IsDigit(c))) return Identifier(after_dot, token);
    if (IsDigit(c)) return Number(token);
    if (c == '"' || c == '\'') return String(token);
    auto two = [&](char second) { return pos_ + 1 < src_.size() && src_[pos_ + 1] == second; };
    auto emit = [&](TokenKind kind, size_t length) {
      token.kind = kind;
      pos_ += length;
      return std::nullopt;
    };
    switch (c) {
      case '.':
        return emit(TokenKind::kDot, 1);
      case ',':
        return emit(TokenKind::kComma, 1);
      case ':':
        return emit(TokenKind::kColon, 1);
      case '?':
        return two('?') ? emit(TokenKind::kQuestionQuestion, 2) : emit(TokenKind::kQuestion, 1);
      case '(':
        return emit(TokenKind::kLParen, 1);
      case ')':
        return emit(TokenKind::kRParen, 1);
      case '[':
        return emit(TokenKind::kLBracket, 1);
      case ']':
        return emit(TokenKind::kRBracket, 1);
      case '{':
        return emit(TokenKind::kLBrace, 1);
      case '}':
        return emit(TokenKind::kRBrace, 1);
      case '+':
        return emit(TokenKind::kPlus, 1);
      case '-':
        return emit(TokenKind::kMinus, 1);
      case '*':
        return emit(TokenKind::kStar, 1);
      case '/':
        return emit(TokenKind::kSlash, 1);
      case '%':
        return emit(TokenKind::kPercent, 1);
      case '!':
        return two('=') ? emit(TokenKind::kNe, 2) : emit(TokenKind::kBang, 1);
      case '=':
        if (two('=')) return emit(TokenKind::kEq, 2);
        return Error(pos_, "unexpected \"=\"; use \"==\" to compare");
      case '<':
        return two('=') ? emit(TokenKind::kLe, 2) : emit(TokenKind::kLt, 1);
      case '>':
        return two('=') ? emit(TokenKind::kGe, 2) : emit(TokenKind::kGt, 1);
      case '&':
        if (two('&')) return emit(TokenKind::kAnd, 2);
        return Error(pos_, "unexpected \"&\"; use \"&&\"");
      case '|':
        if (two('|')) return emit(TokenKind::kOr, 2);
        return Error(pos_, "unexpected \"|\"; use \"||\"");
      default:
        break;
    }
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) {
      return Error(pos_, "unexpected character (byte 0x" +
                             std::string(1, "0123456789abcdef"[(c >> 4) & 0xF]) +
                             std::string(1, "0123456789abcdef"[c & 0xF]) + ")");
    }
    return Error(pos_, std::string("unexpected character \"") + c + "\"");
  }

  std::optional<ParseError> Identifier(bool after_dot, Token& token) {
    size_t start = pos_;
    size_t end = pos_ + 1;
    while (end < src_.size() && IsIdentChar(src_[end])) ++end;
    while (src_[end - 1] == '-') --end;  // a trailing '-' is a minus sign
    pos_ = end;
    token.text = std::string(src_.substr(start, end - start));
    token.kind = TokenKind::kIdent;
    if (!after_dot) {
      if (token.text == "true") token.kind = TokenKind::kTrue;
      if (token.text == "false") token.kind = TokenKind::kFalse;
      if (token.text == "null") token.kind = TokenKind::kNull;
      if (token.text == "in") token.kind = TokenKind::kIn;
    }
    return std::nullopt;
  }

  std::optional<ParseError> Number(Token& token) {
    size_t start = pos_;
    while (pos_ < src_.size() && IsDigit(src_[pos_])) ++pos_;
    bool is_float = false;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' && IsDigit(src_[pos_ + 1])) {
      is_float = true;
      ++pos_;
      while (pos_ < src_.size() && IsDigit(src_[pos_])) ++pos_;
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t exp = pos_ + 1;
      if (exp < src_.size() && (src_[exp] == '+' || src_[exp] == '-')) ++exp;
      if (exp < src_.size() && IsDigit(src_[exp])) {
        is_float = true;
        pos_ = exp;
        while (pos_ < src_.size() && IsDigit(src_[pos_])) ++pos_;
      }
    }
    if (pos_ < src_.size() && (IsIdentStart(src_[pos_]) || IsDigit(src_[pos_]))) {
      return Error(pos_, "unexpected character after number");
    }
    std::string_view text = src_.substr(start, pos_ - start);
    if (is_float) {
      std::string copy(text);
      char* end = nullptr;
      double value = std::strtod(copy.c_str(), &end);
      if (!std::isfinite(value)) return Error(start, "number literal is out of range");
      token.kind = TokenKind::kFloat;
      token.float_value = value;
      return std::nullopt;
    }
    uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    constexpr uint64_t kLimit = uint64_t{1} << 63;
    if (ec != std::errc() || ptr != text.data() + text.size() || value > kLimit) {
      return Error(start, "integer literal is out of range (int64)");
    }
    token.kind = TokenKind::kInt;
    token.uint_value = value;
    return std::nullopt;
  }

  std::optional<ParseError> String(Token& token) {
    char quote = src_[pos_];
    size_t start = pos_;
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) return Error(start, "unterminated string literal");
      char c = src_[pos_];
      if (c == quote) {
        ++pos_;
        break;
      }
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      size_t escape = pos_;
      if (pos_ + 1 >= src_.size()) return Error(start, "unterminated string literal");
      char e = src_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case '"':
        case '\'':
        case '\\':
        case '/':
          out += e;
          break;
        case 'u': {
          std::optional<uint32_t> cp = Hex4();
          if (!cp) return Error(escape, "invalid \\u escape: expected four hex digits");
          if (*cp >= 0xDC00 && *cp <= 0xDFFF) {
            return Error(escape, "invalid \\u escape: lone low surrogate");
          }
          if (*cp >= 0xD800 && *cp <= 0xDBFF) {
            if (pos_ + 1 >= src_.size() || src_[pos_] != '\\' || src_[pos_ + 1] != 'u') {
              return Error(escape, "invalid \\u escape: high surrogate without a low surrogate");
            }
            pos_ += 2;
            std::optional<uint32_t> low = Hex4();
            if (!low || *low < 0xDC00 || *low > 0xDFFF) {
              return Error(escape, "invalid \\u escape: high surrogate without a low surrogate");
            }
            *cp = 0x10000 + ((*cp - 0xD800) << 10) + (*low - 0xDC00);
          }
          AppendUtf8(*cp, out);
          break;
        }
        default:
          return Error(escape, "invalid escape sequence in string literal");
      }
    }
    token.kind = TokenKind::kString;
    token.text = std::move(out);
    return std::nullopt;
  }

  std::optional<uint32_t> Hex4() {
    if (pos_ + 4 > src_.size()) return std::nullopt;
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      int digit = HexValue(src_[pos_ + i]);
      if (digit < 0) return std::nullopt;
      value = value * 16 + static_cast<uint32_t>(digit);
    }
    pos_ += 4;
    return value;
  }

  std::string_view src_;
  size_t pos_ = 0;
};

}  // namespace

std::string DescribeToken(const Token& token) {
  switch (token.kind) {
    case TokenKind::kEnd:
      return "end of input";
    case TokenKind::kInt:
      return "number " + std::to_string(token.uint_value);
    case TokenKind::kFloat:
      return "number";
    case TokenKind::kString:
      return "string literal";
    case TokenKind::kIdent:
      return "identifier \"" + token.text + "\"";
    case TokenKind::kTrue:
      return "\"true\"";
    case TokenKind::kFalse:
      return "\"false\"";
    case TokenKind::kNull:
      return "\"null\"";
    case TokenKind::kIn:
      return "\"in\"";
    case TokenKind::kDot:
      return "\".\"";
    case TokenKind::kComma:
      return "\",\"";
    case TokenKind::kColon:
      return "\":\"";
    case TokenKind::kQuestion:
      return "\"?\"";
    case TokenKind::kQuestionQuestion:
      return "\"??\"";
    case TokenKind::kLParen:
      return "\"(\"";
    case TokenKind::kRParen:
      return "\")\"";
    case TokenKind::kLBracket:
      return "\"[\"";
    case TokenKind::kRBracket:
      return "\"]\"";
    case TokenKind::kLBrace:
      return "\"{\"";
    case TokenKind::kRBrace:
      return "\"}\"";
    case TokenKind::kPlus:
      return "\"+\"";
    case TokenKind::kMinus:
      return "\"-\"";
    case TokenKind::kStar:
      return "\"*\"";
    case TokenKind::kSlash:
      return "\"/\"";
    case TokenKind::kPercent:
      return "\"%\"";
    case TokenKind::kBang:
      return "\"!\"";
    case TokenKind::kEq:
      return "\"==\"";
    case TokenKind::kNe:
      return "\"!=\"";
    case TokenKind::kLt:
      return "\"<\"";
    case TokenKind::kLe:
      return "\"<=\"";
    case TokenKind::kGt:
      return "\">\"";
    case TokenKind::kGe:
      return "\">=\"";
    case TokenKind::kAnd:
      return "\"&&\"";
    case TokenKind::kOr:
      return "\"||\"";
  }
  return "token";
}

std::variant<std::vector<Token>, ParseError> Tokenize(std::string_view source) {
  return Lexer(source).Run();
}

}  // namespace flowrun::expr

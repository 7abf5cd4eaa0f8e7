#include "flow/expr/expr_parser.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "flow/expr/function_table.h"
#include "flow/expr/lexer.h"
#include "flow/expr/limits.h"

namespace flowrun::expr {
namespace {

using NodePtr = std::unique_ptr<Node>;
using Result = std::variant<NodePtr, ParseError>;

constexpr uint64_t kInt64MinMagnitude = uint64_t{1} << 63;

std::string ArityText(const Function& f) {
  auto plural = [](size_t n) { return n == 1 ? " argument" : " arguments"; };
  if (f.min_arity == f.max_arity) return std::to_string(f.min_arity) + plural(f.min_arity);
  if (f.max_arity == f.min_arity + 1) {
    return std::to_string(f.min_arity) + " or " + std::to_string(f.max_arity) + " arguments";
  }
  return std::to_string(f.min_arity) + " to " + std::to_string(f.max_arity) + " arguments";
}

// Binary operator levels, loosest first.
struct Level {
  std::initializer_list<std::pair<TokenKind, Op>> ops;
};
const Level kLevels[] = {
    {{{TokenKind::kQuestionQuestion, Op::kCoalesce}}},
    {{{TokenKind::kOr, Op::kOr}}},
    {{{TokenKind::kAnd, Op::kAnd}}},
    {{{TokenKind::kEq, Op::kEqual},
      {TokenKind::kNe, Op::kNotEqual},
      {TokenKind::kLt, Op::kLess},
      {TokenKind::kLe, Op::kLessEqual},
      {TokenKind::kGt, Op::kGreater},
      {TokenKind::kGe, Op::kGreaterEqual},
      {TokenKind::kIn, Op::kIn}}},
    {{{TokenKind::kPlus, Op::kAdd}, {TokenKind::kMinus, Op::kSubtract}}},
    {{{TokenKind::kStar, Op::kMultiply},
      {TokenKind::kSlash, Op::kDivide},
      {TokenKind::kPercent, Op::kModulo}}},
};
constexpr int kLevelCount = sizeof(kLevels) / sizeof(kLevels[0]);

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Result Run() {
    Result result = ParseConditional();
    if (IsError(result)) return result;
    if (Peek().kind != TokenKind::kEnd) {
      return Error(Peek().offset, "unexpected " + DescribeToken(Peek()) + " after the expression");
    }
    return result;
  }

 private:
  static bool IsError(const Result& r) { return std::holds_alternative<ParseError>(r); }
  static NodePtr Take(Result& r) { return std::move(std::get<NodePtr>(r)); }
  static ParseError Error(size_t offset, std::string message,
                          ParseError::Kind kind = ParseError::Kind::kSyntax) {
    return ParseError{std::move(message), offset, kind};
  }

  const Token& Peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  const Token& Advance() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool Accept(TokenKind kind) {
    if (Peek().kind != kind) return false;
    Advance();
    return true;
  }
  std::optional<ParseError> Expect(TokenKind kind, std::string_view what) {
    if (Accept(kind)) return std::nullopt;
    return Error(Peek().offset,
                 "expected " + std::string(what) + ", found " + DescribeToken(Peek()));
  }

  // Counts nesting: every nested construct (parentheses, list and map entries, arguments,
  // indexes, branches of ?:) is parsed by ParseConditional, and unary operators nest too.
  class DepthGuard {
   public:
    explicit DepthGuard(Parser& p) : p_(p) { ++p_.depth_; }
    ~DepthGuard() { --p_.depth_; }
    bool exceeded() const { return p_.depth_ > kMaxNesting; }

   private:
    Parser& p_;
  };
  ParseError TooDeep(size_t offset) {
    return Error(offset, "expression is nested too deeply (the limit is " +
                             std::to_string(kMaxNesting) + " levels)");
  }

  // Builds a node over `children`, checking the tree height.
  Result Make(NodeKind kind, size_t offset, std::vector<NodePtr> children, Op op = Op::kNone) {
    auto node = std::make_unique<Node>(kind, offset);
    node->op = op;
    int height = 0;
    for (const NodePtr& child : children) height = std::max(height, child->height);
    node->height = height + 1;
    node->children = std::move(children);
    if (node->height > kMaxNesting) return TooDeep(offset);
    return node;
  }

  static std::vector<NodePtr> Children(NodePtr a) {
    std::vector<NodePtr> v;
    v.push_back(std::move(a));
    return v;
  }
  static std::vector<NodePtr> Children(NodePtr a, NodePtr b) {
    std::vector<NodePtr> v = Children(std::move(a));
    v.push_back(std::move(b));
    return v;
  }

  Result ParseConditional() {
    DepthGuard guard(*this);
    if (guard.exceeded()) return TooDeep(Peek().offset);
    size_t offset = Peek().offset;
    Result cond = ParseBinary(0);
    if (IsError(cond) || Peek().kind != TokenKind::kQuestion) return cond;
    Advance();
    Result then = ParseConditional();
    if (IsError(then)) return then;
    if (auto e = Expect(TokenKind::kColon, "\":\" of the conditional operator")) return *e;
    Result otherwise = ParseConditional();
    if (IsError(otherwise)) return otherwise;
    std::vector<NodePtr> children = Children(Take(cond), Take(then));
    children.push_back(Take(otherwise));
    return Make(NodeKind::kConditional, offset, std::move(children));
  }

  Result ParseBinary(int level) {
    if (level == kLevelCount) return ParseUnary();
    Result lhs = ParseBinary(level + 1);
    if (IsError(lhs)) return lhs;
    while (true) {
      Op op = Op::kNone;
      for (const auto& [token, candidate] : kLevels[level].ops) {
        if (Peek().kind == token) op = candidate;
      }
      if (op == Op::kNone) return lhs;
      size_t offset = Advance().offset;
      Result rhs = ParseBinary(level + 1);
      if (IsError(rhs)) return rhs;
      lhs = Make(NodeKind::kBinary, offset, Children(Take(lhs), Take(rhs)), op);
      if (IsError(lhs)) return lhs;
    }
  }

  Result ParseUnary() {
    const Token& t = Peek();
    if (t.kind == TokenKind::kMinus && Peek(1).kind == TokenKind::kInt &&
        !IsPostfixStart(Peek(2).kind)) {
      // Fold a negative integer literal, so that -9223372036854775808 is representable.
      size_t offset = Advance().offset;
      uint64_t magnitude = Advance().uint_value;
      int64_t value = magnitude == kInt64MinMagnitude ? std::numeric_limits<int64_t>::min()
                                                      : -static_cast<int64_t>(magnitude);
      return Literal(offset, Json(value));
    }
    if (t.kind == TokenKind::kBang || t.kind == TokenKind::kMinus) {
      Op op = t.kind == TokenKind::kBang ? Op::kNot : Op::kNegate;
      DepthGuard guard(*this);
      size_t offset = Advance().offset;
      if (guard.exceeded()) return TooDeep(offset);
      Result operand = ParseUnary();
      if (IsError(operand)) return operand;
      return Make(NodeKind::kUnary, offset, Children(Take(operand)), op);
    }
    return ParsePostfix();
  }

  static bool IsPostfixStart(TokenKind kind) {
    return kind == TokenKind::kDot || kind == TokenKind::kLBracket;
  }

  Result ParsePostfix() {
    Result result = ParsePrimary();
    if (IsError(result)) return result;
    while (true) {
      if (Peek().kind == TokenKind::kDot) {
        Advance();
        if (Peek().kind != TokenKind::kIdent) {
          return Error(Peek().offset,
                       "expected a field name after \".\", found " + DescribeToken(Peek()));
        }
        const Token& field = Advance();
        if (Peek().kind == TokenKind::kLParen) {
          result = ParseCall(field, Take(result));
        } else {
          result = Make(NodeKind::kMember, field.offset, Children(Take(result)));
          if (!IsError(result)) std::get<NodePtr>(result)->name = field.text;
        }
      } else if (Peek().kind == TokenKind::kLBracket) {
        size_t offset = Advance().offset;
        Result index = ParseConditional();
        if (IsError(index)) return index;
        if (auto e = Expect(TokenKind::kRBracket, "\"]\"")) return *e;
        result = Make(NodeKind::kIndex, offset, Children(Take(result), Take(index)));
      } else {
        return result;
      }
      if (IsError(result)) return result;
    }
  }

  Result Literal(size_t offset, Json value) {
    auto node = std::make_unique<Node>(NodeKind::kLiteral, offset);
    node->literal = std::move(value);
    return node;
  }

  Result ParsePrimary() {
    const Token& t = Peek();
    switch (t.kind) {
      case TokenKind::kInt: {
        if (t.uint_value == kInt64MinMagnitude) {
          return Error(t.offset, "integer literal is out of range (int64)");
        }
        Advance();
        return Literal(t.offset, Json(static_cast<int64_t>(t.uint_value)));
      }
      case TokenKind::kFloat:
        Advance();
        return Literal(t.offset, Json(t.float_value));
      case TokenKind::kString:
        Advance();
        return Literal(t.offset, Json(t.text));
      case TokenKind::kTrue:
        Advance();
        return Literal(t.offset, Json(true));
      case TokenKind::kFalse:
        Advance();
        return Literal(t.offset, Json(false));
      case TokenKind::kNull:
        Advance();
        return Literal(t.offset, Json(nullptr));
      case TokenKind::kIdent: {
        const Token& name = Advance();
        if (Peek().kind == TokenKind::kLParen) return ParseCall(name, nullptr);
        auto node = std::make_unique<Node>(NodeKind::kIdent, name.offset);
        node->name = name.text;
        return node;
      }
      case TokenKind::kLParen: {
        Advance();
        Result inner = ParseConditional();
        if (IsError(inner)) return inner;
        if (auto e = Expect(TokenKind::kRParen, "\")\"")) return *e;
        return inner;
      }
      case TokenKind::kLBracket:
        return ParseList();
      case TokenKind::kLBrace:
        return ParseMap();
      default:
        return Error(t.offset, "expected a value, found " + DescribeToken(t));
    }
  }

  // Parses `(args...)` after a function name; `receiver` is the object of a method-style call.
  Result ParseCall(const Token& name, NodePtr receiver) {
    const Function* function = FunctionTable::BuiltIn().Find(name.text);
    if (function == nullptr) {
      std::string message = "unknown function \"" + name.text + "\"";
      std::string suggestion = FunctionTable::BuiltIn().Suggest(name.text);
      if (!suggestion.empty()) message += "; did you mean \"" + suggestion + "\"?";
      return Error(name.offset, std::move(message), ParseError::Kind::kUnknownFunction);
    }
    std::vector<NodePtr> args;
    if (receiver) args.push_back(std::move(receiver));
    Advance();  // (
    if (!Accept(TokenKind::kRParen)) {
      while (true) {
        Result arg = ParseConditional();
        if (IsError(arg)) return arg;
        args.push_back(Take(arg));
        if (Accept(TokenKind::kRParen)) break;
        if (auto e = Expect(TokenKind::kComma, "\",\" or \")\" in the argument list")) return *e;
      }
    }
    if (args.size() < function->min_arity || args.size() > function->max_arity) {
      return Error(name.offset,
                   "function " + std::string(function->signature) + " takes " +
                       ArityText(*function) + ", got " + std::to_string(args.size()),
                   ParseError::Kind::kWrongArity);
    }
    Result result = Make(NodeKind::kCall, name.offset, std::move(args));
    if (IsError(result)) return result;
    Node& call = *std::get<NodePtr>(result);
    call.name = name.text;
    call.function = function;
    if (call.name == "matches" && call.children[1]->kind == NodeKind::kLiteral &&
        call.children[1]->literal.is_string()) {
      auto regex = CompileRegex(call.children[1]->literal.get<std::string>());
      if (regex.ok()) {
        call.regex = *regex;
      } else {
        call.regex_error = regex.status();
      }
    }
    return result;
  }

  Result ParseList() {
    size_t offset = Advance().offset;
    std::vector<NodePtr> elements;
    while (!Accept(TokenKind::kRBracket)) {
      Result element = ParseConditional();
      if (IsError(element)) return element;
      elements.push_back(Take(element));
      if (Accept(TokenKind::kRBracket)) break;
      if (auto e = Expect(TokenKind::kComma, "\",\" or \"]\" in the list")) return *e;
    }
    return Make(NodeKind::kList, offset, std::move(elements));
  }

  Result ParseMap() {
    size_t offset = Advance().offset;
    std::vector<NodePtr> entries;
    while (!Accept(TokenKind::kRBrace)) {
      Result key = ParseConditional();
      if (IsError(key)) return key;
      if (auto e = Expect(TokenKind::kColon, "\":\" after the map key")) return *e;
      Result value = ParseConditional();
      if (IsError(value)) return value;
      entries.push_back(Take(key));
      entries.push_back(Take(value));
      if (Accept(TokenKind::kRBrace)) break;
      if (auto e = Expect(TokenKind::kComma, "\",\" or \"}\" in the map")) return *e;
    }
    return Make(NodeKind::kMap, offset, std::move(entries));
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

std::variant<std::unique_ptr<Node>, ParseError> ParseTree(std::string_view source) {
  if (source.size() > kMaxSourceBytes) {
    return ParseError{"expression is too long (" + std::to_string(source.size()) +
                          " bytes; the limit is " + std::to_string(kMaxSourceBytes) + ")",
                      kMaxSourceBytes};
  }
  auto tokens = Tokenize(source);
  if (auto* error = std::get_if<ParseError>(&tokens)) return *error;
  std::vector<Token>& list = std::get<std::vector<Token>>(tokens);
  if (list.size() == 1) return ParseError{"expression is empty", 0};
  return Parser(std::move(list)).Run();
}

}  // namespace flowrun::expr

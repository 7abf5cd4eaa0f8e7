#include "flow/expr/ast.h"

#include <algorithm>

namespace flowrun::expr {
namespace {

// The static prefix of a chain of member and index accesses rooted at an identifier.
struct Prefix {
  std::vector<std::string> path;
  size_t offset = 0;
  bool complete = true;  // false once a dynamic index ended the static part
};

std::optional<Prefix> ChainPrefix(const Node& node) {
  switch (node.kind) {
    case NodeKind::kIdent:
      return Prefix{{node.name}, node.offset, true};
    case NodeKind::kMember: {
      std::optional<Prefix> prefix = ChainPrefix(*node.children[0]);
      if (prefix && prefix->complete) prefix->path.push_back(node.name);
      return prefix;
    }
    case NodeKind::kIndex: {
      std::optional<Prefix> prefix = ChainPrefix(*node.children[0]);
      if (!prefix || !prefix->complete) return prefix;
      const Node& index = *node.children[1];
      if (index.kind == NodeKind::kLiteral && index.literal.is_string()) {
        prefix->path.push_back(index.literal.get<std::string>());
      } else {
        prefix->complete = false;
      }
      return prefix;
    }
    default:
      return std::nullopt;
  }
}

bool IsAccess(const Node& node) {
  return node.kind == NodeKind::kIdent || node.kind == NodeKind::kMember ||
         node.kind == NodeKind::kIndex;
}

void VisitReferences(const Node& node, bool inside_chain, std::vector<Reference>& out) {
  if (IsAccess(node) && !inside_chain) {
    if (std::optional<Prefix> prefix = ChainPrefix(node)) {
      out.push_back({std::move(prefix->path), prefix->offset});
    }
  }
  for (size_t i = 0; i < node.children.size(); ++i) {
    // The object of a member or index access continues the chain; an index expression does not.
    bool continues = (node.kind == NodeKind::kMember || node.kind == NodeKind::kIndex) && i == 0;
    VisitReferences(*node.children[i], continues, out);
  }
}

void VisitCalls(const Node& node, std::vector<Call>& out) {
  if (node.kind == NodeKind::kCall) out.push_back({node.name, node.children.size(), node.offset});
  for (const auto& child : node.children) VisitCalls(*child, out);
}

}  // namespace

std::string_view OperatorSymbol(Op op) {
  switch (op) {
    case Op::kNone:
      return "";
    case Op::kNot:
      return "!";
    case Op::kNegate:
      return "-";
    case Op::kAdd:
      return "+";
    case Op::kSubtract:
      return "-";
    case Op::kMultiply:
      return "*";
    case Op::kDivide:
      return "/";
    case Op::kModulo:
      return "%";
    case Op::kEqual:
      return "==";
    case Op::kNotEqual:
      return "!=";
    case Op::kLess:
      return "<";
    case Op::kLessEqual:
      return "<=";
    case Op::kGreater:
      return ">";
    case Op::kGreaterEqual:
      return ">=";
    case Op::kIn:
      return "in";
    case Op::kAnd:
      return "&&";
    case Op::kOr:
      return "||";
    case Op::kCoalesce:
      return "??";
  }
  return "";
}

std::optional<std::vector<std::string>> StaticPath(const Node& node) {
  std::optional<Prefix> prefix = ChainPrefix(node);
  if (!prefix || !prefix->complete) return std::nullopt;
  return std::move(prefix->path);
}

std::vector<Reference> CollectReferences(const Node& root) {
  std::vector<Reference> out;
  VisitReferences(root, false, out);
  std::stable_sort(out.begin(), out.end(),
                   [](const Reference& a, const Reference& b) { return a.offset < b.offset; });
  return out;
}

std::vector<Call> CollectCalls(const Node& root) {
  std::vector<Call> out;
  VisitCalls(root, out);
  std::stable_sort(out.begin(), out.end(),
                   [](const Call& a, const Call& b) { return a.offset < b.offset; });
  return out;
}

}  // namespace flowrun::expr

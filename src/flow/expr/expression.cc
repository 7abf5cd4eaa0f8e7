#include "flow/expr/expression.h"

#include "flow/expr/ast.h"
#include "flow/expr/evaluator.h"
#include "flow/expr/expr_parser.h"
#include "flow/expr/function_table.h"

namespace flowrun::expr {

std::variant<Expression, ParseError> Expression::Parse(std::string_view source) {
  auto tree = ParseTree(source);
  if (auto* error = std::get_if<ParseError>(&tree)) return *error;
  Expression e;
  e.source_ = std::string(source);
  e.root_ = std::move(std::get<std::unique_ptr<Node>>(tree));
  e.references_ = CollectReferences(*e.root_);
  e.calls_ = CollectCalls(*e.root_);
  return e;
}

Expression::Expression(Expression&&) noexcept = default;
Expression& Expression::operator=(Expression&&) noexcept = default;
Expression::~Expression() = default;

StatusOr<Json> Expression::Evaluate(const EvalContext& context) const {
  return EvaluateNode(*root_, context);
}

StatusOr<Json> Expression::EvaluateNode(const Node& node, const EvalContext& context) {
  ASSIGN_OR_RETURN(Value value, EvaluateTree(node, context));
  return std::move(value).ToJson();
}

StatusOr<bool> Expression::EvaluateCondition(const EvalContext& context) const {
  ASSIGN_OR_RETURN(Value value, EvaluateTree(*root_, context));
  if (value.is_null()) return false;
  if (value.is_bool()) return value.json().get<bool>();
  return InvalidArgumentError("expected a boolean, got " + std::string(value.TypeName()));
}

bool Expression::is_non_deterministic() const {
  for (const Call& call : calls_) {
    const Function* f = FunctionTable::BuiltIn().Find(call.name);
    if (f != nullptr && f->non_deterministic) return true;
  }
  return false;
}

std::optional<AsyncEquality> Expression::AsAsyncEquality() const {
  if (root_->kind != NodeKind::kBinary || root_->op != Op::kEqual) return std::nullopt;
  auto mentions_async = [](const Node& node) {
    for (const Reference& r : CollectReferences(node)) {
      if (r.path.front() == "async") return true;
    }
    return false;
  };
  for (int side = 0; side < 2; ++side) {
    const Node& candidate = *root_->children[side];
    const Node& other = *root_->children[1 - side];
    std::optional<std::vector<std::string>> path = StaticPath(candidate);
    if (!path || path->size() < 2 || path->front() != "async") continue;
    if (mentions_async(other)) continue;
    path->erase(path->begin());
    return AsyncEquality{std::move(*path), &other};
  }
  return std::nullopt;
}

}  // namespace flowrun::expr

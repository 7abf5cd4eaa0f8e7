#include "flow/expr/evaluator.h"

#include "flow/expr/function_table.h"
#include "flow/expr/operators.h"

namespace flowrun::expr {
namespace {

// `secrets.NAME` of a secret that is not set is an error, never null: a run must not send an
// empty string where a credential belongs and fail much later with a confusing error.
Status CheckSecretIsSet(const Node& object_node, const Value& object, const std::string& name) {
  if (object_node.kind != NodeKind::kIdent || object_node.name != "secrets" || !object.is_map() ||
      object.json().contains(name)) {
    return OkStatus();
  }
  return FailedPreconditionError("secret \"" + name + "\" is not set (set FLOWRUN_SECRET_" + name +
                                 ", or add it to the config's secrets source)");
}

StatusOr<Value> EvaluateMember(const Node& node, const EvalContext& context) {
  ASSIGN_OR_RETURN(Value object, EvaluateTree(*node.children[0], context));
  if (object.is_null()) return Value();
  RETURN_IF_ERROR(CheckSecretIsSet(*node.children[0], object, node.name));
  if (object.is_map()) return std::move(object).Member(node.name);
  return InvalidArgumentError("cannot read field \"" + node.name + "\" of a " +
                              std::string(object.TypeName()));
}

StatusOr<Value> EvaluateIndex(const Node& node, const EvalContext& context) {
  ASSIGN_OR_RETURN(Value object, EvaluateTree(*node.children[0], context));
  ASSIGN_OR_RETURN(Value index, EvaluateTree(*node.children[1], context));
  if (object.is_null()) return Value();
  if (object.is_list() && index.is_int()) {
    int64_t i = index.as_int();
    if (i < 0 || static_cast<uint64_t>(i) >= object.json().size()) return Value();
    return std::move(object).Element(static_cast<size_t>(i));
  }
  if (object.is_map() && index.is_string()) {
    RETURN_IF_ERROR(CheckSecretIsSet(*node.children[0], object, index.as_string()));
    return std::move(object).Member(index.as_string());
  }
  return InvalidArgumentError("cannot index a " + std::string(object.TypeName()) + " with a " +
                              std::string(index.TypeName()));
}

StatusOr<Value> EvaluateList(const Node& node, const EvalContext& context) {
  Json list = Json::array();
  for (const auto& child : node.children) {
    ASSIGN_OR_RETURN(Value element, EvaluateTree(*child, context));
    list.push_back(std::move(element).ToJson());
  }
  return Value(std::move(list));
}

StatusOr<Value> EvaluateMap(const Node& node, const EvalContext& context) {
  Json map = Json::object();
  for (size_t i = 0; i + 1 < node.children.size(); i += 2) {
    ASSIGN_OR_RETURN(Value key, EvaluateTree(*node.children[i], context));
    if (!key.is_string()) {
      return InvalidArgumentError("map keys must be strings, got " + std::string(key.TypeName()));
    }
    ASSIGN_OR_RETURN(Value value, EvaluateTree(*node.children[i + 1], context));
    map[key.as_string()] = std::move(value).ToJson();
  }
  return Value(std::move(map));
}

StatusOr<Value> EvaluateCall(const Node& node, const EvalContext& context) {
  std::vector<Value> args;
  args.reserve(node.children.size());
  for (const auto& child : node.children) {
    ASSIGN_OR_RETURN(Value arg, EvaluateTree(*child, context));
    args.push_back(std::move(arg));
  }
  CallEnv env{context, node.regex.get(), node.regex ? nullptr : &node.regex_error};
  StatusOr<Value> result = node.function->impl(args, env);
  if (!result.ok()) return result.status().WithContext(node.name);
  return result;
}

StatusOr<Value> EvaluateLogical(const Node& node, const EvalContext& context) {
  std::string what = "operator \"" + std::string(OperatorSymbol(node.op)) + "\"";
  ASSIGN_OR_RETURN(Value lhs, EvaluateTree(*node.children[0], context));
  ASSIGN_OR_RETURN(bool left, Truth(lhs, what));
  if (node.op == Op::kAnd && !left) return Value(Json(false));
  if (node.op == Op::kOr && left) return Value(Json(true));
  ASSIGN_OR_RETURN(Value rhs, EvaluateTree(*node.children[1], context));
  ASSIGN_OR_RETURN(bool right, Truth(rhs, what));
  return Value(Json(right));
}

StatusOr<Value> EvaluateBinary(const Node& node, const EvalContext& context) {
  if (node.op == Op::kAnd || node.op == Op::kOr) return EvaluateLogical(node, context);
  ASSIGN_OR_RETURN(Value lhs, EvaluateTree(*node.children[0], context));
  if (node.op == Op::kCoalesce) {
    if (!lhs.is_null()) return lhs;
    return EvaluateTree(*node.children[1], context);
  }
  ASSIGN_OR_RETURN(Value rhs, EvaluateTree(*node.children[1], context));
  return ApplyBinary(node.op, lhs, rhs);
}

StatusOr<Value> EvaluateConditional(const Node& node, const EvalContext& context) {
  ASSIGN_OR_RETURN(Value condition, EvaluateTree(*node.children[0], context));
  ASSIGN_OR_RETURN(bool truth, Truth(condition, "the condition of \"?:\""));
  return EvaluateTree(*node.children[truth ? 1 : 2], context);
}

}  // namespace

StatusOr<Value> EvaluateTree(const Node& node, const EvalContext& context) {
  switch (node.kind) {
    case NodeKind::kLiteral:
      return Value::Borrow(&node.literal);
    case NodeKind::kList:
      return EvaluateList(node, context);
    case NodeKind::kMap:
      return EvaluateMap(node, context);
    case NodeKind::kIdent: {
      if (context.scope == nullptr || !context.scope->is_object()) return Value();
      return Value::Borrow(context.scope).Member(node.name);
    }
    case NodeKind::kMember:
      return EvaluateMember(node, context);
    case NodeKind::kIndex:
      return EvaluateIndex(node, context);
    case NodeKind::kCall:
      return EvaluateCall(node, context);
    case NodeKind::kUnary: {
      ASSIGN_OR_RETURN(Value operand, EvaluateTree(*node.children[0], context));
      return ApplyUnary(node.op, operand);
    }
    case NodeKind::kBinary:
      return EvaluateBinary(node, context);
    case NodeKind::kConditional:
      return EvaluateConditional(node, context);
  }
  return InternalError("unknown syntax tree node");
}

}  // namespace flowrun::expr

#include "server/webhooks/webhook_transform.h"

#include <variant>

#include "flow/expr/expression.h"

namespace flowrun {
namespace {

// Whether `text` is meant as an expression over body and headers (see the header).
bool IsTransformExpression(const std::string& text) {
  auto parsed = expr::Expression::Parse(text);
  if (!std::holds_alternative<expr::Expression>(parsed)) return false;
  const auto& expression = std::get<expr::Expression>(parsed);
  for (const expr::Reference& reference : expression.references()) {
    if (reference.path.empty()) return false;
    if (reference.path.front() != "body" && reference.path.front() != "headers") return false;
  }
  return true;
}

// The value template for one field: a string meant as an expression is wrapped as "${{ … }}" so
// that it keeps its type; anything else compiles as written.
StatusOr<std::shared_ptr<const expr::ValueTemplate>> CompileField(const std::string& webhook,
                                                                  const std::string& field,
                                                                  const Json& value) {
  Json source = value;
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    if (text.find("${{") == std::string::npos && IsTransformExpression(text)) {
      source = "${{ " + text + " }}";
    }
  }
  auto compiled = expr::ValueTemplate::Compile(source);
  if (auto* error = std::get_if<expr::ValueTemplate::CompileError>(&compiled)) {
    return InvalidArgumentError("webhook \"" + webhook + "\": transform." + field + error->pointer +
                                ": " + error->error.message);
  }
  return std::make_shared<const expr::ValueTemplate>(
      std::move(std::get<expr::ValueTemplate>(compiled)));
}

}  // namespace

StatusOr<WebhookTransform> WebhookTransform::Compile(const std::string& webhook_name,
                                                     const WebhookConfig& config) {
  WebhookTransform transform;
  transform.webhook_name_ = webhook_name;
  if (!config.transform_name.has_value()) return transform;
  ASSIGN_OR_RETURN(transform.name_, CompileField(webhook_name, "name", *config.transform_name));
  if (!config.transform_data.is_null()) {
    ASSIGN_OR_RETURN(transform.data_, CompileField(webhook_name, "data", config.transform_data));
  }
  if (!config.transform_id.empty()) {
    ASSIGN_OR_RETURN(transform.id_, CompileField(webhook_name, "id", config.transform_id));
  }
  return transform;
}

StatusOr<Json> WebhookTransform::Apply(const Json& body, const Json& headers) const {
  if (name_ == nullptr) {
    Json data = body.is_object() ? body : Json{{"body", body}};
    return Json{{"name", "webhook/" + webhook_name_}, {"data", std::move(data)}};
  }
  const Json scope = {{"body", body}, {"headers", headers}};
  expr::EvalContext context;
  context.scope = &scope;
  const std::string where = "webhook \"" + webhook_name_ + "\": transform.";

  StatusOr<Json> name = name_->Render(context);
  if (!name.ok()) return name.status().WithContext(where + "name");
  if (!name->is_string() || name->get_ref<const std::string&>().empty()) {
    return InvalidArgumentError(where + "name must yield a non-empty string, got " +
                                (name->is_string() ? std::string("\"\"") : name->type_name()));
  }
  Json event = {{"name", *name}, {"data", Json::object()}};

  if (data_ != nullptr) {
    StatusOr<Json> data = data_->Render(context);
    if (!data.ok()) return data.status().WithContext(where + "data");
    if (!data->is_null() && !data->is_object()) {
      return InvalidArgumentError(where + "data must yield an object, got " + data->type_name());
    }
    if (data->is_object()) event["data"] = *data;
  } else {
    event["data"] = body.is_object() ? body : Json{{"body", body}};
  }

  if (id_ != nullptr) {
    StatusOr<Json> id = id_->Render(context);
    if (!id.ok()) return id.status().WithContext(where + "id");
    if (id->is_string()) {
      if (!id->get_ref<const std::string&>().empty()) event["id"] = *id;
    } else if (id->is_number()) {
      event["id"] = id->dump();
    } else if (!id->is_null()) {
      return InvalidArgumentError(where + "id must yield a string, got " + id->type_name());
    }
  }
  return event;
}

}  // namespace flowrun

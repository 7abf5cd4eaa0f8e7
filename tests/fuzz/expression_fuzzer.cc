// libFuzzer target for the expression language: parses the input as an Expression and as a
// Template, and evaluates whatever parses against a small fixed scope with deterministic hooks.
// Any crash, sanitizer report, hang or uncaught exception is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "flow/expr/expression.h"
#include "flow/expr/template.h"

namespace {

const flowrun::Json& Scope() {
  static const flowrun::Json* scope = new flowrun::Json(flowrun::Json::parse(R"({
    "event": {"id": "e1", "name": "purchase/x", "ts": "2024-03-01T09:30:00Z",
              "data": {"orderId": 42, "email": "A@B.c", "items": [1, 2.5, "x", null],
                       "user": {"first-name": "Ada"}, "trial_ends_at": "2024-03-10T00:00:00Z",
                       "big": 9223372036854775807, "neg": -9223372036854775808}},
    "steps": {"get-user": {"output": {"body": {"email": "u@x.io"}}, "status": "succeeded"}},
    "vars": {"n": 3, "s": "text", "list": [{"k": 1}, {"k": 2}], "pattern": "^a+$"},
    "async": {"data": {"orderId": 42}}
  })"));
  return *scope;
}

flowrun::expr::EvalContext Context() {
  return {&Scope(), [] { return flowrun::FromUnixMillis(1709285400000); },
          [] { return std::string("00000000-0000-4000-8000-000000000000"); }};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto expression = flowrun::expr::Expression::Parse(input);
  if (auto* e = std::get_if<flowrun::expr::Expression>(&expression)) {
    (void)e->Evaluate(Context());
    (void)e->EvaluateCondition(Context());
    (void)e->is_non_deterministic();
    if (auto eq = e->AsAsyncEquality()) {
      (void)flowrun::expr::Expression::EvaluateNode(*eq->other_side, Context());
    }
  }
  auto text = flowrun::expr::Template::Parse(input);
  if (auto* t = std::get_if<flowrun::expr::Template>(&text)) (void)t->Render(Context());
  return 0;
}

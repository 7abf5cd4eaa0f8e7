#include "flow/expr/template.h"

#include <utility>

#include "flow/expr/expr_value.h"
#include "flow/expr/limits.h"

namespace flowrun::expr {
namespace {

constexpr std::string_view kOpen = "${{";
constexpr std::string_view kClose = "}}";

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsBlank(std::string_view s) {
  for (char c : s) {
    if (!IsSpace(c)) return false;
  }
  return true;
}

// The offset of the "}}" closing an expression that starts at `from`, skipping string literals
// so that `${{ "}}" }}` works; npos when there is none.
size_t FindClose(std::string_view text, size_t from) {
  char quote = 0;
  for (size_t i = from; i < text.size(); ++i) {
    char c = text[i];
    if (quote != 0) {
      if (c == '\\') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (text.compare(i, kClose.size(), kClose) == 0) {
      return i;
    }
  }
  return std::string_view::npos;
}

std::string Abbreviate(std::string_view source) {
  constexpr size_t kMax = 80;
  if (source.size() <= kMax) return std::string(source);
  return std::string(source.substr(0, kMax)) + "...";
}

std::string EscapePointerToken(std::string_view token) {
  std::string out;
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::variant<Template, ParseError> Template::Parse(std::string_view text) {
  Template t;
  std::string literal;
  size_t pos = 0;
  while (true) {
    size_t open = text.find(kOpen, pos);
    if (open == std::string_view::npos) break;
    if (open > 0 && text[open - 1] == '$') {
      // "$${{" is an escaped, literal "${{".
      literal.append(text.substr(pos, open - 1 - pos));
      literal.append(kOpen);
      pos = open + kOpen.size();
      continue;
    }
    literal.append(text.substr(pos, open - pos));
    size_t body = open + kOpen.size();
    size_t close = FindClose(text, body);
    if (close == std::string_view::npos) {
      return ParseError{"unterminated \"${{\": missing \"}}\"", open};
    }
    size_t first = body;
    while (first < close && IsSpace(text[first])) ++first;
    size_t last = close;
    while (last > first && IsSpace(text[last - 1])) --last;
    if (first == last) return ParseError{"empty expression in \"${{ }}\"", open};
    auto parsed = Expression::Parse(text.substr(first, last - first));
    if (auto* error = std::get_if<ParseError>(&parsed)) {
      ParseError shifted = *error;
      shifted.offset += first;
      return shifted;
    }
    t.parts_.push_back(std::move(literal));
    literal.clear();
    t.expressions_.push_back({std::move(std::get<Expression>(parsed)), first});
    pos = close + kClose.size();
  }
  literal.append(text.substr(pos));
  t.parts_.push_back(std::move(literal));
  t.whole_value_ = t.expressions_.size() == 1 && IsBlank(t.parts_[0]) && IsBlank(t.parts_[1]);
  return t;
}

bool Template::is_whole_value() const { return whole_value_; }

StatusOr<Json> Template::Render(const EvalContext& context) const {
  if (expressions_.empty()) return Json(parts_.empty() ? std::string() : parts_[0]);
  auto evaluate = [&](const Embedded& e) -> StatusOr<Json> {
    StatusOr<Json> value = e.expression.Evaluate(context);
    if (!value.ok()) {
      return value.status().WithContext("${{ " + Abbreviate(e.expression.source()) + " }}");
    }
    return value;
  };
  if (whole_value_) return evaluate(expressions_[0]);
  std::string out = parts_[0];
  for (size_t i = 0; i < expressions_.size(); ++i) {
    ASSIGN_OR_RETURN(Json value, evaluate(expressions_[i]));
    out += RenderText(Value(std::move(value)));
    out += parts_[i + 1];
    if (out.size() > kMaxStringBytes) {
      return InvalidArgumentError("the rendered text would be longer than 16 MiB");
    }
  }
  return Json(std::move(out));
}

struct ValueTemplate::Impl {
  struct Entry {
    std::string pointer;
    Json::json_pointer json_pointer;
    Template text;
  };
  Json value;
  std::vector<Entry> entries;  // every string that holds "${{", in document order
};

ValueTemplate::ValueTemplate() : impl_(std::make_unique<Impl>()) {}
ValueTemplate::ValueTemplate(ValueTemplate&&) noexcept = default;
ValueTemplate& ValueTemplate::operator=(ValueTemplate&&) noexcept = default;
ValueTemplate::~ValueTemplate() = default;

std::variant<ValueTemplate, ValueTemplate::CompileError> ValueTemplate::Compile(const Json& value) {
  ValueTemplate result;
  result.impl_->value = value;
  // An explicit stack rather than recursion: flow documents may nest deeply.
  struct Pending {
    const Json* node;
    std::string pointer;
  };
  std::vector<Pending> stack = {{&value, ""}};
  std::vector<Impl::Entry> entries;
  while (!stack.empty()) {
    Pending item = std::move(stack.back());
    stack.pop_back();
    const Json& node = *item.node;
    if (node.is_string()) {
      const std::string& s = node.get_ref<const std::string&>();
      if (s.find(kOpen) == std::string::npos) continue;
      auto parsed = Template::Parse(s);
      if (auto* error = std::get_if<ParseError>(&parsed)) {
        return CompileError{*error, item.pointer};
      }
      Json::json_pointer json_pointer(item.pointer);
      entries.push_back(
          {item.pointer, std::move(json_pointer), std::move(std::get<Template>(parsed))});
    } else if (node.is_object()) {
      // Pushed in reverse so that entries come out in document order.
      for (auto it = node.rbegin(); it != node.rend(); ++it) {
        stack.push_back({&*it, item.pointer + "/" + EscapePointerToken(it.key())});
      }
    } else if (node.is_array()) {
      for (size_t i = node.size(); i-- > 0;) {
        stack.push_back({&node[i], item.pointer + "/" + std::to_string(i)});
      }
    }
  }
  result.impl_->entries = std::move(entries);
  return result;
}

bool ValueTemplate::is_literal() const {
  for (const Impl::Entry& entry : impl_->entries) {
    if (!entry.text.is_literal()) return false;
  }
  return true;
}

StatusOr<Json> ValueTemplate::Render(const EvalContext& context) const {
  Json out = impl_->value;
  for (const Impl::Entry& entry : impl_->entries) {
    ASSIGN_OR_RETURN(Json rendered, entry.text.Render(context));
    if (entry.pointer.empty()) {
      out = std::move(rendered);
    } else {
      out[entry.json_pointer] = std::move(rendered);
    }
  }
  return out;
}

std::vector<ValueTemplate::Site> ValueTemplate::Sites() const {
  std::vector<Site> sites;
  for (const Impl::Entry& entry : impl_->entries) {
    for (const Template::Embedded& embedded : entry.text.expressions()) {
      sites.push_back({entry.pointer, &embedded});
    }
  }
  return sites;
}

}  // namespace flowrun::expr

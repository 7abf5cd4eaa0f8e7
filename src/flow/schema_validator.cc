#include "flow/schema_validator.h"

// valijson reports schema errors by throwing only when this is set; otherwise it aborts. This is
// the only file that includes valijson.
#define VALIJSON_USE_EXCEPTIONS 1

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "common/embedded_files.h"
#include "common/suggest.h"
#include "flow/source.h"

namespace flowrun {

struct SchemaValidator::Impl {
  Json schema_json;
  valijson::Schema schema;
};

namespace {

using Tokens = std::vector<std::string>;

// Nesting of $ref, allOf and conditionals followed when looking up a schema node; deeper means a
// reference cycle that never reaches a real node.
constexpr int kMaxExpandDepth = 32;
// Longest excerpt of an offending value quoted in a message.
constexpr size_t kMaxQuotedChars = 40;
// Objects with at most this many keys list them all when an unknown key has no close match.
constexpr size_t kMaxListedKeys = 12;

std::string ToPointer(const Tokens& tokens) {
  std::string pointer;
  for (const std::string& token : tokens) pointer = JsonPointerAppend(pointer, token);
  return pointer;
}

// valijson's context is {"<root>", "[steps]", "[0]", "[iff]"}.
Tokens ContextToTokens(const std::vector<std::string>& context) {
  Tokens tokens;
  for (size_t i = 1; i < context.size(); ++i) {
    const std::string& part = context[i];
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']') {
      tokens.push_back(part.substr(1, part.size() - 2));
    } else {
      tokens.push_back(part);
    }
  }
  return tokens;
}

std::optional<size_t> ParseIndex(const std::string& token) {
  if (token.empty() || token.size() > 18) return std::nullopt;
  size_t index = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + static_cast<size_t>(c - '0');
  }
  return index;
}

const Json* ValueAt(const Json& document, const Tokens& tokens, size_t count) {
  const Json* value = &document;
  for (size_t i = 0; i < count && i < tokens.size(); ++i) {
    if (value->is_object()) {
      auto it = value->find(tokens[i]);
      if (it == value->end()) return nullptr;
      value = &*it;
    } else if (value->is_array()) {
      auto index = ParseIndex(tokens[i]);
      if (!index || *index >= value->size()) return nullptr;
      value = &(*value)[*index];
    } else {
      return nullptr;
    }
  }
  return value;
}

std::string StringOr(const Json& node, const char* key, std::string fallback = "") {
  auto it = node.find(key);
  if (it == node.end() || !it->is_string()) return fallback;
  return it->get<std::string>();
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// Renders a value for a message: strings quoted and cut short, other values as compact JSON.
std::string Quote(const Json& value) {
  Json shown = value;
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    if (text.size() > kMaxQuotedChars) {
      size_t cut = kMaxQuotedChars;
      while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
      shown = text.substr(0, cut) + "…";
    }
  } else if (value.is_structured()) {
    return value.is_object() ? "a mapping" : "a list";
  }
  return shown.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string JsonTypeName(const std::string& schema_type) {
  if (schema_type == "string") return "a string";
  if (schema_type == "integer") return "an integer";
  if (schema_type == "number") return "a number";
  if (schema_type == "boolean") return "a boolean";
  if (schema_type == "object") return "a mapping";
  if (schema_type == "array") return "a list";
  if (schema_type == "null") return "null";
  return schema_type;
}

std::string DescribeValue(const Json& value) {
  switch (value.type()) {
    case Json::value_t::string:
      return "a string";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "an integer";
    case Json::value_t::number_float:
      return "a number";
    case Json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case Json::value_t::object:
      return "a mapping";
    case Json::value_t::array:
      return "a list";
    default:
      return "an empty value";
  }
}

bool ValueHasType(const Json& value, const std::string& type) {
  if (type == "string") return value.is_string();
  if (type == "integer") return value.is_number_integer();
  if (type == "number") return value.is_number();
  if (type == "boolean") return value.is_boolean();
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "null") return value.is_null();
  return false;
}

std::vector<std::string> SchemaTypes(const Json& node) {
  std::vector<std::string> types;
  auto it = node.find("type");
  if (it == node.end()) return types;
  if (it->is_string()) types.push_back(it->get<std::string>());
  if (it->is_array()) {
    for (const Json& t : *it) {
      if (t.is_string()) types.push_back(t.get<std::string>());
    }
  }
  return types;
}

std::string JoinAlternatives(const std::vector<std::string>& words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += (i + 1 == words.size()) ? " or " : ", ";
    out += words[i];
  }
  return out;
}

std::string JoinList(const std::vector<std::string>& words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += ", ";
    out += words[i];
  }
  return out;
}

std::string NumberText(const Json& number) { return number.dump(); }

// Finds the schema nodes that apply at a location of the document being validated.
class SchemaLookup {
 public:
  SchemaLookup(const Json& schema, const Json& document) : schema_(schema), document_(document) {}

  // Every schema node that applies to the value at `tokens`: $refs resolved, with the members of
  // allOf/anyOf/oneOf and the if/then/else branch that the document's value selects.
  std::vector<const Json*> NodesAt(const Tokens& tokens) const {
    std::vector<const Json*> nodes;
    Expand(schema_, &document_, nodes, 0);
    for (size_t i = 0; i < tokens.size() && !nodes.empty(); ++i) {
      const Json* parent = ValueAt(document_, tokens, i);
      const Json* value = ValueAt(document_, tokens, i + 1);
      std::vector<const Json*> next;
      for (const Json* node : nodes) Child(*node, parent, value, tokens[i], next);
      nodes = std::move(next);
    }
    return nodes;
  }

  // Whether `value` is valid against `subschema`, which may refer to the root's definitions.
  bool Matches(const Json& subschema, const Json& value) const {
    if (subschema.is_boolean()) return subschema.get<bool>();
    if (!subschema.is_object()) return false;
    try {
      auto cached = compiled_.find(&subschema);
      if (cached == compiled_.end()) {
        Json standalone = subschema;
        auto definitions = schema_.find("definitions");
        if (definitions != schema_.end() && !standalone.contains("definitions") &&
            subschema.dump().find("\"$ref\"") != std::string::npos) {
          standalone["definitions"] = *definitions;
        }
        auto compiled = std::make_unique<valijson::Schema>();
        valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
        valijson::adapters::NlohmannJsonAdapter schema_adapter(standalone);
        parser.populateSchema(schema_adapter, *compiled);
        cached = compiled_.emplace(&subschema, std::move(compiled)).first;
      }
      valijson::Validator validator;
      valijson::adapters::NlohmannJsonAdapter value_adapter(value);
      return validator.validate(*cached->second, value_adapter, nullptr);
    } catch (const std::exception&) {
      return true;  // cannot tell; treat the subschema as applying rather than lose a message
    }
  }

  // The property names that `nodes` define, each once (in key order: Json sorts object keys).
  static std::vector<std::string> PropertyNames(const std::vector<const Json*>& nodes) {
    std::vector<std::string> names;
    for (const Json* node : nodes) {
      auto properties = node->find("properties");
      if (properties == node->end() || !properties->is_object()) continue;
      for (const auto& [name, unused] : properties->items()) {
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
      }
    }
    return names;
  }

  // Whether one of `nodes` forbids properties it does not list (additionalProperties: false).
  static bool ClosesProperties(const std::vector<const Json*>& nodes) {
    for (const Json* node : nodes) {
      auto additional = node->find("additionalProperties");
      if (additional != node->end() && additional->is_boolean() && !additional->get<bool>()) {
        return true;
      }
    }
    return false;
  }

  // The schema nodes of property `name` of `node`, for "did you mean to put it under…" hints.
  std::vector<const Json*> PropertyNodes(const Json& node, const std::string& name) const {
    std::vector<const Json*> out;
    auto properties = node.find("properties");
    if (properties == node.end() || !properties->is_object()) return out;
    auto it = properties->find(name);
    if (it != properties->end()) Expand(*it, nullptr, out, 0);
    return out;
  }

  // How messages name the object at `tokens`: `step "get-user"`, `http of step "get-user"`,
  // `trigger of flow "onboarding"`, or "" for free-form values.
  std::string Where(const Tokens& tokens) const {
    const std::string kind = Kind(tokens, tokens.size());
    if (kind.empty()) return "";
    if (auto id = IdAt(tokens, tokens.size())) return kind + " \"" + *id + "\"";
    for (size_t length = tokens.size(); length-- > 0;) {
      auto id = IdAt(tokens, length);
      if (!id) continue;
      const std::string outer = Kind(tokens, length);
      if (!outer.empty()) return kind + " of " + outer + " \"" + *id + "\"";
    }
    return kind;
  }

  const Json& document() const { return document_; }
  const Json& schema() const { return schema_; }

 private:
  const Json* Resolve(const std::string& ref) const {
    if (ref.empty() || ref[0] != '#') return nullptr;
    try {
      const Json::json_pointer pointer(ref.substr(1));
      if (!schema_.contains(pointer)) return nullptr;
      return &schema_.at(pointer);
    } catch (const std::exception&) {
      return nullptr;
    }
  }

  // Adds `node` and the nodes it brings along for `value` (the instance at that location, or
  // nullptr when absent): the target of $ref, the members of allOf/anyOf/oneOf, and the branch of
  // if/then/else that `value` selects (both when there is no value).
  void Expand(const Json& node, const Json* value, std::vector<const Json*>& out, int depth) const {
    if (!node.is_object() || depth > kMaxExpandDepth) return;
    if (auto ref = node.find("$ref"); ref != node.end() && ref->is_string()) {
      // Draft-07: keywords beside $ref are ignored.
      if (const Json* target = Resolve(ref->get<std::string>())) {
        Expand(*target, value, out, depth + 1);
      }
      return;
    }
    if (std::find(out.begin(), out.end(), &node) != out.end()) return;
    out.push_back(&node);
    for (const char* key : {"allOf", "anyOf", "oneOf"}) {
      auto members = node.find(key);
      if (members == node.end() || !members->is_array()) continue;
      for (const Json& member : *members) Expand(member, value, out, depth + 1);
    }
    auto condition = node.find("if");
    if (condition == node.end()) return;
    const bool holds = value != nullptr && Matches(*condition, *value);
    for (const char* key : {"then", "else"}) {
      const bool selected = value == nullptr || holds == (std::string_view(key) == "then");
      if (!selected) continue;
      if (auto branch = node.find(key); branch != node.end()) {
        Expand(*branch, value, out, depth + 1);
      }
    }
  }

  void Child(const Json& node, const Json* parent, const Json* value, const std::string& token,
             std::vector<const Json*>& out) const {
    if (parent == nullptr || parent->is_object()) {
      auto properties = node.find("properties");
      if (properties != node.end() && properties->is_object()) {
        if (auto it = properties->find(token); it != properties->end()) {
          Expand(*it, value, out, 0);
          return;
        }
      }
      auto additional = node.find("additionalProperties");
      if (additional != node.end() && additional->is_object()) {
        Expand(*additional, value, out, 0);
      }
      return;
    }
    if (parent->is_array()) {
      auto items = node.find("items");
      if (items == node.end()) return;
      if (items->is_object()) {
        Expand(*items, value, out, 0);
      } else if (items->is_array()) {
        auto index = ParseIndex(token);
        if (index && *index < items->size()) Expand((*items)[*index], value, out, 0);
      }
    }
  }

  std::string Kind(const Tokens& tokens, size_t length) const {
    Tokens prefix(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(length));
    for (const Json* node : NodesAt(prefix)) {
      std::string title = StringOr(*node, "title");
      if (!title.empty()) return title;
    }
    return "";
  }

  // The id of the object at the location when its schema requires one (a step or a flow; the
  // optional `id` of an event to send is data, not a name).
  std::optional<std::string> IdAt(const Tokens& tokens, size_t length) const {
    Tokens prefix(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(length));
    const auto nodes = NodesAt(prefix);
    const bool identified = std::any_of(nodes.begin(), nodes.end(), [](const Json* node) {
      auto required = node->find("required");
      return required != node->end() && required->is_array() &&
             std::find(required->begin(), required->end(), Json("id")) != required->end();
    });
    if (!identified) return std::nullopt;
    const Json* value = ValueAt(document_, tokens, length);
    if (value == nullptr || !value->is_object()) return std::nullopt;
    auto id = value->find("id");
    if (id == value->end() || !id->is_string()) return std::nullopt;
    std::string text = id->get<std::string>();
    if (text.size() > kMaxQuotedChars) return std::nullopt;
    return text;
  }

  const Json& schema_;
  const Json& document_;
  // Subschemas compiled for Matches, by address. A lookup lives for one Validate call.
  mutable std::map<const Json*, std::unique_ptr<valijson::Schema>> compiled_;
};

// A violation as first found, before duplicates and cascades are removed.
struct Candidate {
  Tokens tokens;
  SchemaViolation violation;
  int priority = 0;  // among `schema` violations of one value, the lowest wins
};

// Precedence among several `schema` violations of the same value: the most telling first.
enum Priority {
  kPriorityEnum = 1,
  kPriorityLength = 2,
  kPriorityNot = 3,
  kPriorityPattern = 4,
  kPriorityRange = 5,
  kPriorityOther = 9,
};

class ViolationBuilder {
 public:
  ViolationBuilder(const SchemaLookup& lookup, std::vector<Candidate>& out)
      : lookup_(lookup), out_(out) {}

  void Add(const Tokens& tokens, const std::string& description) {
    if (IsCascade(description)) return;
    if (StartsWith(description, "Object contains a property that could not be validated")) {
      UnknownKeys(tokens);
    } else if (StartsWith(description, "Missing required property '")) {
      const size_t start = std::string_view("Missing required property '").size();
      const size_t end = description.rfind('\'');
      RequiredKey(tokens, description.substr(start, end > start ? end - start : 0));
    } else if (StartsWith(description, "Value type not permitted")) {
      Type(tokens);
    } else if (StartsWith(description, "Failed to match against any enum values")) {
      Enum(tokens);
    } else if (StartsWith(description, "Failed to match regex")) {
      Pattern(tokens);
    } else if (StartsWith(description, "Target should not validate")) {
      Not(tokens);
    } else if (StartsWith(description, "Expected number greater than or equal to")) {
      Bound(tokens, "minimum", "must be at least ");
    } else if (StartsWith(description, "Expected number greater than")) {
      Bound(tokens, "exclusiveMinimum", "must be greater than ");
    } else if (StartsWith(description, "Expected number less than or equal to")) {
      Bound(tokens, "maximum", "must be at most ");
    } else if (StartsWith(description, "Expected number less than")) {
      Bound(tokens, "exclusiveMaximum", "must be less than ");
    } else if (StartsWith(description, "String should be no fewer than")) {
      Size(tokens, "minLength", "must not be empty", "must be at least %s characters long");
    } else if (StartsWith(description, "String should be no more than")) {
      Size(tokens, "maxLength", "", "must be at most %s characters long");
    } else if (StartsWith(description, "Array should contain no fewer than")) {
      Size(tokens, "minItems", "must not be an empty list", "must have at least %s items");
    } else if (StartsWith(description, "Array should contain no more than")) {
      Size(tokens, "maxItems", "", "must have at most %s items");
    } else if (StartsWith(description, "Object should have no fewer than")) {
      Size(tokens, "minProperties", "must not be empty", "must have at least %s entries");
    } else if (StartsWith(description, "Object should have no more than")) {
      Size(tokens, "maxProperties", "", "must have at most %s entries");
    } else {
      Other(tokens, description);
    }
  }

 private:
  // valijson repeats a nested failure at every enclosing level with these messages; the nested
  // failure itself is reported separately.
  static bool IsCascade(const std::string& description) {
    static const char* const kCascades[] = {
        "Failed to validate against schema associated with property name",
        "Failed to validate against schema associated with pattern",
        "Failed to validate item #",
        "Cannot validate item #",
        "Failed to validate against any schemas allowed by anyOf",
        "Failed to validate against a conditional schema",
        "Failed to validate against additional properties schema",
        "Failed to validate against dependent schema",
        "Failed to validate against any child schemas allowed by oneOf",
        "Failed to validate against child schema #",
    };
    for (const char* cascade : kCascades) {
      if (StartsWith(description, cascade)) return true;
    }
    return false;
  }

  void Push(const Tokens& tokens, bool at_key, std::string message, std::string rule,
            std::string hint = "", int priority = 0) {
    out_.push_back(
        {tokens,
         {ToPointer(tokens), at_key, std::move(message), std::move(rule), std::move(hint)},
         priority});
  }

  // The name of the offending value in messages: its key, or "value" inside a list.
  std::string NameOf(const Tokens& tokens) const {
    if (tokens.empty()) return "document";
    const Json* parent = ValueAt(lookup_.document(), tokens, tokens.size() - 1);
    if (parent != nullptr && parent->is_object()) return tokens.back();
    return "value";
  }

  const Json* Value(const Tokens& tokens) const {
    return ValueAt(lookup_.document(), tokens, tokens.size());
  }

  static std::string In(const std::string& where) { return where.empty() ? "" : " in " + where; }

  void UnknownKeys(const Tokens& tokens) {
    const Json* object = Value(tokens);
    if (object == nullptr || !object->is_object()) return;
    const auto nodes = lookup_.NodesAt(tokens);
    if (!SchemaLookup::ClosesProperties(nodes)) return;
    const auto allowed = SchemaLookup::PropertyNames(nodes);
    const std::string where = In(lookup_.Where(tokens));
    for (const auto& [key, unused] : object->items()) {
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      Tokens key_tokens = tokens;
      key_tokens.push_back(key);
      Push(key_tokens, true, "unknown key " + Quote(key) + where, "unknown-key",
           UnknownKeyHint(key, nodes, allowed));
    }
  }

  std::string UnknownKeyHint(const std::string& key, const std::vector<const Json*>& nodes,
                             const std::vector<std::string>& allowed) const {
    if (auto match = ClosestMatch(key, allowed)) return "did you mean " + Quote(*match) + "?";
    // A key written one level too high, such as `url` beside `http` instead of under it.
    for (const Json* node : nodes) {
      for (const std::string& name : allowed) {
        const auto children = lookup_.PropertyNodes(*node, name);
        const auto child_keys = SchemaLookup::PropertyNames(children);
        if (std::find(child_keys.begin(), child_keys.end(), key) != child_keys.end()) {
          return "did you mean to put " + Quote(key) + " under " + Quote(name) + "?";
        }
      }
    }
    if (!allowed.empty() && allowed.size() <= kMaxListedKeys) {
      return "expected one of: " + JoinList(allowed);
    }
    return "";
  }

  void RequiredKey(const Tokens& tokens, const std::string& key) {
    Push(tokens, false, "missing required key " + Quote(key) + In(lookup_.Where(tokens)),
         "required-key");
  }

  void Type(const Tokens& tokens) {
    const Json* value = Value(tokens);
    if (value == nullptr) return;
    const auto nodes = lookup_.NodesAt(tokens);
    const auto accepts = [&](const Json* node) {
      const auto types = SchemaTypes(*node);
      return std::any_of(types.begin(), types.end(),
                         [&](const std::string& t) { return ValueHasType(*value, t); });
    };
    // A value of a type that one alternative of a oneOf/anyOf takes (a duration or a mapping) is
    // not a type error: that alternative's own rules say what is wrong with it.
    if (std::any_of(nodes.begin(), nodes.end(), accepts)) return;
    for (const Json* node : nodes) {
      const auto types = SchemaTypes(*node);
      if (types.empty()) continue;
      std::vector<std::string> expected;
      for (const auto& t : types) expected.push_back(JsonTypeName(t));
      std::string hint;
      const bool wants_string = std::find(types.begin(), types.end(), "string") != types.end();
      const bool wants_list = std::find(types.begin(), types.end(), "array") != types.end();
      if (!StringOr(*node, "patternErrorMessage").empty() && !value->is_string()) {
        hint = StringOr(*node, "patternErrorMessage");
      } else if (wants_list && value->is_object()) {
        hint = "start each list item with \"- \"";
      } else if (wants_string && (value->is_number() || value->is_boolean())) {
        hint = "quote the value to make it a string";
      }
      Push(tokens, false,
           "expected " + JoinAlternatives(expected) + ", got " + DescribeValue(*value), "type",
           hint);
      return;
    }
  }

  void Enum(const Tokens& tokens) {
    const Json* value = Value(tokens);
    if (value == nullptr) return;
    for (const Json* node : lookup_.NodesAt(tokens)) {
      auto values = node->find("enum");
      if (values == node->end() || !values->is_array()) continue;
      if (std::find(values->begin(), values->end(), *value) != values->end()) continue;
      std::vector<std::string> shown;
      std::vector<std::string> strings;
      std::set<std::string> folded;
      for (const Json& allowed : *values) {
        std::string text = allowed.is_string() ? allowed.get<std::string>() : allowed.dump();
        std::string lower = text;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        // Case variants accepted for convenience (GET and get) are listed once.
        if (!folded.insert(lower).second) continue;
        shown.push_back(text);
        if (allowed.is_string()) strings.push_back(text);
      }
      std::string hint;
      if (value->is_string()) {
        if (auto match = ClosestMatch(value->get<std::string>(), strings)) {
          hint = "did you mean " + Quote(*match) + "?";
        }
      }
      Push(tokens, false,
           "invalid " + NameOf(tokens) + " " + Quote(*value) + ": expected one of " +
               JoinList(shown),
           "schema", hint, kPriorityEnum);
      return;
    }
  }

  void Pattern(const Tokens& tokens) {
    const Json* value = Value(tokens);
    if (value == nullptr || !value->is_string()) return;
    for (const Json* node : lookup_.NodesAt(tokens)) {
      const std::string pattern = StringOr(*node, "pattern");
      if (pattern.empty()) continue;
      std::string expectation = StringOr(*node, "patternErrorMessage");
      if (expectation.empty()) expectation = "expected text matching " + pattern;
      Push(tokens, false, "invalid " + NameOf(tokens) + " " + Quote(*value) + ": " + expectation,
           "schema", "", kPriorityPattern);
      return;
    }
  }

  // A `not` fails when the value matches its subschema. Several nodes at one location may carry
  // a `not` (each with its own errorMessage), so each is evaluated to find the ones that failed.
  void Not(const Tokens& tokens) {
    const Json* value = Value(tokens);
    if (value == nullptr) return;
    bool reported = false;
    for (const Json* node : lookup_.NodesAt(tokens)) {
      auto negated = node->find("not");
      if (negated == node->end()) continue;
      if (!lookup_.Matches(*negated, *value)) continue;
      // `not: {}` forbids the key outright, so the caret belongs on the key.
      const bool forbids_key =
          negated->is_object() && negated->empty() && !tokens.empty() && NameOf(tokens) != "value";
      std::string message = StringOr(*node, "errorMessage");
      if (message.empty()) {
        message = forbids_key ? "key " + Quote(tokens.back()) + " is not allowed here"
                              : "invalid " + NameOf(tokens) + " " + Quote(*value);
      }
      Push(tokens, forbids_key, message, "schema", "", kPriorityNot);
      reported = true;
    }
    if (!reported) {
      Push(tokens, false, "invalid " + NameOf(tokens) + " " + Quote(*value), "schema", "",
           kPriorityNot);
    }
  }

  void Bound(const Tokens& tokens, const char* keyword, const std::string& phrase) {
    const Json* value = Value(tokens);
    if (value == nullptr) return;
    for (const Json* node : lookup_.NodesAt(tokens)) {
      auto bound = node->find(keyword);
      if (bound == node->end() || !bound->is_number()) continue;
      Push(tokens, false,
           NameOf(tokens) + " " + phrase + NumberText(*bound) + ", got " + value->dump(), "schema",
           "", kPriorityRange);
      return;
    }
    Push(tokens, false, NameOf(tokens) + " is out of range", "schema", "", kPriorityRange);
  }

  void Size(const Tokens& tokens, const char* keyword, const std::string& when_one,
            const std::string& phrase) {
    std::string limit = "?";
    for (const Json* node : lookup_.NodesAt(tokens)) {
      auto bound = node->find(keyword);
      if (bound != node->end() && bound->is_number_integer()) {
        limit = NumberText(*bound);
        break;
      }
    }
    std::string message;
    if (limit == "1" && !when_one.empty()) {
      message = when_one;
    } else {
      message = phrase;
      message.replace(message.find("%s"), 2, limit);
    }
    Push(tokens, false, NameOf(tokens) + " " + message, "schema", "", kPriorityLength);
  }

  void Other(const Tokens& tokens, std::string description) {
    while (!description.empty() && (description.back() == '.' || description.back() == ' ')) {
      description.pop_back();
    }
    if (!description.empty()) {
      description[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(description[0])));
    }
    Push(tokens, false, NameOf(tokens) + ": " + description, "schema", "", kPriorityOther);
  }

  const SchemaLookup& lookup_;
  std::vector<Candidate>& out_;
};

// Orders pointers token by token, array indices numerically, so that /steps/2 precedes /steps/10.
bool TokensBefore(const Tokens& a, const Tokens& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] == b[i]) continue;
    auto x = ParseIndex(a[i]);
    auto y = ParseIndex(b[i]);
    if (x && y) return *x < *y;
    return a[i] < b[i];
  }
  return a.size() < b.size();
}

std::vector<SchemaViolation> Reduce(std::vector<Candidate> candidates) {
  // A value of the wrong type makes every other complaint about it noise.
  std::set<std::string> mistyped;
  for (const auto& c : candidates) {
    if (c.violation.rule == "type") mistyped.insert(c.violation.pointer);
  }
  // Among the other complaints about one value, keep the most telling.
  std::map<std::string, int> best_priority;
  for (const auto& c : candidates) {
    if (c.violation.rule != "schema" || c.violation.points_at_key) continue;
    auto [it, inserted] = best_priority.emplace(c.violation.pointer, c.priority);
    if (!inserted) it->second = std::min(it->second, c.priority);
  }
  std::vector<Candidate> kept;
  std::set<std::tuple<std::string, bool, std::string, std::string>> seen;
  for (auto& c : candidates) {
    const SchemaViolation& v = c.violation;
    if (!v.points_at_key && v.rule != "type" && mistyped.count(v.pointer)) continue;
    if (v.rule == "schema" && !v.points_at_key && c.priority != best_priority[v.pointer]) continue;
    if (!seen.emplace(v.pointer, v.points_at_key, v.rule, v.message).second) continue;
    kept.push_back(std::move(c));
  }
  std::stable_sort(kept.begin(), kept.end(), [](const Candidate& a, const Candidate& b) {
    if (a.tokens != b.tokens) return TokensBefore(a.tokens, b.tokens);
    return a.violation.points_at_key && !b.violation.points_at_key;
  });
  std::vector<SchemaViolation> out;
  out.reserve(kept.size());
  for (auto& c : kept) out.push_back(std::move(c.violation));
  return out;
}

const SchemaValidator* BuildEmbedded(const char* path) {
  auto text = EmbeddedFile(path);
  if (!text) {
    std::fprintf(stderr, "flowrun: %s is not embedded in this binary\n", path);
    std::abort();
  }
  auto validator = SchemaValidator::Create(*text);
  if (!validator.ok()) {
    std::fprintf(stderr, "flowrun: embedded %s is unusable: %s\n", path,
                 validator.status().message().c_str());
    std::abort();
  }
  return new SchemaValidator(std::move(*validator));
}

}  // namespace

StatusOr<SchemaValidator> SchemaValidator::Create(std::string_view schema_text) {
  auto impl = std::make_shared<Impl>();
  try {
    impl->schema_json = Json::parse(schema_text);
  } catch (const Json::exception& e) {
    return InvalidArgumentError(std::string("schema is not valid JSON: ") + e.what());
  }
  if (!impl->schema_json.is_object()) {
    return InvalidArgumentError("schema must be a JSON object");
  }
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(impl->schema_json);
    parser.populateSchema(adapter, impl->schema);
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("schema is not a usable draft-07 schema: ") + e.what());
  }
  return SchemaValidator(std::move(impl));
}

const SchemaValidator& SchemaValidator::ForFlows() {
  static const SchemaValidator* const validator = BuildEmbedded("schemas/flow.schema.json");
  return *validator;
}

const SchemaValidator& SchemaValidator::ForConfig() {
  static const SchemaValidator* const validator = BuildEmbedded("schemas/config.schema.json");
  return *validator;
}

const SchemaValidator& SchemaValidator::ForTests() {
  static const SchemaValidator* const validator = BuildEmbedded("schemas/test.schema.json");
  return *validator;
}

const Json& SchemaValidator::schema() const { return impl_->schema_json; }

std::vector<SchemaViolation> SchemaValidator::Validate(const Json& document) const {
  valijson::ValidationResults results;
  bool valid = false;
  try {
    // A Validator caches compiled patterns (by their text, whatever the schema) and is not
    // thread-safe, so each thread keeps its own.
    thread_local valijson::Validator validator;
    valijson::adapters::NlohmannJsonAdapter adapter(document);
    valid = validator.validate(impl_->schema, adapter, &results);
  } catch (const std::exception& e) {
    return {{"", false, std::string("the schema check failed: ") + e.what(), "schema", ""}};
  }
  if (valid) return {};

  SchemaLookup lookup(impl_->schema_json, document);
  std::vector<Candidate> candidates;
  ViolationBuilder builder(lookup, candidates);
  std::string first_description;
  for (const auto& error : results) {
    if (first_description.empty()) first_description = error.description;
    builder.Add(ContextToTokens(error.context), error.description);
  }
  auto violations = Reduce(std::move(candidates));
  if (violations.empty()) {
    // Never call an invalid document valid, even if no message could be made specific.
    violations.push_back({"", false, "the document does not match the schema", "schema", ""});
  }
  return violations;
}

}  // namespace flowrun

#include "flow/expr/expr_value.h"

#include <cstdint>
#include <limits>

namespace flowrun::expr {

Value::Kind Value::kind() const {
  if (std::holds_alternative<TimePoint>(data_)) return Kind::kTimestamp;
  if (std::holds_alternative<Duration>(data_)) return Kind::kDuration;
  return Kind::kJson;
}

const Json& Value::json() const {
  if (const Json* const* borrowed = std::get_if<const Json*>(&data_)) return **borrowed;
  return std::get<Json>(data_);
}

bool Value::is_int() const {
  if (!is_json()) return false;
  const Json& j = json();
  if (j.is_number_integer() && !j.is_number_unsigned()) return true;
  return j.is_number_unsigned() &&
         j.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
}

int64_t Value::as_int() const {
  const Json& j = json();
  if (j.is_number_unsigned()) return static_cast<int64_t>(j.get<uint64_t>());
  return j.get<int64_t>();
}

double Value::as_double() const {
  const Json& j = json();
  if (j.is_number_unsigned()) return static_cast<double>(j.get<uint64_t>());
  if (j.is_number_integer()) return static_cast<double>(j.get<int64_t>());
  return j.get<double>();
}

Value Value::Member(const std::string& key) && {
  if (const Json* const* borrowed = std::get_if<const Json*>(&data_)) {
    auto it = (*borrowed)->find(key);
    if (it == (*borrowed)->end()) return Value();
    return Borrow(&*it);
  }
  Json& owned = std::get<Json>(data_);
  auto it = owned.find(key);
  if (it == owned.end()) return Value();
  return Value(std::move(*it));
}

Value Value::Element(size_t index) && {
  if (const Json* const* borrowed = std::get_if<const Json*>(&data_)) {
    return Borrow(&(**borrowed)[index]);
  }
  return Value(std::move(std::get<Json>(data_)[index]));
}

std::string_view Value::TypeName() const {
  switch (kind()) {
    case Kind::kTimestamp:
      return "timestamp";
    case Kind::kDuration:
      return "duration";
    case Kind::kJson:
      break;
  }
  const Json& j = json();
  if (j.is_null()) return "null";
  if (j.is_boolean()) return "bool";
  if (j.is_number()) return "number";
  if (j.is_string()) return "string";
  if (j.is_array()) return "list";
  if (j.is_object()) return "map";
  return "binary";
}

Json Value::ToJson() && {
  switch (kind()) {
    case Kind::kTimestamp:
      return FormatTimestamp(timestamp());
    case Kind::kDuration:
      return FormatDuration(duration());
    case Kind::kJson:
      break;
  }
  if (Json* owned = std::get_if<Json>(&data_)) return std::move(*owned);
  return json();
}

Json Value::ToJson() const& {
  Value copy = *this;
  return std::move(copy).ToJson();
}

std::string DumpJson(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string RenderText(const Value& value) {
  if (value.is_timestamp()) return FormatTimestamp(value.timestamp());
  if (value.is_duration()) return FormatDuration(value.duration());
  if (value.is_null()) return "";
  if (value.is_string()) return value.as_string();
  return DumpJson(value.json());
}

bool ValuesEqual(const Value& a, const Value& b) {
  if (a.is_timestamp() && b.is_timestamp()) return a.timestamp() == b.timestamp();
  if (a.is_duration() && b.is_duration()) return a.duration() == b.duration();
  if (a.is_json() && b.is_json()) {
    // nlohmann compares integers and floats numerically, and containers deeply.
    return a.json() == b.json();
  }
  return a.ToJson() == b.ToJson();
}

}  // namespace flowrun::expr

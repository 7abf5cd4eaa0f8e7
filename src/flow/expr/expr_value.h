// Value: what the evaluator computes with. A JSON value, or one of two kinds that JSON lacks:
// a timestamp and a duration. These exist only during one evaluation; when a value leaves the
// evaluator (ToJson) a timestamp becomes an RFC 3339 string and a duration its text ("1h30m").
//
// A JSON value is either owned or borrowed from the scope or a literal in the syntax tree, so
// that reading `steps.x.output` does not copy the step's output. A borrowed value must not
// outlive what it points into (the EvalContext's scope or the Expression).
//
// Thread-safety: a value; not safe to mutate concurrently.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "common/duration.h"
#include "common/json.h"
#include "common/timestamp.h"

namespace flowrun::expr {

class Value {
 public:
  enum class Kind { kJson, kTimestamp, kDuration };

  Value() : data_(Json()) {}  // null
  explicit Value(Json json) : data_(std::move(json)) {}
  explicit Value(TimePoint t) : data_(t) {}
  explicit Value(Duration d) : data_(d) {}
  // REQUIRES: `json` outlives the value and every value read from it.
  static Value Borrow(const Json* json) {
    Value v;
    v.data_ = json;
    return v;
  }

  Kind kind() const;
  bool is_json() const { return kind() == Kind::kJson; }
  bool is_timestamp() const { return kind() == Kind::kTimestamp; }
  bool is_duration() const { return kind() == Kind::kDuration; }

  // REQUIRES: is_json().
  const Json& json() const;
  // REQUIRES: is_timestamp() / is_duration().
  TimePoint timestamp() const { return std::get<TimePoint>(data_); }
  Duration duration() const { return std::get<Duration>(data_); }

  // JSON type tests; false for timestamps and durations.
  bool is_null() const { return is_json() && json().is_null(); }
  bool is_bool() const { return is_json() && json().is_boolean(); }
  bool is_string() const { return is_json() && json().is_string(); }
  bool is_number() const { return is_json() && json().is_number(); }
  bool is_list() const { return is_json() && json().is_array(); }
  bool is_map() const { return is_json() && json().is_object(); }
  // An integer that fits int64 (a JSON unsigned integer above INT64_MAX counts as a float).
  bool is_int() const;

  // REQUIRES: is_int().
  int64_t as_int() const;
  // REQUIRES: is_number().
  double as_double() const;
  // REQUIRES: is_string().
  const std::string& as_string() const { return json().get_ref<const std::string&>(); }

  // The member `key` of a map (null when absent), keeping a borrowed value borrowed.
  // REQUIRES: is_map().
  Value Member(const std::string& key) &&;
  // The element `index` of a list. REQUIRES: is_list(), 0 <= index < size.
  Value Element(size_t index) &&;

  // The name users see in error messages: null, bool, number, string, list, map, timestamp,
  // duration.
  std::string_view TypeName() const;

  // The value as JSON: timestamps as RFC 3339, durations as text. Moves when owned.
  Json ToJson() &&;
  Json ToJson() const&;

 private:
  std::variant<Json, const Json*, TimePoint, Duration> data_;
};

// Text for a value in interpolation and join: strings bare, null as "", timestamps and durations
// as in ToJson, everything else as compact JSON.
std::string RenderText(const Value& value);

// Compact JSON text that never throws (invalid UTF-8 is replaced).
std::string DumpJson(const Json& json);

// Deep equality: JSON equality with int/float numeric equality; timestamps and durations compare
// with their own kind, or as their JSON form against JSON values.
bool ValuesEqual(const Value& a, const Value& b);

}  // namespace flowrun::expr

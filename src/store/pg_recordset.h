// PgRecordset: writes the JSON text of an array of flat objects, the parameter that a statement
// reads row by row with json_to_recordset($1::json) (pg_set_writes.h). It appends straight to one
// string, without building a Json tree first: a group commit's rows cost one pass each.
//
// Keys are the caller's literals and are written as they are. Values:
//   - text is escaped as JSON requires. A control character, NUL included, becomes \u00XX, so
//     that PostgreSQL refuses a NUL where the value becomes text. Other bytes are copied as they
//     are: the server checks them against its UTF-8 encoding and refuses invalid sequences;
//   - a Json value travels as the text of its dump (the columns hold JSON as text);
//   - absent values (…OrNull) are JSON null, which json_to_recordset reads as SQL NULL.
//
// Usage:
//   PgRecordset rows;
//   for (...) { rows.Row(); rows.Text("id", id); rows.Int("n", n); }
//   PgStatement s{"... json_to_recordset($1::json) ...", {std::move(rows).Finish()}};
//
// Thread-safety: none (one builder per statement).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/timestamp.h"

namespace flowrun::store {

class PgRecordset {
 public:
  PgRecordset();

  // Starts the next object; the fields that follow belong to it.
  void Row();

  void Text(std::string_view key, std::string_view value);
  // null when `value` is empty.
  void TextOrNull(std::string_view key, std::string_view value);
  void Int(std::string_view key, int64_t value);
  void Bool(std::string_view key, bool value);
  // Unix milliseconds, or null when absent.
  void MillisOrNull(std::string_view key, const std::optional<TimePoint>& t);
  // The text of `value.dump()`, as a string.
  void Dump(std::string_view key, const Json& value);
  // As Dump, or null when `value` is null.
  void DumpOrNull(std::string_view key, const Json& value);

  // The array's text. The builder is spent.
  std::string Finish() &&;

 private:
  void Key(std::string_view key);
  void Null(std::string_view key);

  std::string text_;
};

// Appends `value` to `out` as a JSON string, quotes included, escaped as PgRecordset describes.
void AppendJsonString(std::string& out, std::string_view value);

// The JSON array of the strings, for json_array_elements_text($1::json).
std::string PgJsonTextArray(const std::vector<std::string>& values);

}  // namespace flowrun::store

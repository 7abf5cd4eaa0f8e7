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
// A builder given PgDumps copies the text of a value dumped there ahead of time instead of dumping
// the value again.
//
// Thread-safety: none (one builder per statement).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/json.h"
#include "common/timestamp.h"

namespace flowrun::store {

// Json values dumped ahead of time, each as the JSON string PgRecordset::Dump writes for it. The
// threads that queue a group commit's batches dump their values, so that the group's one leader
// only copies text. Keyed by the value's address: each value must outlive the dumps and neither
// move nor change meanwhile.
class PgDumps {
 public:
  // Dumps `value`, unless it is null (which …OrNull writes as null).
  void Add(const Json& value);
  // The dump of `value`, or null when it was not added.
  const std::string* Find(const Json& value) const;
  // Takes the dumps of `other`.
  void Merge(PgDumps&& other);

 private:
  std::unordered_map<const Json*, std::string> texts_;
};

class PgRecordset {
 public:
  // `dumps`, when given, must outlive the builder.
  explicit PgRecordset(const PgDumps* dumps = nullptr);

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

  const PgDumps* dumps_;
  std::string text_;
};

// Appends `value` to `out` as a JSON string, quotes included, escaped as PgRecordset describes.
void AppendJsonString(std::string& out, std::string_view value);

// The JSON array of the strings, for json_array_elements_text($1::json).
std::string PgJsonTextArray(const std::vector<std::string>& values);

}  // namespace flowrun::store

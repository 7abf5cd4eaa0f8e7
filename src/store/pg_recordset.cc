#include "store/pg_recordset.h"

#include <charconv>

namespace flowrun::store {

void AppendJsonString(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t plain_from = 0;  // start of the run of bytes copied as they are
  for (size_t i = 0; i < value.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(value.data() + plain_from, i - plain_from);
    plain_from = i + 1;
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default: {
        const char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out.append(escape, sizeof(escape));
      }
    }
  }
  out.append(value.data() + plain_from, value.size() - plain_from);
  out.push_back('"');
}

std::string PgJsonTextArray(const std::vector<std::string>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) text.push_back(',');
    AppendJsonString(text, values[i]);
  }
  text.push_back(']');
  return text;
}

void PgDumps::Add(const Json& value) {
  if (value.is_null()) return;
  std::string& text = texts_[&value];
  text.clear();
  AppendJsonString(text, value.dump());
}

const std::string* PgDumps::Find(const Json& value) const {
  auto it = texts_.find(&value);
  return it == texts_.end() ? nullptr : &it->second;
}

void PgDumps::Merge(PgDumps&& other) { texts_.merge(other.texts_); }

PgRecordset::PgRecordset(const PgDumps* dumps) : dumps_(dumps), text_("[") {}

void PgRecordset::Row() {
  if (text_.size() > 1) text_.append("},");
  text_.push_back('{');
}

void PgRecordset::Key(std::string_view key) {
  if (text_.back() != '{') text_.push_back(',');  // not the row's first field
  text_.push_back('"');
  text_.append(key);
  text_.append("\":");
}

void PgRecordset::Null(std::string_view key) {
  Key(key);
  text_.append("null");
}

void PgRecordset::Text(std::string_view key, std::string_view value) {
  Key(key);
  AppendJsonString(text_, value);
}

void PgRecordset::TextOrNull(std::string_view key, std::string_view value) {
  if (value.empty()) return Null(key);
  Text(key, value);
}

void PgRecordset::Int(std::string_view key, int64_t value) {
  Key(key);
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof(digits), value).ptr;
  text_.append(digits, end);
}

void PgRecordset::Bool(std::string_view key, bool value) {
  Key(key);
  text_.append(value ? "true" : "false");
}

void PgRecordset::MillisOrNull(std::string_view key, const std::optional<TimePoint>& t) {
  if (!t) return Null(key);
  Int(key, ToUnixMillis(*t));
}

void PgRecordset::Dump(std::string_view key, const Json& value) {
  if (const std::string* text = dumps_ ? dumps_->Find(value) : nullptr) {
    Key(key);
    text_.append(*text);
    return;
  }
  Text(key, value.dump());
}

void PgRecordset::DumpOrNull(std::string_view key, const Json& value) {
  if (value.is_null()) return Null(key);
  Dump(key, value);
}

std::string PgRecordset::Finish() && {
  if (text_.size() > 1) text_.push_back('}');
  text_.push_back(']');
  return std::move(text_);
}

}  // namespace flowrun::store

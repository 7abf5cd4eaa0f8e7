#include "flow/expr/function_table.h"

#include <date/date.h>
#include <date/tz.h>
#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>

#include "flow/expr/limits.h"
#include "flow/expr/operators.h"

namespace flowrun::expr {
namespace {

using Args = std::vector<Value>;

Status WrongType(std::string_view expected, const Value& got, std::string_view which = "") {
  std::string message = "expects ";
  if (!which.empty()) message += std::string(which) + " to be ";
  return InvalidArgumentError(message + std::string(expected) + ", got " +
                              std::string(got.TypeName()));
}

Status TooLongString() { return InvalidArgumentError("the result would be longer than 16 MiB"); }
Status TooLongList() {
  return InvalidArgumentError("the result would have more than " +
                              std::to_string(kMaxListElements) + " elements");
}

Value Bool(bool b) { return Value(Json(b)); }
Value String(std::string s) { return Value(Json(std::move(s))); }

// The byte length of the UTF-8 sequence starting at s[i]; invalid bytes count as one.
size_t CodePointLength(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
  if (i + n > s.size()) return 1;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  }
  return n;
}

size_t CodePointCount(std::string_view s) {
  size_t count = 0;
  for (size_t i = 0; i < s.size(); i += CodePointLength(s, i)) ++count;
  return count;
}

// --- strings and collections ---

StatusOr<Value> Size(Args& a, const CallEnv&) {
  const Value& v = a[0];
  if (v.is_null()) return Value(Json(0));
  if (v.is_string()) return Value(Json(CodePointCount(v.as_string())));
  if (v.is_list() || v.is_map()) return Value(Json(v.json().size()));
  return WrongType("a string, list or map", v);
}

StatusOr<Value> CaseMap(Args& a, bool upper) {
  if (!a[0].is_string()) return WrongType("a string", a[0]);
  std::string s = a[0].as_string();
  for (char& c : s) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return String(std::move(s));
}
StatusOr<Value> Lower(Args& a, const CallEnv&) { return CaseMap(a, false); }
StatusOr<Value> Upper(Args& a, const CallEnv&) { return CaseMap(a, true); }

StatusOr<Value> Trim(Args& a, const CallEnv&) {
  if (!a[0].is_string()) return WrongType("a string", a[0]);
  const std::string& s = a[0].as_string();
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string::npos) return String("");
  size_t end = s.find_last_not_of(kSpace);
  return String(s.substr(begin, end - begin + 1));
}

StatusOr<Value> Contains(Args& a, const CallEnv&) {
  if (a[0].is_string() && a[1].is_string()) {
    return Bool(a[0].as_string().find(a[1].as_string()) != std::string::npos);
  }
  if (a[0].is_list()) {
    for (const Json& e : a[0].json()) {
      if (ValuesEqual(Value::Borrow(&e), a[1])) return Bool(true);
    }
    return Bool(false);
  }
  if (a[0].is_map() && a[1].is_string()) return Bool(a[0].json().contains(a[1].as_string()));
  if (a[0].is_null()) return Bool(false);
  return InvalidArgumentError("expects (string, string), (list, value) or (map, string), got (" +
                              std::string(a[0].TypeName()) + ", " + std::string(a[1].TypeName()) +
                              ")");
}

StatusOr<Value> StartsWith(Args& a, const CallEnv&) {
  if (!a[0].is_string()) return WrongType("a string", a[0], "the first argument");
  if (!a[1].is_string()) return WrongType("a string", a[1], "the prefix");
  return Bool(a[0].as_string().starts_with(a[1].as_string()));
}

StatusOr<Value> EndsWith(Args& a, const CallEnv&) {
  if (!a[0].is_string()) return WrongType("a string", a[0], "the first argument");
  if (!a[1].is_string()) return WrongType("a string", a[1], "the suffix");
  return Bool(a[0].as_string().ends_with(a[1].as_string()));
}

StatusOr<Value> BoundedMatch(const std::string& text, const RE2& regex) {
  uint64_t work = static_cast<uint64_t>(std::max(regex.ProgramSize(), 1)) * text.size();
  if (work > kMaxRegexWork) {
    return InvalidArgumentError("the regular expression is too complex for a text of " +
                                std::to_string(text.size()) + " bytes");
  }
  return Bool(RE2::PartialMatch(text, regex));
}

StatusOr<Value> Matches(Args& a, const CallEnv& env) {
  if (!a[0].is_string()) return WrongType("a string", a[0], "the text");
  if (!a[1].is_string()) return WrongType("a string", a[1], "the pattern");
  if (env.regex != nullptr) return BoundedMatch(a[0].as_string(), *env.regex);
  if (env.regex_error != nullptr && !env.regex_error->ok()) return *env.regex_error;
  ASSIGN_OR_RETURN(std::shared_ptr<const RE2> regex, CompileRegex(a[1].as_string()));
  return BoundedMatch(a[0].as_string(), *regex);
}

StatusOr<Value> Split(Args& a, const CallEnv&) {
  if (!a[0].is_string()) return WrongType("a string", a[0], "the text");
  if (!a[1].is_string()) return WrongType("a string", a[1], "the separator");
  const std::string& s = a[0].as_string();
  const std::string& sep = a[1].as_string();
  Json out = Json::array();
  if (sep.empty()) {
    for (size_t i = 0; i < s.size();) {
      if (out.size() >= kMaxListElements) return TooLongList();
      size_t n = CodePointLength(s, i);
      out.push_back(s.substr(i, n));
      i += n;
    }
    return Value(std::move(out));
  }
  size_t start = 0;
  while (true) {
    if (out.size() >= kMaxListElements) return TooLongList();
    size_t found = s.find(sep, start);
    if (found == std::string::npos) {
      out.push_back(s.substr(start));
      return Value(std::move(out));
    }
    out.push_back(s.substr(start, found - start));
    start = found + sep.size();
  }
}

StatusOr<Value> Join(Args& a, const CallEnv&) {
  if (!a[0].is_list()) return WrongType("a list", a[0], "the first argument");
  std::string sep;
  if (a.size() > 1) {
    if (!a[1].is_string()) return WrongType("a string", a[1], "the separator");
    sep = a[1].as_string();
  }
  std::string out;
  bool first = true;
  for (const Json& element : a[0].json()) {
    if (element.is_array() || element.is_object()) {
      return InvalidArgumentError("expects a list of strings, numbers or booleans, found a " +
                                  std::string(Value::Borrow(&element).TypeName()));
    }
    if (!first) out += sep;
    first = false;
    out += RenderText(Value::Borrow(&element));
    if (out.size() > kMaxStringBytes) return TooLongString();
  }
  return String(std::move(out));
}

StatusOr<Value> Replace(Args& a, const CallEnv&) {
  if (!a[0].is_string()) return WrongType("a string", a[0], "the text");
  if (!a[1].is_string()) return WrongType("a string", a[1], "the text to replace");
  if (!a[2].is_string()) return WrongType("a string", a[2], "the replacement");
  const std::string& s = a[0].as_string();
  const std::string& from = a[1].as_string();
  const std::string& to = a[2].as_string();
  if (from.empty()) return InvalidArgumentError("the text to replace is empty");
  std::string out;
  size_t start = 0;
  while (true) {
    size_t found = s.find(from, start);
    if (found == std::string::npos) break;
    out.append(s, start, found - start);
    out += to;
    if (out.size() > kMaxStringBytes) return TooLongString();
    start = found + from.size();
  }
  out.append(s, start, std::string::npos);
  if (out.size() > kMaxStringBytes) return TooLongString();
  return String(std::move(out));
}

StatusOr<Value> Substring(Args& a, const CallEnv&) {
  if (!a[0].is_string()) return WrongType("a string", a[0], "the text");
  if (!a[1].is_int()) return WrongType("an integer", a[1], "start");
  if (a.size() > 2 && !a[2].is_int()) return WrongType("an integer", a[2], "end");
  int64_t start = a[1].as_int();
  int64_t end = a.size() > 2 ? a[2].as_int() : std::numeric_limits<int64_t>::max();
  if (start < 0 || end < 0) return InvalidArgumentError("indexes must not be negative");
  const std::string& s = a[0].as_string();
  // Byte offsets of code points `start` and `end`, clamped to the end of the string.
  size_t begin_byte = s.size(), end_byte = s.size();
  int64_t index = 0;
  for (size_t i = 0; i <= s.size(); i += (i < s.size() ? CodePointLength(s, i) : 1), ++index) {
    if (index == start) begin_byte = i;
    if (index == end) {
      end_byte = i;
      break;
    }
  }
  if (begin_byte >= end_byte) return String("");
  return String(s.substr(begin_byte, end_byte - begin_byte));
}

// --- conversions ---

StatusOr<Value> ToString(Args& a, const CallEnv&) {
  if (a[0].is_string()) return a[0];
  return String(RenderText(a[0]));
}

StatusOr<Value> ToInt(Args& a, const CallEnv&) {
  const Value& v = a[0];
  if (v.is_int()) return v;
  if (v.is_number()) {
    double d = std::trunc(v.as_double());
    // 2^63 is exactly representable; anything at or above it does not fit.
    if (!std::isfinite(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
      return InvalidArgumentError("number out of int64 range");
    }
    return Value(Json(static_cast<int64_t>(d)));
  }
  if (v.is_string()) {
    const std::string& s = v.as_string();
    int64_t out = 0;
    const char* begin = s.data() + (s.starts_with('+') ? 1 : 0);
    auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), out);
    if (ec == std::errc::result_out_of_range) {
      return InvalidArgumentError("\"" + s.substr(0, 64) + "\" is out of int64 range");
    }
    if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) {
      return InvalidArgumentError("\"" + s.substr(0, 64) + "\" is not an integer");
    }
    return Value(Json(out));
  }
  if (v.is_timestamp()) return Value(Json(ToUnixMillis(v.timestamp())));
  if (v.is_duration()) return Value(Json(static_cast<int64_t>(v.duration().count())));
  return WrongType("a number, string, timestamp or duration", v);
}

StatusOr<Value> ToFloat(Args& a, const CallEnv&) {
  const Value& v = a[0];
  if (v.is_number()) return Value(Json(v.as_double()));
  if (v.is_string()) {
    const std::string& s = v.as_string();
    double out = 0;
    const char* begin = s.data() + (s.starts_with('+') ? 1 : 0);
    auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), out);
    if (ec != std::errc() || ptr != s.data() + s.size() || s.empty() || !std::isfinite(out)) {
      return InvalidArgumentError("\"" + s.substr(0, 64) + "\" is not a finite number");
    }
    return Value(Json(out));
  }
  return WrongType("a number or string", v);
}

StatusOr<Value> Keys(Args& a, const CallEnv&) {
  if (a[0].is_null()) return Value(Json::array());
  if (!a[0].is_map()) return WrongType("a map", a[0]);
  Json out = Json::array();
  for (const auto& [key, value] : a[0].json().items()) out.push_back(key);
  return Value(std::move(out));
}

StatusOr<Value> Values(Args& a, const CallEnv&) {
  if (a[0].is_null()) return Value(Json::array());
  if (!a[0].is_map()) return WrongType("a map", a[0]);
  Json out = Json::array();
  for (const auto& [key, value] : a[0].json().items()) out.push_back(value);
  return Value(std::move(out));
}

// --- time ---

StatusOr<Value> Now(Args&, const CallEnv& env) {
  TimePoint t =
      env.context.now
          ? env.context.now()
          : std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  return Value(t);
}

// A timestamp from a timestamp, an RFC 3339 string or Unix milliseconds.
StatusOr<TimePoint> AsTimestamp(const Value& v) {
  TimePoint t;
  if (v.is_timestamp()) {
    t = v.timestamp();
  } else if (v.is_string()) {
    ASSIGN_OR_RETURN(t, ParseTimestamp(v.as_string()));
  } else if (v.is_int()) {
    t = FromUnixMillis(v.as_int());
  } else {
    return WrongType("an RFC 3339 string or Unix milliseconds", v);
  }
  RETURN_IF_ERROR(CheckTimestampRange(t));
  return t;
}

StatusOr<Value> TimestampFn(Args& a, const CallEnv&) {
  ASSIGN_OR_RETURN(TimePoint t, AsTimestamp(a[0]));
  return Value(t);
}

StatusOr<Value> DurationFn(Args& a, const CallEnv&) {
  const Value& v = a[0];
  if (v.is_duration()) return v;
  if (v.is_int()) return Value(Duration(v.as_int()));
  if (!v.is_string()) return WrongType("a duration string such as \"1h30m\"", v);
  ASSIGN_OR_RETURN(Duration d, ParseDuration(v.as_string()));
  return Value(d);
}

StatusOr<Value> FormatTime(Args& a, const CallEnv&) {
  ASSIGN_OR_RETURN(TimePoint t, AsTimestamp(a[0]));
  if (!a[1].is_string()) return WrongType("a string", a[1], "the format");
  const std::string& format = a[1].as_string();
  if (format.size() > kMaxTimeFormatBytes) {
    return InvalidArgumentError("the format is longer than " + std::to_string(kMaxTimeFormatBytes) +
                                " bytes");
  }
  if (a.size() > 2 && !a[2].is_string()) return WrongType("a string", a[2], "the time zone");
  // date throws for unknown zones and some malformed formats; translate here.
  try {
    if (a.size() > 2) {
      const date::time_zone* zone = date::locate_zone(a[2].as_string());
      return String(date::format(format, date::make_zoned(zone, t)));
    }
    return String(date::format(format, t));
  } catch (const std::exception& e) {
    if (a.size() > 2 && e.what() != nullptr &&
        std::string_view(e.what()).find("not found") != std::string_view::npos) {
      return InvalidArgumentError("unknown time zone \"" + a[2].as_string().substr(0, 64) + "\"");
    }
    return InvalidArgumentError(std::string("cannot format time: ") + e.what());
  }
}

// --- non-deterministic ---

std::string RandomUuid() {
  thread_local std::mt19937_64 generator(std::random_device{}());
  uint64_t hi = generator(), lo = generator();
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[37];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

StatusOr<Value> Uuid(Args&, const CallEnv& env) {
  return String(env.context.uuid ? env.context.uuid() : RandomUuid());
}

// Optimal string alignment distance: edits, with a swap of neighbours counting as one.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

const FunctionTable& FunctionTable::BuiltIn() {
  static const FunctionTable* table = new FunctionTable({
      {"size", 1, 1, "size(value)", Size},
      {"lower", 1, 1, "lower(s)", Lower},
      {"upper", 1, 1, "upper(s)", Upper},
      {"trim", 1, 1, "trim(s)", Trim},
      {"contains", 2, 2, "contains(haystack, needle)", Contains},
      {"starts_with", 2, 2, "starts_with(s, prefix)", StartsWith},
      {"ends_with", 2, 2, "ends_with(s, suffix)", EndsWith},
      {"matches", 2, 2, "matches(s, pattern)", Matches},
      {"split", 2, 2, "split(s, separator)", Split},
      {"join", 1, 2, "join(list[, separator])", Join},
      {"replace", 3, 3, "replace(s, old, new)", Replace},
      {"substring", 2, 3, "substring(s, start[, end])", Substring},
      {"string", 1, 1, "string(value)", ToString},
      {"int", 1, 1, "int(value)", ToInt},
      {"float", 1, 1, "float(value)", ToFloat},
      {"keys", 1, 1, "keys(map)", Keys},
      {"values", 1, 1, "values(map)", Values},
      {"now", 0, 0, "now()", Now, true},
      {"timestamp", 1, 1, "timestamp(value)", TimestampFn},
      {"duration", 1, 1, "duration(value)", DurationFn},
      {"format_time", 2, 3, "format_time(timestamp, format[, time_zone])", FormatTime},
      {"uuid", 0, 0, "uuid()", Uuid, true},
  });
  return *table;
}

FunctionTable::FunctionTable(std::vector<Function> functions) : functions_(std::move(functions)) {
  std::sort(functions_.begin(), functions_.end(),
            [](const Function& a, const Function& b) { return a.name < b.name; });
  for (size_t i = 1; i < functions_.size(); ++i) {
    if (functions_[i - 1].name == functions_[i].name) {
      std::fprintf(stderr, "duplicate expression function \"%.*s\"\n",
                   static_cast<int>(functions_[i].name.size()), functions_[i].name.data());
      std::abort();
    }
  }
}

const Function* FunctionTable::Find(std::string_view name) const {
  auto it = std::lower_bound(functions_.begin(), functions_.end(), name,
                             [](const Function& f, std::string_view n) { return f.name < n; });
  if (it == functions_.end() || it->name != name) return nullptr;
  return &*it;
}

std::string FunctionTable::Suggest(std::string_view name) const {
  if (name.size() > 64) return "";
  // A clear abbreviation ("substr") is worth suggesting even when the edit distance is large.
  if (name.size() >= 3) {
    for (const Function& f : functions_) {
      if (f.name.starts_with(name)) return std::string(f.name);
    }
  }
  std::string best;
  size_t best_distance = std::max<size_t>(2, name.size() / 3) + 1;
  for (const Function& f : functions_) {
    size_t d = EditDistance(name, f.name);
    if (d < best_distance) {
      best_distance = d;
      best = f.name;
    }
  }
  return best;
}

StatusOr<std::shared_ptr<const RE2>> CompileRegex(std::string_view pattern) {
  if (pattern.size() > kMaxRegexPatternBytes) {
    return InvalidArgumentError("regular expression is longer than " +
                                std::to_string(kMaxRegexPatternBytes) + " bytes");
  }
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(kMaxRegexMemory);
  auto regex =
      std::make_shared<const RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (!regex->ok()) {
    return InvalidArgumentError("invalid regular expression: " + regex->error());
  }
  return std::shared_ptr<const RE2>(std::move(regex));
}

}  // namespace flowrun::expr

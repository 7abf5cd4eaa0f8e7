#include "server/event_payload.h"

#include <algorithm>
#include <string>

#include "common/timestamp.h"

namespace flowrun {
namespace {

// The deepest nesting of arrays and objects in `body`, stopping early past `limit`. Brackets
// inside strings do not count.
int NestingDepth(std::string_view body, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; users need the rest.
std::string ParserMessage(const char* what) {
  std::string message = what;
  if (!message.empty() && message.front() == '[') {
    size_t end = message.find("] ");
    if (end != std::string::npos) message.erase(0, end + 2);
  }
  return message;
}

std::string Describe(const Json& value) { return value.type_name(); }

}  // namespace

long long MaxBodyBytes(long long max_event_bytes) {
  constexpr long long kMin = 1LL << 20;
  constexpr long long kMax = 256LL << 20;
  if (max_event_bytes <= 0) return kMin;
  if (max_event_bytes > kMax / 16) return kMax;
  return std::clamp(max_event_bytes * 16, kMin, kMax);
}

StatusOr<Json> ParseJsonBody(std::string_view body) {
  // nlohmann's lexer takes a NUL byte for the end of the input and would ignore what follows it.
  // JSON allows none outside strings, nor raw inside them (they are written \u0000).
  if (size_t nul = body.find('\0'); nul != std::string_view::npos) {
    return InvalidArgumentError("malformed JSON at byte " + std::to_string(nul + 1) +
                                ": a raw NUL byte (write \\u0000 inside a string)");
  }
  if (NestingDepth(body, kMaxJsonDepth) > kMaxJsonDepth) {
    return InvalidArgumentError("malformed JSON: nested deeper than " +
                                std::to_string(kMaxJsonDepth) + " levels");
  }
  try {
    return Json::parse(body.begin(), body.end());
  } catch (const Json::parse_error& e) {
    return InvalidArgumentError("malformed JSON at byte " + std::to_string(e.byte) + ": " +
                                ParserMessage(e.what()));
  } catch (const Json::exception& e) {
    return InvalidArgumentError("malformed JSON: " + ParserMessage(e.what()));
  }
}

Status CheckEvent(const Json& event, size_t index, long long max_event_bytes) {
  const std::string where = "event " + std::to_string(index);
  if (!event.is_object()) {
    return InvalidArgumentError(where + ": expected an object, got " + Describe(event));
  }
  auto name = event.find("name");
  if (name == event.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return InvalidArgumentError(where + ": `name` must be a non-empty string");
  }
  // A name or id is matched and stored as text, which cannot hold a NUL character everywhere.
  if (name->get_ref<const std::string&>().find('\0') != std::string::npos) {
    return InvalidArgumentError(where + ": `name` must not contain a NUL character (\\u0000)");
  }
  auto data = event.find("data");
  if (data != event.end() && !data->is_null() && !data->is_object()) {
    return InvalidArgumentError(where + ": `data` must be an object, got " + Describe(*data));
  }
  auto id = event.find("id");
  if (id != event.end() && !id->is_null() && !id->is_string()) {
    return InvalidArgumentError(where + ": `id` must be a string, got " + Describe(*id));
  }
  if (id != event.end() && id->is_string() &&
      id->get_ref<const std::string&>().find('\0') != std::string::npos) {
    return InvalidArgumentError(where + ": `id` must not contain a NUL character (\\u0000)");
  }
  auto ts = event.find("ts");
  if (ts != event.end() && !ts->is_null()) {
    if (ts->is_string()) {
      StatusOr<TimePoint> parsed = ParseTimestamp(ts->get_ref<const std::string&>());
      if (!parsed.ok()) {
        return InvalidArgumentError(where + ": `ts` must be Unix milliseconds or an RFC 3339 time");
      }
      if (ToUnixMillis(*parsed) < 0 || ToUnixMillis(*parsed) > kMaxEventTsMillis) {
        return InvalidArgumentError(where + ": `ts` must lie between 1970 and the year 9999");
      }
    } else if (!ts->is_number()) {
      return InvalidArgumentError(where + ": `ts` must be Unix milliseconds or an RFC 3339 time");
    } else {
      // Compared as a double first: 1e308 or -1 must not reach an integer conversion.
      const double millis = ts->get<double>();
      if (!(millis >= 0) || millis > static_cast<double>(kMaxEventTsMillis)) {
        return InvalidArgumentError(where + ": `ts` must be Unix milliseconds from 0 to " +
                                    std::to_string(kMaxEventTsMillis) +
                                    " (the end of the year 9999), got " + ts->dump());
      }
    }
  }
  // Serialized size; invalid UTF-8 cannot come out of the parser, but replace it anyway so the
  // check itself never throws.
  size_t size = event.dump(-1, ' ', false, Json::error_handler_t::replace).size();
  if (max_event_bytes > 0 && size > static_cast<size_t>(max_event_bytes)) {
    return OutOfRangeError(where + " is " + std::to_string(size) + " bytes, over the limit of " +
                           std::to_string(max_event_bytes) + " bytes per event");
  }
  return OkStatus();
}

StatusOr<std::vector<Json>> ParseEventPayload(std::string_view body, long long max_event_bytes) {
  const long long max_body = MaxBodyBytes(max_event_bytes);
  if (static_cast<long long>(body.size()) > max_body) {
    return OutOfRangeError("request body is " + std::to_string(body.size()) +
                           " bytes, over the limit of " + std::to_string(max_body) + " bytes");
  }
  ASSIGN_OR_RETURN(Json parsed, ParseJsonBody(body));
  std::vector<Json> events;
  if (parsed.is_object()) {
    events.push_back(std::move(parsed));
  } else if (parsed.is_array()) {
    if (parsed.empty()) return InvalidArgumentError("the event array is empty");
    if (parsed.size() > kMaxEventsPerRequest) {
      return InvalidArgumentError("the request holds " + std::to_string(parsed.size()) +
                                  " events; at most " + std::to_string(kMaxEventsPerRequest) +
                                  " may be sent at once");
    }
    events.reserve(parsed.size());
    for (Json& event : parsed) events.push_back(std::move(event));
  } else {
    return InvalidArgumentError("the body must be an event object or an array of events, got " +
                                Describe(parsed));
  }
  for (size_t i = 0; i < events.size(); ++i) {
    RETURN_IF_ERROR(CheckEvent(events[i], i, max_event_bytes));
  }
  return events;
}

}  // namespace flowrun

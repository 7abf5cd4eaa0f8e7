// Event payloads: the body of POST /e/{event_key} and POST /v1/events, read into the events the
// runtime ingests. Inngest's format: one event object or an array of them, each
//
//   {"name": "shop/order.paid", "data": {…}, "id": "client-id", "ts": 1700000000000}
//
// with a non-empty string `name`, an optional object `data`, an optional string `id` (used to
// deduplicate for 24 h) and an optional `ts` (Unix milliseconds or an RFC 3339 string, from 1970
// to the end of the year 9999).
//
// Limits, checked before anything is stored:
//   - the JSON must nest no deeper than kMaxJsonDepth (deeper documents are refused unparsed, so
//     that a hostile body cannot exhaust the stack);
//   - at most kMaxEventsPerRequest events per request;
//   - each event, serialized, at most `max_event_bytes` (413);
//   - the body as a whole at most MaxBodyBytes(max_event_bytes) (413; the server refuses a longer
//     Content-Length before reading the body).
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace flowrun {

inline constexpr size_t kMaxEventsPerRequest = 5000;
inline constexpr int kMaxJsonDepth = 128;
// The latest `ts` accepted: 9999-12-31T23:59:59.999Z in Unix milliseconds. `ts` may not be
// negative either.
inline constexpr long long kMaxEventTsMillis = 253402300799999;

// The largest request body accepted by the ingest and webhook routes: 16 events' worth, at least
// 1 MiB and at most 256 MiB. With the default 1 MiB per event, 16 MiB.
long long MaxBodyBytes(long long max_event_bytes);

// Parses a JSON request body. kInvalidArgument for malformed JSON (the message gives the byte
// offset, line and column the parser stopped at) and for nesting deeper than kMaxJsonDepth.
[[nodiscard]] StatusOr<Json> ParseJsonBody(std::string_view body);

// Parses and checks an ingest body; returns the events in order. Errors:
//   kInvalidArgument  malformed JSON, an empty array, more than kMaxEventsPerRequest events, a
//                     body that is neither an object nor an array, or an event of the wrong shape
//                     or with a NUL character in its name or id (the message names its index);
//   kOutOfRange       the body beyond MaxBodyBytes, or an event beyond `max_event_bytes` (413).
[[nodiscard]] StatusOr<std::vector<Json>> ParseEventPayload(std::string_view body,
                                                            long long max_event_bytes);

// Checks one event object as ParseEventPayload does; `index` names it in the message.
[[nodiscard]] Status CheckEvent(const Json& event, size_t index, long long max_event_bytes);

}  // namespace flowrun

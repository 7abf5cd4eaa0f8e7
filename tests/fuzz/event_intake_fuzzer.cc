// libFuzzer target: any bytes as the body of POST /e/{key} or POST /v1/events. Parsing must give
// events or an error, never a crash, a hang or unbounded memory; accepted events must satisfy
// what intake promises the engine (an object with a non-empty string name).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/event_payload.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto events = flowrun::ParseEventPayload(body, /*max_event_bytes=*/64 << 10);
  if (!events.ok()) {
    if (events.status().message().empty()) __builtin_trap();
    return 0;
  }
  if (events->empty()) __builtin_trap();
  for (const flowrun::Json& event : *events) {
    if (!event.is_object()) __builtin_trap();
    auto name = event.find("name");
    if (name == event.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
      __builtin_trap();
    }
  }
  return 0;
}

// libFuzzer target: any bytes as flowrun.yaml. Loading must give a config or diagnostics, never
// a crash, a hang or an exception; a loaded config has no error diagnostics, and every
// diagnostic has a message.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (64 << 10)) return 0;
  flowrun::LoadedConfig loaded = flowrun::LoadConfigText(
      "/etc/flowrun/flowrun.yaml", std::string(reinterpret_cast<const char*>(data), size));
  for (const auto& d : loaded.diagnostics) {
    if (d.message.empty()) __builtin_trap();
  }
  if (loaded.config.has_value()) {
    for (const auto& d : loaded.diagnostics) {
      if (d.severity == flowrun::Severity::kError) __builtin_trap();
    }
  }
  return 0;
}

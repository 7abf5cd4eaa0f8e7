// libFuzzer target: any bytes given to the loader and, when they load, to the compiler must yield
// diagnostics, never a crash, a hang or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <string>

#include "flow/compiler.h"
#include "flow/yaml_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  flowrun::LoadLimits limits;
  limits.max_bytes = 64 << 10;
  limits.max_nodes = 20'000;
  flowrun::LoadedDocument doc = flowrun::LoadYaml(
      "fuzz.yaml", std::string(reinterpret_cast<const char*>(data), size), limits);
  flowrun::CompiledFlow compiled = flowrun::CompileFlow(doc);
  for (const auto& d : compiled.diagnostics) {
    // Every diagnostic must have a message and a rule.
    if (d.message.empty() || d.rule.empty()) __builtin_trap();
  }
  return 0;
}

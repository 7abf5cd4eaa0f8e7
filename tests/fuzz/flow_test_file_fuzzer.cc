// libFuzzer target: any bytes given to the `flowrun test` file loader must yield a test file or
// located diagnostics, never a crash, a hang or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "flow/flow_test_file.h"
#include "flow/yaml_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  flowrun::LoadLimits limits;
  limits.max_bytes = 64 << 10;
  limits.max_nodes = 20'000;
  auto document = std::make_unique<flowrun::LoadedDocument>(flowrun::LoadYaml(
      "fuzz.test.yaml", std::string(reinterpret_cast<const char*>(data), size), limits));
  flowrun::FlowTestFile file = flowrun::ParseFlowTestFile(std::move(document));
  for (const auto& d : file.diagnostics) {
    if (d.message.empty() || d.rule.empty() || !d.pos.known()) __builtin_trap();
  }
  if (file.ok() && file.flow.empty()) __builtin_trap();
  // Patterns from the file are matched against text from the file.
  for (const auto& c : file.cases) {
    for (const auto& mock : c.http) (void)flowrun::GlobMatches(mock.url, c.name);
  }
  return 0;
}

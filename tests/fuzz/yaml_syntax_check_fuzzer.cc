// libFuzzer target: the libyaml syntax pass must return for any UTF-8 text, with an error position
// inside the text (or just past its end) and a message, never crash, hang or grow without bound.
#include <cstddef>
#include <cstdint>
#include <string>

#include "flow/source.h"
#include "flow/yaml_syntax_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (text.find('\0') != std::string::npos) return 0;  // the loader refuses NUL before this pass
  auto error = flowrun::CheckYamlSyntax(text, /*max_depth=*/32);
  if (!error) return 0;
  if (error->message.empty() || error->rule.empty()) __builtin_trap();
  flowrun::SourceText source("fuzz.yaml", text);
  int lines = source.PositionOf(text.size()).line;
  if (error->pos.line < 1 || error->pos.line > lines + 1) __builtin_trap();
  return 0;
}

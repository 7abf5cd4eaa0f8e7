#include "flow/yaml_syntax_check.h"

namespace flowrun {
namespace {

class IgnoreEvents final : public YamlEventHandler {
 public:
  void OnEvent(const YamlEvent&) override {}
};

}  // namespace

std::optional<YamlSyntaxError> CheckYamlSyntax(std::string_view text, int max_depth) {
  IgnoreEvents ignore;
  return ReadYamlEvents(text, max_depth, ignore);
}

}  // namespace flowrun

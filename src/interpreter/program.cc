#include "interpreter/program.h"

namespace flowrun {

bool EventTrigger::Matches(std::string_view event_name) const {
  if (!event.empty() && event.back() == '*') {
    std::string_view prefix = std::string_view(event).substr(0, event.size() - 1);
    return event_name.substr(0, prefix.size()) == prefix;
  }
  return event_name == event;
}

}  // namespace flowrun

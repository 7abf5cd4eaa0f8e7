// Records that store tests create again and again: a queued run of the flow "flow" at revision
// "r1", due at once, and an event whose data names its id.
#pragma once

#include <string>

#include "store/store.h"

namespace flowrun::testing {

inline store::RunRecord QueuedRun(const std::string& id, TimePoint now) {
  store::RunRecord run;
  run.id = id;
  run.flow_id = "flow";
  run.revision = "r1";
  run.created_at = now;
  run.due_at = now;
  return run;
}

inline store::EventRecord NamedEvent(const std::string& id, const std::string& name,
                                     TimePoint now) {
  store::EventRecord event;
  event.id = id;
  event.name = name;
  event.data = Json{{"k", id}};
  event.ts = now;
  return event;
}

}  // namespace flowrun::testing

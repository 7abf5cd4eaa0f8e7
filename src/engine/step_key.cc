#include "engine/step_key.h"

namespace flowrun {

std::string StepKey(std::string_view step_id, const std::vector<int>& loop_indices) {
  std::string key(step_id);
  for (int index : loop_indices) {
    key += '[';
    key += std::to_string(index);
    key += ']';
  }
  return key;
}

std::string IdempotencyKey(std::string_view run_id, std::string_view step_key) {
  std::string key(run_id);
  key += '/';
  key += step_key;
  return key;
}

}  // namespace flowrun

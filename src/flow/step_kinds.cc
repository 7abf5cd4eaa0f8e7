#include "flow/step_kinds.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/embedded_files.h"

namespace flowrun {
namespace {

[[noreturn]] void Abort(const char* what, std::string_view detail) {
  std::fprintf(stderr, "flowrun: %s \"%.*s\"\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// The member `key` of an object, or nullptr.
const nlohmann::ordered_json* Child(const nlohmann::ordered_json* object, std::string_view key) {
  if (object == nullptr || !object->is_object()) return nullptr;
  auto it = object->find(std::string(key));
  return it == object->end() ? nullptr : &*it;
}

// The step keys of schemas/flow.schema.json that select an action, with their duration fields.
// The schema is read again here, keeping its key order, so that the actions come out in the order
// the schema lists them.
struct SchemaActions {
  nlohmann::ordered_json schema;  // owns the strings the fields below point into
  std::vector<std::string> names;
  std::map<std::string, std::vector<DurationField>, std::less<>> durations;

  SchemaActions() {
    const char* path = "schemas/flow.schema.json";
    std::optional<std::string_view> text = EmbeddedFile(path);
    if (!text) Abort("not embedded in this binary:", path);
    schema = nlohmann::ordered_json::parse(*text, nullptr, /*allow_exceptions=*/false);
    const nlohmann::ordered_json* step_keys =
        Child(Child(Child(&schema, "definitions"), "step"), "properties");
    if (step_keys == nullptr) Abort("no step properties in", path);
    const std::vector<std::string>& common = CommonStepKeys();
    for (const auto& [key, definition] : step_keys->items()) {
      if (std::find(common.begin(), common.end(), key) != common.end()) continue;
      if (StepKinds::BuiltIn().Find(key) != nullptr) continue;
      names.push_back(key);
      std::vector<DurationField>& fields = durations[key];
      const nlohmann::ordered_json* arguments = &definition;
      if (const auto* ref = Child(arguments, "$ref"); ref != nullptr && ref->is_string()) {
        std::string_view target = ref->get_ref<const std::string&>();
        constexpr std::string_view kPrefix = "#/definitions/";
        if (!target.starts_with(kPrefix)) Abort("unsupported $ref in the step schema:", target);
        arguments = Child(Child(&schema, "definitions"), target.substr(kPrefix.size()));
      }
      const nlohmann::ordered_json* properties = Child(arguments, "properties");
      if (properties == nullptr) continue;
      for (const auto& [name, property] : properties->items()) {
        const auto* ref = Child(&property, "$ref");
        if (ref != nullptr && *ref == "#/definitions/duration") fields.push_back({name});
      }
    }
  }
};

const SchemaActions& Actions() {
  static const SchemaActions* actions = new SchemaActions();
  return *actions;
}

}  // namespace

const StepKinds& StepKinds::BuiltIn() {
  using C = StepCategory;
  using K = StepKind;
  using S = GraphShape;
  // One row per StepKind, in its order.
  static const StepKinds* table = new StepKinds({
      {"", K::kAction, C::kAction, S::kStep},
      {"wait_for_event",
       K::kWaitForEvent,
       C::kInternal,
       S::kWait,
       {{"timeout"}, {"lookback", "run"}}},
      {"sleep", K::kSleep, C::kInternal, S::kSleep, {{""}}},
      {"sleep_until", K::kSleepUntil, C::kInternal, S::kSleep},
      {"send_event", K::kSendEvent, C::kInternal, S::kStep, {{"delay"}}, true},
      {"invoke", K::kInvoke, C::kInternal, S::kStep, {{"timeout"}}},
      {"set", K::kSet, C::kInternal, S::kStep},
      {"log", K::kLog, C::kInternal, S::kStep},
      {"fail", K::kFail, C::kInternal, S::kStep},
      {"return", K::kReturn, C::kInternal, S::kStep},
      {"switch", K::kSwitch, C::kControl, S::kDecision},
      {"parallel", K::kParallel, C::kControl, S::kFork},
      {"foreach", K::kForeach, C::kControl, S::kLoop},
      {"steps", K::kBlock, C::kControl, S::kStep},
  });
  return *table;
}

StepKinds::StepKinds(std::vector<StepKindInfo> rows) : rows_(std::move(rows)) {
  for (size_t i = 0; i < rows_.size(); ++i) {
    if (static_cast<size_t>(rows_[i].kind) != i) Abort("step kind out of order:", rows_[i].key);
    for (size_t j = 0; j < i; ++j) {
      if (rows_[j].key == rows_[i].key) Abort("duplicate step key", rows_[i].key);
    }
  }
}

const StepKindInfo* StepKinds::Find(std::string_view key) const {
  if (key.empty()) return nullptr;
  for (const StepKindInfo& row : rows_) {
    if (row.key == key) return &row;
  }
  return nullptr;
}

std::vector<std::string> StepKinds::Keys(StepCategory category) const {
  std::vector<std::string> keys;
  for (const StepKindInfo& row : rows_) {
    if (row.category == category && !row.key.empty()) keys.emplace_back(row.key);
  }
  return keys;
}

const std::vector<std::string>& CommonStepKeys() {
  static const std::vector<std::string> keys = {"id", "name", "if", "retry", "timeout", "on_error"};
  return keys;
}

const std::vector<std::string>& SchemaActionNames() { return Actions().names; }

const std::vector<DurationField>& SchemaActionDurationFields(std::string_view action) {
  static const std::vector<DurationField> none;
  const auto& durations = Actions().durations;
  auto it = durations.find(action);
  return it == durations.end() ? none : it->second;
}

}  // namespace flowrun

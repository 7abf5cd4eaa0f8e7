// SchemaValidator: checks a JSON document against one of flowrun's JSON Schemas (draft-07,
// schemas/flow.schema.json, schemas/config.schema.json and schemas/test.schema.json) and reports
// each problem once, in words a flow author understands.
//
// valijson does the validation; its raw results are generic ("Value type not permitted by 'type'
// constraint") and cascade (every enclosing object and array reports the failure again). This
// class keeps only the innermost specific failures, looks up the schema node at each offending
// location, and rewrites them as violations with a rule name from docs/rules.md:
//
//   unknown-key   unknown key "iff" in step "get-user"          hint: did you mean "if"?
//   required-key  missing required key "url" in http of step "get-user"
//   type          expected a string, got a number
//   schema        invalid backoff "expo": expected one of exponential, linear, constant
//
// Schemas may carry two annotations that editors understand too: `patternErrorMessage` (what a
// value failing `pattern` should look like) and `errorMessage` (the message for a failing `not`).
// An object schema's `title` names the kind of object in messages ("step", "http", "trigger").
//
// Thread-safety: immutable after construction; Validate may run concurrently from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace flowrun {

struct SchemaViolation {
  // RFC 6901 JSON pointer of the offending value, or of the offending key when points_at_key.
  std::string pointer;
  bool points_at_key = false;
  std::string message;
  std::string rule;  // unknown-key, required-key, type or schema
  std::string hint;  // may be empty
};

class SchemaValidator {
 public:
  // Builds a validator from the text of a draft-07 schema. Only local references ("#/...") are
  // resolved. Fails with kInvalidArgument when the text is not JSON or not a usable schema.
  [[nodiscard]] static StatusOr<SchemaValidator> Create(std::string_view schema_text);

  // The process-wide validators for the schemas embedded in the binary, built on first use.
  // REQUIRES: the embedded schemas are valid (schema_validator_test checks them); the process
  // aborts with a message otherwise.
  static const SchemaValidator& ForFlows();
  static const SchemaValidator& ForConfig();
  static const SchemaValidator& ForTests();  // schemas/test.schema.json (`flowrun test` files)

  // Returns the violations of `document`, ordered by pointer (array indices numerically); empty
  // when the document is valid.
  std::vector<SchemaViolation> Validate(const Json& document) const;

  // The schema this validator checks against.
  const Json& schema() const;

 private:
  struct Impl;
  explicit SchemaValidator(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace flowrun

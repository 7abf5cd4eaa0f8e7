// The secrets a flow reads: every `secrets.NAME` and `secrets["NAME"]` in its expressions and
// templates, with where each one is. `serve` uses them to hold back a flow whose secrets are not
// set, and `validate --config` to report them before deployment.
//
// Thread-safety: pure functions.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"

namespace flowrun {

struct SecretReference {
  std::string name;
  std::string pointer;  // the JSON pointer of the string that names it
};

// Every reference in a flow document, in document order (a name may repeat).
std::vector<SecretReference> FindSecretReferences(const Json& document);

// The distinct names a flow document reads.
std::set<std::string> ReferencedSecretNames(const Json& document);

// The id of the innermost step that holds `pointer` in a flow document; empty when the pointer
// is outside every step (triggers, flow-level keys).
std::string StepIdAt(const Json& document, std::string_view pointer);

}  // namespace flowrun

// Flow revisions: a flow's identity across edits is its id; each distinct content is a revision,
// named by a hash of the canonical document (keys sorted, comments and formatting ignored), so
// that reformatting a file does not make a new revision but any change of meaning does.
#pragma once

#include <string>

#include "common/json.h"

namespace flowrun {

// The first 16 hex digits of the SHA-256 of the document's canonical JSON serialization.
std::string RevisionOf(const Json& document);

}  // namespace flowrun

#include "flow/revision.h"

#include "common/sha256.h"

namespace flowrun {

std::string RevisionOf(const Json& document) {
  // nlohmann::json keeps object keys sorted, so dump() is canonical.
  std::string canonical = document.dump(-1, ' ', false, Json::error_handler_t::replace);
  return Sha256Hex(canonical).substr(0, 16);
}

}  // namespace flowrun
